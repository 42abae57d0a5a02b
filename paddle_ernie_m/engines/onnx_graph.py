"""ERNIE-M as an ONNX graph, written from the weights (numpy and ``onnx`` only: no Paddle, no torch, no tracing).

The graph computes what :mod:`paddle_ernie_m.modeling` computes in eval mode, for every head, with the inputs of
the Paddle Inference export (``input_ids``, ``position_ids``, a 0/1 ``attention_mask``; ``[batch, seq]``, or
``[batch, choices, seq]`` for multiple choice) or, for the UIE runner, a float ``attention_bias`` ``[batch, seq]``
in place of the mask. Batch and sequence are dynamic.

Written by hand rather than traced (at least as fast as a traced graph; the measured gain is the last layer's):

* in fp32 the query, key and value projections are one ``[hidden, 3 * hidden]`` product (in int8 three: faster
  there), with the ``1 / sqrt(head_dim)`` scale folded into the query weights, and attention is ONNX Runtime's
  fused ``MultiHeadAttention`` (``com.microsoft``), which takes the keep-mask as it is;
* heads that read only the pooled first position (sequence classification, multiple choice) compute the last
  layer for that position only (its keys and values still come from every position): the same function, about
  7% fewer multiply-adds at base size (5-8% less time measured);
* the position table is stored already shifted by ``POSITION_OFFSET``; ``LayerNormalization`` and exact ``Gelu``
  are single operators (opset 20).

``precision="int8"`` stores every matrix product of the encoder as int8 weights with one
symmetric scale per output column (7 bits: see :data:`INT8_WEIGHT_MAX`), run by ONNX Runtime's
``DynamicQuantizeMatMul`` (activations quantized per tensor to uint8 at run time), and the word embedding table
as int8 rows with one scale per row (a ``Gather`` of the rows and of their scales, then a multiply). Position
embeddings, LayerNorms, biases, softmax, the two attention products, the pooler and the heads (a few rows or
columns each) stay float32. docs/benchmarks.md has the accuracy this keeps.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

import numpy as np

from converters.configuration import MASK_BIAS, POSITION_OFFSET, ErnieMConfig
from converters.mapping import BASE, CHOICE, QA, SEQUENCE, TOKEN, UIE

#: The graph file of an ONNX export, and where its weights go when they exceed protobuf's 2 GB limit.
ONNX_FILE = "model.onnx"
ONNX_DATA_FILE = "model.onnx.data"
#: Standard ONNX opset of the graph (``Gelu`` needs 20) and the ONNX Runtime contrib domain it also uses.
OPSET = 20
MS_DOMAIN = "com.microsoft"
#: The precisions the graph is written in.
ONNX_PRECISIONS = ("fp32", "int8")
#: Largest magnitude of the int8 weights: 7 bits, not 8. x86 CPUs without VNNI (AVX2, AVX-512 before Cascade
#: Lake) multiply uint8 activations by int8 weights with ``vpmaddubsw``, which adds two products in int16 and
#: saturates: 2 x 255 x 127 overflows 32767, 2 x 255 x 63 does not. With 127 the products of ONNX Runtime's
#: kernels go wrong on such CPUs (measured: 129.5 instead of 255 for a row of ones); 63 is exact everywhere, so an
#: export made on one CPU runs correctly on any other. One scale per column keeps the 7 bits fine-grained.
INT8_WEIGHT_MAX = 63
#: Outputs of each head, in the order of the fields of its dygraph output dataclass -> whether the output has a
#: sequence axis (one row per token).
HEAD_OUTPUTS = {
    BASE: {"last_hidden_state": True, "pooler_output": False},
    SEQUENCE: {"logits": False},
    CHOICE: {"logits": False},
    TOKEN: {"logits": True},
    QA: {"start_logits": True, "end_logits": True},
    UIE: {"start_prob": True, "end_prob": True},
}
_ACTIVATIONS = ("gelu", "relu", "silu", "tanh")


class _Graph:
    """Nodes, initializers and fresh names of the graph being written."""

    def __init__(self) -> None:
        self.nodes: List = []
        self.initializers: List = []
        self._count = 0

    def name(self, hint: str) -> str:
        self._count += 1
        return f"{hint}_{self._count}"

    def const(self, hint: str, array: np.ndarray) -> str:
        from onnx import numpy_helper

        name = self.name(hint)
        self.initializers.append(numpy_helper.from_array(np.asarray(array, order="C"), name))
        return name

    def op(self, op_type: str, inputs: Sequence[str], hint: Optional[str] = None, outputs: int = 1,
           domain: str = "", **attrs) -> str:
        from onnx import helper

        names = [self.name(hint or op_type.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, domain=domain or None, **attrs))
        return names[0] if outputs == 1 else names


def quantize_columns(weight: np.ndarray, limit: int = INT8_WEIGHT_MAX) -> Tuple[np.ndarray, np.ndarray]:
    """``(int8 weights, float32 scale per column)`` of a ``[in, out]`` matrix: symmetric, ``w ~ q * scale``."""
    peak = np.abs(weight).max(axis=0)
    scale = np.where(peak > 0, peak / limit, 1.0).astype(np.float32)
    return np.clip(np.rint(weight / scale), -limit, limit).astype(np.int8), scale


def quantize_rows(table: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """``(int8 table, float32 scale per row [rows, 1])`` of an embedding table: symmetric per row, 8 bits (the
    rows are looked up, not multiplied)."""
    q, scale = quantize_columns(table.T, 127)
    return np.ascontiguousarray(q.T), scale.reshape(-1, 1)


class _Writer:
    """Writes the layers of the model into a :class:`_Graph`, reading weights by their Paddle names."""

    def __init__(self, state: Mapping[str, np.ndarray], config: ErnieMConfig, precision: str):
        self.g = _Graph()
        self.state = state
        self.config = config
        self.int8 = precision == "int8"

    def weight(self, name: str) -> np.ndarray:
        try:
            return np.asarray(self.state[name], dtype=np.float32)
        except KeyError:
            raise KeyError(f"the weights have no tensor {name!r}") from None

    def linear(self, x: str, weight: np.ndarray, bias: np.ndarray, hint: str, quantize: bool = True) -> str:
        """``x @ weight + bias`` for a Paddle ``[in, out]`` weight; int8 in an int8 graph unless ``quantize`` is
        False."""
        g = self.g
        if self.int8 and quantize:  # symmetric weights: no zero point input
            q, scale = quantize_columns(weight)
            return g.op("DynamicQuantizeMatMul", [x, g.const(hint + ".q", q), g.const(hint + ".scale", scale), "",
                                                  g.const(hint + ".b", bias)], hint, domain=MS_DOMAIN)
        return g.op("Add", [g.op("MatMul", [x, g.const(hint + ".w", weight)]), g.const(hint + ".b", bias)], hint)

    def layer(self, name: str, x: str, quantize: bool = True) -> str:
        return self.linear(x, self.weight(name + ".weight"), self.weight(name + ".bias"), name, quantize)

    def layer_norm(self, name: str, x: str) -> str:
        g = self.g
        return g.op("LayerNormalization", [x, g.const(name + ".w", self.weight(name + ".weight")),
                                           g.const(name + ".b", self.weight(name + ".bias"))],
                    name, axis=-1, epsilon=float(self.config.layer_norm_eps))

    def activation(self, x: str) -> str:
        act = self.config.hidden_act
        if act == "gelu":
            return self.g.op("Gelu", [x])
        if act == "relu":
            return self.g.op("Relu", [x])
        if act == "tanh":
            return self.g.op("Tanh", [x])
        return self.g.op("Mul", [x, self.g.op("Sigmoid", [x])])  # silu

    def embeddings(self, prefix: str, ids: str, positions: str) -> str:
        from onnx import TensorProto

        g = self.g
        table = self.weight(prefix + "embeddings.word_embeddings.weight")
        if self.int8:
            q, scale = quantize_rows(table)
            rows = g.op("Cast", [g.op("Gather", [g.const("word_embeddings.q", q), ids])], to=TensorProto.FLOAT)
            words = g.op("Mul", [rows, g.op("Gather", [g.const("word_embeddings.scale", scale), ids])])
        else:
            words = g.op("Gather", [g.const("word_embeddings", table), ids])
        shifted = self.weight(prefix + "embeddings.position_embeddings.weight")[POSITION_OFFSET:]
        summed = g.op("Add", [words, g.op("Gather", [g.const("position_embeddings", shifted), positions])])
        return self.layer_norm(prefix + "embeddings.layer_norm", summed)

    def projection(self, attn: str, parts: str) -> Tuple[np.ndarray, np.ndarray]:
        """The weights and bias of the ``parts`` (letters of ``"qkv"``) projections side by side, with
        ``1 / sqrt(head_dim)`` folded into the query's."""
        scale = np.float32(self.config.head_size ** -0.5)
        factor = {"q": scale, "k": np.float32(1), "v": np.float32(1)}
        weight = np.concatenate([self.weight(f"{attn}{p}_proj.weight") * factor[p] for p in parts], axis=1)
        bias = np.concatenate([self.weight(f"{attn}{p}_proj.bias") * factor[p] for p in parts])
        return weight, bias

    def projections(self, attn: str, x: str, parts: str) -> List[str]:
        """The ``parts`` (letters of ``"qkv"``) projections of ``x``: in fp32 one product of the weights side by
        side, split after; in int8 one product each (measured faster than one wide int8 product here)."""
        g = self.g
        if self.int8:
            return [self.linear(x, *self.projection(attn, p), attn + p) for p in parts]
        sizes = g.const("split", np.array([self.config.hidden_size] * len(parts), np.int64))
        return g.op("Split", [self.linear(x, *self.projection(attn, parts), attn + parts), sizes], axis=-1,
                    outputs=len(parts))

    def encoder_layer(self, name: str, x: str, key_mask: Tuple[str, str], only_first: bool = False) -> str:
        """One post-norm layer on ``x`` ``[rows, seq, hidden]``. ``only_first``: compute the output of the first
        position only (``[rows, 1, hidden]``; keys and values still come from every position): what the pooler of
        the last layer reads."""
        g = self.g
        attn = name + ".self_attn."
        if only_first:
            first = g.op("Slice", [x, g.const("zero", np.array([0], np.int64)), g.const("one", np.array([1], np.int64)),
                                   g.const("axis1", np.array([1], np.int64))])
            query = self.linear(first, *self.projection(attn, "q"), attn + "q")
            key, value = self.projections(attn, x, "kv")
            x = first
        else:
            query, key, value = self.projections(attn, x, "qkv")
        context = g.op("MultiHeadAttention", [query, key, value, "", *key_mask], attn + "mha", domain=MS_DOMAIN,
                       num_heads=self.config.num_attention_heads, scale=1.0, mask_filter_value=float(MASK_BIAS))
        x = self.layer_norm(name + ".norm1", g.op("Add", [x, self.layer(attn + "out_proj", context)]))
        ffn = self.layer(name + ".linear2", self.activation(self.layer(name + ".linear1", x)))
        return self.layer_norm(name + ".norm2", g.op("Add", [x, ffn]))


