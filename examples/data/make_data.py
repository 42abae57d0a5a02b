"""Write the tiny synthetic multilingual data sets of the fine-tuning examples (deterministic; committed).

    python examples/data/make_data.py [OUT_DIR]      # default: examples/data

* ``seq_cls/{train,dev}.jsonl``: XNLI-style pairs ``{"premise", "hypothesis", "label"}`` with labels
  entailment / neutral / contradiction, in English, German, Spanish, French and Chinese.
* ``token_cls/{train,dev}.conll``: CoNLL-style ``token tag`` lines with BIO tags for PER / LOC / ORG.
* ``qa/{train,dev}.json``: SQuAD v1.1 format; some contexts are long enough to need several windows.
* ``multiple_choice/{train,dev}.jsonl``: ``{"context", "question", "choices", "label"}``.
"""
from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Dict, List, Tuple

SEED = 20240611
PEOPLE = {
    "en": ["Anna Smith", "John Miller", "Mary Jones"],
    "de": ["Jonas Weber", "Lena Fischer", "Paul Wagner"],
    "es": ["Lucía García", "Mateo López", "Sofía Díaz"],
    "fr": ["Louis Martin", "Chloé Bernard", "Hugo Petit"],
    "zh": ["张伟", "王芳", "李娜"],
}
CITIES = {
    "en": ["London", "Boston", "Sydney"], "de": ["Berlin", "München", "Hamburg"],
    "es": ["Madrid", "Sevilla", "Valencia"], "fr": ["Paris", "Lyon", "Marseille"], "zh": ["北京", "上海", "广州"],
}
ORGS = {
    "en": ["Acme Corp", "Globex"], "de": ["Siemens", "Bosch"], "es": ["Telefónica", "Iberia"],
    "fr": ["Renault", "Danone"], "zh": ["华为", "阿里巴巴"],
}
# premise, entailed, neutral, contradicted hypothesis; {p} person, {c} city
NLI = {
    "en": ("{p} lives in {c}.", "{p} lives in a city.", "{p} likes music.", "{p} has never been to {c}."),
    "de": ("{p} wohnt in {c}.", "{p} wohnt in einer Stadt.", "{p} mag Musik.", "{p} war nie in {c}."),
    "es": ("{p} vive en {c}.", "{p} vive en una ciudad.", "{p} ama la música.", "{p} nunca estuvo en {c}."),
    "fr": ("{p} habite à {c}.", "{p} habite dans une ville.", "{p} aime la musique.", "{p} n'est jamais allé à {c}."),
    "zh": ("{p}住在{c}。", "{p}住在一个城市。", "{p}喜欢音乐。", "{p}从未去过{c}。"),
}
NLI_LABELS = ("entailment", "neutral", "contradiction")
# NER sentence templates: (words, tags) with slots
NER = {
    "en": "{p} works for {o} in {c} .", "de": "{p} arbeitet bei {o} in {c} .",
    "es": "{p} trabaja para {o} en {c} .", "fr": "{p} travaille chez {o} à {c} .",
}
QA = {
    "en": ("{p} was born in {c} and works for {o}.", "Where was {p} born?", "Who employs {p}?"),
    "de": ("{p} wurde in {c} geboren und arbeitet bei {o}.", "Wo wurde {p} geboren?", "Wo arbeitet {p}?"),
    "es": ("{p} nació en {c} y trabaja para {o}.", "¿Dónde nació {p}?", "¿Para quién trabaja {p}?"),
    "zh": ("{p}出生于{c}，在{o}工作。", "{p}出生在哪里？", "{p}在哪里工作？"),
}
FILLER = {
    "en": "The weather was mild that year.", "de": "Das Wetter war in jenem Jahr mild.",
    "es": "El tiempo fue templado aquel año.", "zh": "那一年天气很温和。",
}


def _pick(rng: random.Random, lang: str) -> Dict[str, str]:
    return {"p": rng.choice(PEOPLE[lang]), "c": rng.choice(CITIES[lang]), "o": rng.choice(ORGS[lang])}


