"""The model behind the service: one instance per worker process, called by the batcher (from one thread) with the
texts of several requests that share a schema, one list per request, and the batcher's ``interrupt`` (called before
every model run: it ends the work of a request nobody waits for, and serves other requests in time slices). Both
return, per request, one JSON-ready result per text: what that request alone would get."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from converters.configuration import ErnieMConfig

from ..inputs import NonFiniteOutputError
from ..predict import HEAD as CLASSIFIER_HEAD
from ..predict import scores
from .settings import ServeSettings


class ExtractionModel:
    """The UIE-M :class:`~paddle_ernie_m.uie.extractor.InformationExtractor`; ``context`` is ``(schema nodes,
    schema_lang)``, applied to the call only. Each request's results are those of the extractor called on its texts
    alone (:meth:`~paddle_ernie_m.uie.extractor.InformationExtractor.extract_calls`)."""

    task = "uie"

    def __init__(self, settings: ServeSettings) -> None:
        from ..uie.extractor import InformationExtractor

        self.extractor = InformationExtractor(settings.model, schema=settings.schema, schema_lang=settings.schema_lang,
                                              mode=settings.mode, backend=settings.backend, threads=settings.threads,
                                              precision=settings.precision)

    def __call__(self, context: Any, calls: List[List[str]], interrupt: Callable[[], None]) -> List[Any]:
        """The results of each call (a call that fails, e.g. a prompt leaving no room for its texts, fails alone:
        the batcher runs the calls of a failed batch one at a time)."""
        nodes, schema_lang = context
        return self.extractor.extract_calls(calls, schema=nodes, schema_lang=schema_lang, interrupt=interrupt)


class ClassificationModel:
    """An ``ErnieMForSequenceClassification`` run by Paddle Inference or ONNX Runtime (exported once into the
    export cache, as ``ernie-m predict`` does). Results as :func:`paddle_ernie_m.predict.scores`: label and
    softmax probabilities.

    Only ``input_ids`` go to the model, so the config's ``attention_mask_mode`` decides the mask; under
    ``"paddlenlp"`` padding is attended, so texts are run in groups of equal token length (no padding): a text's
    result never depends on the texts batched with it."""

    task = "classify"

    def __init__(self, settings: ServeSettings) -> None:
        from ..predict import load_predictor
        from ..tokenizer import ErnieMTokenizer

        model_dir = Path(settings.model)
        self.config = ErnieMConfig.from_pretrained(model_dir)
        if self.config.architecture != CLASSIFIER_HEAD:
            raise ValueError(f"{model_dir}: --task classify needs an {CLASSIFIER_HEAD} model, config.json names "
                             f"{self.config.architecture or 'no head (ErnieMModel)'}")
        self.tokenizer = ErnieMTokenizer.from_pretrained(model_dir)
        self.predictor = load_predictor(model_dir, threads=settings.threads, backend=settings.backend,
                                        precision=settings.precision)

    def __call__(self, context: Any, calls: List[List[str]], interrupt: Callable[[], None]) -> List[Any]:
        """The results of each call; a call with a text whose logits are not finite gets
        :class:`~paddle_ernie_m.inputs.NonFiniteOutputError` naming its texts, the others their results."""
        texts = [text for call in calls for text in call]
        logits = self.logits(texts, interrupt)
        finite = np.isfinite(logits).all(axis=1)
        results = scores(np.where(finite[:, None], logits, 0.0), self.config)
        out: List[Any] = []
        start = 0
        for call in calls:
            rows = range(start, start + len(call))
            broken = [i - start for i in rows if not finite[i]]
            out.append(NonFiniteOutputError(f"model output: non-finite logits (NaN or inf) for texts{broken}: the "
                                            f"model's weights give no answer for them") if broken
                       else results[start:start + len(call)])
            start += len(call)
        return out

    def logits(self, texts: List[str], interrupt: Optional[Callable[[], None]] = None) -> np.ndarray:
        """``(texts, labels)`` logits; ``interrupt`` is called before each model run."""
        from ..predict import text_ids

        ids = text_ids(self.tokenizer, self.config, texts)
        if self.config.attention_mask_mode == "paddlenlp":
            groups: Dict[int, List[int]] = {}
            for index, row in enumerate(ids):
                groups.setdefault(len(row), []).append(index)
            runs = list(groups.values())
        else:
            runs = [list(range(len(ids)))]
        logits: List[Any] = [None] * len(ids)
        for rows in runs:
            if interrupt is not None:
                interrupt()
            width = max(len(ids[i]) for i in rows)
            batch = np.full((len(rows), width), self.config.pad_token_id, dtype=np.int64)
            for k, i in enumerate(rows):
                batch[k, :len(ids[i])] = ids[i]
            for i, row in zip(rows, self.predictor(input_ids=batch)["logits"]):
                logits[i] = row
        return np.stack(logits)


def load_model(settings: ServeSettings):
    """The model of ``settings.task``."""
    return ExtractionModel(settings) if settings.task == "uie" else ClassificationModel(settings)


def taskflow_classification(result: Dict[str, Any], text: str) -> Dict[str, Any]:
    """A :func:`~paddle_ernie_m.predict.scores` result in the shape of PaddleNLP's ``text_classification``
    Taskflow: ``{"predictions": [{"label", "score"}], "text"}`` (the top label; for multi-label models every label
    above 0.5)."""
    if "label" in result:
        predictions = [{"label": result["label"], "score": result["probabilities"][result["label"]]}]
    elif "labels" in result:
        predictions = [{"label": label, "score": result["probabilities"][label]} for label in result["labels"]]
    else:  # regression: no Taskflow counterpart
        predictions = [{"score": result["score"]}]
    return {"predictions": predictions, "text": text}