def build_graph(
    state: Mapping[str, np.ndarray],
    config: ErnieMConfig,
    head: str,
    precision: str = "fp32",
    float_bias: bool = False,
):
    """The ``onnx.ModelProto`` of ``head`` with the weights ``state`` (Paddle names and ``[in, out]`` linear
    weights, numpy arrays). ``float_bias``: a float ``attention_bias`` input instead of ``attention_mask``."""
    from onnx import TensorProto, helper

    if precision not in ONNX_PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(ONNX_PRECISIONS)}, got {precision!r}")
    if head not in HEAD_OUTPUTS:
        raise ValueError(f"no ONNX graph for head {head!r}; supported: {', '.join(HEAD_OUTPUTS)}")
    if config.hidden_act not in _ACTIVATIONS:
        raise ValueError(f"hidden_act {config.hidden_act!r} is not supported in ONNX")
    w = _Writer(state, config, precision)
    g = w.g
    prefix = "" if head == BASE else "ernie_m."
    rank = 3 if head == CHOICE else 2
    dims = ["batch", "choices", "seq"] if rank == 3 else ["batch", "seq"]
    third = ("attention_bias", TensorProto.FLOAT) if float_bias else ("attention_mask", TensorProto.INT64)
    inputs = [helper.make_tensor_value_info(n, t, dims)
              for n, t in (("input_ids", TensorProto.INT64), ("position_ids", TensorProto.INT64), third)]
    ids, positions, mask = (i.name for i in inputs)
    if rank == 3:  # [batch, choices, seq] -> [batch * choices, seq]
        rows_shape = g.op("Shape", ["input_ids"], end=2)
        ids, positions, mask = (g.op("Flatten", [t], axis=2) for t in (ids, positions, mask))
    if float_bias:  # attention_bias [b, 1, s, s]: the per-key bias, the same for every query and head
        seq = g.op("Shape", [mask], start=1, end=2)
        shape = g.op("Concat", [g.op("Shape", [mask], end=1), g.const("ones", np.array([1], np.int64)), seq, seq],
                     axis=0)
        unsqueezed = g.op("Unsqueeze", [mask, g.const("axes12", np.array([1, 2], np.int64))])
        key_mask = ("", g.op("Expand", [unsqueezed, shape], "attention_bias"))
    else:  # a keep-mask: masked keys get MASK_BIAS added to their scores
        key_mask = (g.op("Cast", [mask], "key_padding_mask", to=TensorProto.INT32), "")

    x = w.embeddings(prefix, ids, positions)
    pooled_only = head in (SEQUENCE, CHOICE)  # the last layer computes the first position only
    for i in range(config.num_hidden_layers):
        last = i == config.num_hidden_layers - 1
        x = w.encoder_layer(f"{prefix}encoder.layers.{i}", x, key_mask, only_first=pooled_only and last)

    # the pooler and the heads stay float32: a few rows or columns, nothing to gain, their outputs to lose
    def pooled() -> str:
        first = g.op("Gather", [x, g.const("zero", np.array(0, np.int64))], axis=1)  # [rows, hidden]
        return g.op("Tanh", [w.layer(prefix + "pooler.dense", first, quantize=False)])

    def head_layer(name: str, inputs: str) -> str:
        return w.layer(name, inputs, quantize=False)

    def squeeze_last(t: str) -> str:
        return g.op("Squeeze", [t, g.const("axis_last", np.array([-1], np.int64))])

    if head == BASE:
        outputs = [x, pooled()]
    elif head == SEQUENCE:
        outputs = [head_layer("classifier", pooled())]
    elif head == TOKEN:
        outputs = [head_layer("classifier", x)]
    elif head == CHOICE:
        outputs = [g.op("Reshape", [head_layer("classifier", pooled()), rows_shape])]
    elif head == QA:
        start, end = g.op("Split", [head_layer("classifier", x), g.const("split2", np.array([1, 1], np.int64))],
                          axis=-1, outputs=2)
        outputs = [squeeze_last(start), squeeze_last(end)]
    else:  # UIE
        outputs = [g.op("Sigmoid", [squeeze_last(head_layer(name, x))])
                   for name in ("linear_start", "linear_end")]
    names = list(HEAD_OUTPUTS[head])
    for produced, name in zip(outputs, names):
        g.nodes.append(helper.make_node("Identity", [produced], [name]))
    value_infos = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in names]
    graph = helper.make_graph(g.nodes, f"ernie_m_{head}", inputs, value_infos, g.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid(MS_DOMAIN, 1)],
                              producer_name="paddle-ernie-m")
    model.ir_version = 9
    return model



def save_graph(model, path: Path) -> None:
    """Write the ``onnx.ModelProto`` ``model`` to ``path``; weights go beside it into :data:`ONNX_DATA_FILE`
    when the graph would exceed protobuf's 2 GB limit."""
    import onnx

    size = sum(len(t.raw_data) for t in model.graph.initializer)
    external = size > (1 << 31) - (64 << 20)
    onnx.save_model(model, str(path), save_as_external_data=external, all_tensors_to_one_file=True,
                    location=ONNX_DATA_FILE)
