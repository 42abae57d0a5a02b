"""Continued pre-training of ERNIE-M on its own objectives (see the README).

* :mod:`.model`: ``ErnieMForPreTraining`` (encoder + masked-LM head tied to the word embeddings);
* :mod:`.masks`: CAMLM / TLM attention masks and per-segment position ids (numpy);
* :mod:`.collator`: corpora readers, example mixing, BERT-style masking and dynamic padding (numpy);
* :mod:`.objectives`: the MLM / TLM / CAMLM / BTMLM losses and the trainer's ``compute_loss``;
* :mod:`.evaluation`: cross-lingual sentence retrieval with mean-pooled embeddings.

The numpy modules import without Paddle; import names from the submodules.
"""
