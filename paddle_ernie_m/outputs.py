"""Named model outputs. Each also behaves like PaddleNLP's tuple when indexed or unpacked, and
:meth:`ModelOutput.to_paddlenlp` is what every model returns with ``return_dict=False``: PaddleNLP's return
convention, kept here in one place."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Optional, Tuple, Union

from paddle import Tensor


@dataclass
class ModelOutput:
    """Base of all outputs: attribute access, plus indexing and unpacking over the fields that are set.

    ``to_tuple()`` gives the loss first when there is one, then the tensors in field order, leaving out those
    that are None (transformers' and PaddleNLP's order).
    """

    def to_tuple(self) -> Tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in dataclasses.fields(self)
                     if f.metadata.get("in_tuple", True) and getattr(self, f.name) is not None)

    def to_paddlenlp(self) -> Union[Tensor, Tuple[Any, ...]]:
        """What PaddleNLP 2.8.1 returns with ``return_dict=False`` (its ``tuple_output``): :meth:`to_tuple`,
        except that a lone tensor is returned itself, not as a 1-tuple (a classifier's logits without labels)."""
        values = self.to_tuple()
        return values[0] if len(values) == 1 else values

    def __iter__(self):
        return iter(self.to_tuple())

    def __len__(self) -> int:
        return len(self.to_tuple())

    def __getitem__(self, key):
        return getattr(self, key) if isinstance(key, str) else self.to_tuple()[key]


def _not_in_tuple() -> Any:
    return dataclasses.field(default=None, metadata={"in_tuple": False})


@dataclass
class BaseModelOutput(ModelOutput):
    """``past_key_values``: with ``use_cache``, per layer the (keys, values) to pass to the next call."""

    last_hidden_state: Optional[Tensor] = None
    pooler_output: Optional[Tensor] = None
    past_key_values: Optional[Tuple[Tuple[Tensor, Tensor], ...]] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None


@dataclass
class ClassifierOutput(ModelOutput):
    """Sequence, token and multiple-choice classification."""

    loss: Optional[Tensor] = None
    logits: Optional[Tensor] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None


@dataclass
class QuestionAnsweringOutput(ModelOutput):
    loss: Optional[Tensor] = None
    start_logits: Optional[Tensor] = None
    end_logits: Optional[Tensor] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None


@dataclass
class InformationExtractionOutput(ModelOutput):
    """UIE: per-token probabilities that a span starts / ends there (PaddleNLP's ``UIEM`` returns these).

    The logits before the sigmoid (what transformers' ``ErnieMForInformationExtraction`` returns) are kept as
    attributes but are not part of the tuple form.
    """

    loss: Optional[Tensor] = None
    start_prob: Optional[Tensor] = None
    end_prob: Optional[Tensor] = None
    hidden_states: Optional[Tuple[Tensor, ...]] = None
    attentions: Optional[Tuple[Tensor, ...]] = None
    start_logits: Optional[Tensor] = _not_in_tuple()
    end_logits: Optional[Tensor] = _not_in_tuple()
