"""Code that ``ernie-m convert paddle2torch`` copies, file for file, next to the weights it writes.

With it a converted directory loads in transformers 5.x, which no longer has ErnieM, through
``AutoModel*.from_pretrained(directory, trust_remote_code=True)``; transformers 4.32-4.57 load the same directory
with their own ErnieM classes (``config.json`` keeps ``model_type: ernie_m``) or, asked to trust remote code, with
these. The files import only torch, transformers, numpy and each other, never this project: they must work where
only the converted directory is. This module imports nothing, so the converters can read it without torch.
"""

#: The model's code: its configuration and the classes (what a model's ``save_pretrained`` copies along).
MODEL_FILES = ("configuration_ernie_m.py", "modeling_ernie_m.py")
#: The tokenizer: the transformers classes (slow and fast) and the tokenization engine it shares with ``paddle_ernie_m.tokenizer``
#: (the engine and its offset rules). They live in the package ``ernie_m_tokenizer``, not next to this module.
TOKENIZER_FILES = ("tokenization_ernie_m.py", "tokenization_ernie_m_fast.py", "tokenization_ernie_m_engine.py",
                   "tokenization_ernie_m_offsets.py")
#: The files copied verbatim into every directory paddle2torch writes.
FILES = MODEL_FILES + TOKENIZER_FILES

#: ``auto_map`` of the copied ``config.json``: Auto class (or head name) -> ``module.Class`` among :data:`FILES`.
#: transformers has no Auto class for information extraction: its entry is found by its class name.
AUTO_MAP = {
    "AutoConfig": "configuration_ernie_m.ErnieMConfig",
    "AutoModel": "modeling_ernie_m.ErnieMModel",
    "AutoModelForSequenceClassification": "modeling_ernie_m.ErnieMForSequenceClassification",
    "AutoModelForMultipleChoice": "modeling_ernie_m.ErnieMForMultipleChoice",
    "AutoModelForTokenClassification": "modeling_ernie_m.ErnieMForTokenClassification",
    "AutoModelForQuestionAnswering": "modeling_ernie_m.ErnieMForQuestionAnswering",
    "ErnieMForInformationExtraction": "modeling_ernie_m.ErnieMForInformationExtraction",
}

#: ``auto_map`` of ``tokenizer_config.json``: the slow tokenizer of ``tokenization_ernie_m.py`` and the fast one
#: of ``tokenization_ernie_m_fast.py`` (what ``AutoTokenizer`` loads unless ``use_fast=False``).
TOKENIZER_AUTO_MAP = {"AutoTokenizer": ["tokenization_ernie_m.ErnieMTokenizer",
                                        "tokenization_ernie_m_fast.ErnieMTokenizerFast"]}