def seq_cls(rng: random.Random, n: int) -> List[dict]:
    rows = []
    for i in range(n):
        lang = list(NLI)[i % len(NLI)]
        slots, label = _pick(rng, lang), rng.randrange(3)
        premise, *hypotheses = NLI[lang]
        rows.append({"premise": premise.format(**slots), "hypothesis": hypotheses[label].format(**slots),
                     "label": NLI_LABELS[label], "lang": lang})
    return rows


def _tagged(words: List[str], tag: str) -> List[Tuple[str, str]]:
    return [(w, ("B-" if j == 0 else "I-") + tag) for j, w in enumerate(words)]


def token_cls(rng: random.Random, n: int) -> List[List[Tuple[str, str]]]:
    sentences = []
    for i in range(n):
        if i % 5 == 4:  # Chinese, one character a token
            slots = _pick(rng, "zh")
            sentence = (_tagged(list(slots["p"]), "PER") + [("在", "O")] + _tagged(list(slots["o"]), "ORG")
                        + [("工", "O"), ("作", "O"), ("，", "O"), ("住", "O"), ("在", "O")]
                        + _tagged(list(slots["c"]), "LOC") + [("。", "O")])
        else:
            lang = list(NER)[i % 4]
            slots = _pick(rng, lang)
            sentence = []
            for word in NER[lang].split():
                if word in ("{p}", "{o}", "{c}"):
                    key = word[1]
                    sentence += _tagged(slots[key].split(), {"p": "PER", "o": "ORG", "c": "LOC"}[key])
                else:
                    sentence.append((word, "O"))
        sentences.append(sentence)
    return sentences


def qa(rng: random.Random, n: int) -> dict:
    paragraphs = []
    for i in range(n):
        lang = list(QA)[i % len(QA)]
        slots = _pick(rng, lang)
        fact, q_born, q_work = QA[lang]
        sentence = fact.format(**slots)
        separator = "" if lang == "zh" else " "
        before = separator.join([FILLER[lang]] * rng.randrange(0, 6))  # long contexts need several windows
        context = before + (separator if before else "") + sentence
        offset = len(context) - len(sentence)
        city_at = offset + sentence.index(slots["c"])
        org_at = offset + sentence.index(slots["o"])
        paragraphs.append({"context": context, "qas": [
            {"id": f"q{i}-born", "question": q_born.format(**slots),
             "answers": [{"text": slots["c"], "answer_start": city_at}]},
            {"id": f"q{i}-work", "question": q_work.format(**slots),
             "answers": [{"text": slots["o"], "answer_start": org_at}]},
        ]})
    return {"version": "1.1", "data": [{"title": "synthetic", "paragraphs": paragraphs}]}


def multiple_choice(rng: random.Random, n: int) -> List[dict]:
    rows = []
    for i in range(n):
        lang = list(NLI)[i % len(NLI)]
        slots = _pick(rng, lang)
        cities = list(CITIES[lang])
        rng.shuffle(cities)
        question = {"en": "Where does {p} live?", "de": "Wo wohnt {p}?", "es": "¿Dónde vive {p}?",
                    "fr": "Où habite {p} ?", "zh": "{p}住在哪里？"}[lang]
        rows.append({"context": NLI[lang][0].format(**slots), "question": question.format(**slots),
                     "choices": cities, "label": cities.index(slots["c"])})
    return rows


def _jsonl(path: Path, rows: List[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def _conll(path: Path, sentences: List[List[Tuple[str, str]]]) -> None:
    path.write_text("\n".join("".join(f"{w} {t}\n" for w, t in s) for s in sentences), encoding="utf-8")


def main(out: Path) -> None:
    rng = random.Random(SEED)
    for task in ("seq_cls", "token_cls", "qa", "multiple_choice"):
        (out / task).mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 48), ("dev", 20)):
        _jsonl(out / "seq_cls" / f"{split}.jsonl", seq_cls(rng, n))
        _conll(out / "token_cls" / f"{split}.conll", token_cls(rng, n))
        (out / "qa" / f"{split}.json").write_text(
            json.dumps(qa(rng, n // 2), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        _jsonl(out / "multiple_choice" / f"{split}.jsonl", multiple_choice(rng, n))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
