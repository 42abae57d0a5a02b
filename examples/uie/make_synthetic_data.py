"""Generate the synthetic bilingual data set the embedded UIE-M demo model is trained on (seeded, deterministic).

Short Chinese and English texts about people, places and organisations, written from templates, each with a
sentence-level sentiment. Annotations are doccano exports, so the pipeline runs through the project's doccano
converter exactly as user data would:

* ``synthetic_{ch,en}_ext.jsonl``: doccano relation exports (entities ``人物``/``地点``/``组织机构`` or
  ``Person``/``Location``/``Organization``, relation ``所属机构`` / ``Employer`` from a person to the
  organisation they work for; a person who only *visits* an organisation has no relation);
* ``synthetic_{ch,en}_cls.jsonl``: doccano classification exports of the same texts, in the same order
  (``正向``/``负向``, ``positive``/``negative``).

Usage: ``python examples/uie/make_synthetic_data.py [OUT_DIR] [--texts 1200] [--seed 7] [--force]``
The schemas the data set answers are in ``SCHEMAS`` (also used by ``finetune.py`` and the tests).
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from pathlib import Path
from typing import Dict, List, Tuple

HERE = Path(__file__).resolve().parent
DEFAULT_OUT = HERE / "data"

#: What the demo model answers, per language (``schema_lang`` is the key).
SCHEMAS = {
    "ch": [{"人物": ["所属机构"]}, "地点", "组织机构", "情感倾向[正向,负向]"],
    "en": [{"Person": ["Employer"]}, "Location", "Organization", "Sentiment classification [negative,positive]"],
}
#: doccano converter settings per language (sentence-level sentiment prompt and options).
SENTIMENT = {
    "ch": {"prompt_prefix": "情感倾向", "options": ("正向", "负向")},
    "en": {"prompt_prefix": "Sentiment classification ", "options": ("negative", "positive")},
}

CH = {
    "surnames": "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎",
    "given": "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉萍红志建国文新海波宁晨宇浩然欣怡嘉佳俊凯琳雪梅兰婷",
    "places": ["北京", "上海", "广州", "深圳", "杭州", "成都", "南京", "武汉", "西安", "重庆", "苏州", "天津", "长沙",
               "青岛", "厦门", "昆明", "大连", "郑州", "合肥", "福州", "哈尔滨", "乌鲁木齐", "拉萨", "桂林"],
    "brands": ["华星", "瑞博", "远航", "锐思", "安泰", "宏达", "鑫源", "天启", "蓝海", "金桥", "云帆", "恒信",
               "东方", "北辰", "南山", "新元", "光明", "未来", "中科", "海纳"],
    "kinds": ["科技公司", "银行", "大学", "研究院", "集团", "医院", "出版社", "汽车公司"],
    "work": ["{P}在{L}的{O}工作。", "{P}是{O}的工程师，常驻{L}。", "{P}去年加入了{O}。", "{P}目前就职于{O}。",
             "{O}的研究员{P}来自{L}。"],
    "other": ["{O}总部位于{L}。", "{P}上周去了{L}旅游。", "{P}和{Q}在{L}见面。", "{P}参观了位于{L}的{O}。",
              "{P}拜访了{O}。", "{L}的{O}发布了新产品。"],
    "positive": ["他对此非常满意。", "大家都很高兴。", "结果令人振奋。", "这次合作非常成功。", "客户给了好评。"],
    "negative": ["他对此非常失望。", "结果让人很不满意。", "这件事令人沮丧。", "项目进展很糟糕。", "客户投诉不断。"],
    "labels": {"P": "人物", "L": "地点", "O": "组织机构"},
    "relation": "所属机构",
    "sentiment": {"positive": "正向", "negative": "负向"},
    "join": "",
}
EN = {
    "first": ["John", "Mary", "James", "Linda", "Robert", "Susan", "Michael", "Karen", "David", "Emma", "Olivia",
              "Liam", "Noah", "Sophia", "Lucas", "Mia", "Ethan", "Ava", "Grace", "Henry", "Chloe", "Daniel"],
    "last": ["Smith", "Johnson", "Brown", "Taylor", "Miller", "Wilson", "Moore", "Clark", "Lewis", "Walker", "Hall",
             "Young", "King", "Wright", "Green", "Baker", "Adams", "Nelson", "Carter", "Mitchell", "Turner"],
    "places": ["London", "Paris", "Berlin", "Tokyo", "Sydney", "Toronto", "Chicago", "Boston", "Madrid", "Rome",
               "Dublin", "Seattle", "Denver", "Austin", "Oslo", "Vienna", "Prague", "Lisbon", "Munich", "Zurich",
               "New York", "San Francisco"],
    "brands": ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
               "Cyberdyne", "Tyrell", "Wonka", "Aperture", "Oscorp", "Massive", "Northwind"],
    "kinds": ["Corp", "Bank", "University", "Labs", "Group", "Hospital", "Press", "Motors"],
    "work": ["{P} works at {O} in {L}.", "{P} is an engineer at {O}, based in {L}.", "{P} joined {O} last year.",
             "{P} is currently employed by {O}.", "{O} researcher {P} comes from {L}."],
    "other": ["{O} is headquartered in {L}.", "{P} traveled to {L} last week.", "{P} met {Q} in {L}.",
              "{P} toured the {O} campus in {L}.", "{P} visited {O}.", "{O} of {L} released a new product."],
    "positive": ["Everyone was delighted.", "She loved the outcome.", "The results were excellent.",
                 "The partnership was a great success.", "Customers gave glowing reviews."],
    "negative": ["He was disappointed.", "The results were terrible.", "Everyone was unhappy about the delay.",
                 "The project went badly.", "Customers kept complaining."],
    "labels": {"P": "Person", "L": "Location", "O": "Organization"},
    "relation": "Employer",
    "sentiment": {"positive": "positive", "negative": "negative"},
    "join": " ",
}


def person(lang: Dict, rng: random.Random) -> str:
    if lang is CH:
        return rng.choice(CH["surnames"]) + "".join(rng.choice(CH["given"]) for _ in range(rng.choice((1, 2))))
    return f"{rng.choice(EN['first'])} {rng.choice(EN['last'])}"


def organisation(lang: Dict, rng: random.Random) -> str:
    return lang["join"].join((rng.choice(lang["brands"]), rng.choice(lang["kinds"])))


def fill(template: str, lang: Dict, rng: random.Random, offset: int) -> Tuple[str, List[Dict], Dict[str, int]]:
    """Fill one template. Returns the sentence, its entities (offsets shifted by ``offset``) and the index of each
    slot's entity in that list."""
    values = {"P": person(lang, rng), "L": rng.choice(lang["places"]), "O": organisation(lang, rng)}
    values["Q"] = person(lang, rng)
    while values["Q"] == values["P"]:
        values["Q"] = person(lang, rng)
    text, entities, slots, cursor = "", [], {}, 0
    for match in re.finditer(r"\{(\w)\}", template):
        slot = match.group(1)
        text += template[cursor:match.start()]
        start = offset + len(text)
        text += values[slot]
        slots[slot] = len(entities)
        entities.append({"start_offset": start, "end_offset": offset + len(text),
                         "label": lang["labels"]["P" if slot == "Q" else slot]})
        cursor = match.end()
    return text + template[cursor:], entities, slots


def make_text(lang: Dict, rng: random.Random, number: int) -> Tuple[Dict, Dict]:
    """One doccano relation record and its classification record."""
    sentences = rng.sample(lang["work"] + lang["other"], rng.choice((1, 1, 2)))
    sentiment = rng.choice(("positive", "negative"))
    text, entities, relations = "", [], []
    for template in sentences:
        if text:
            text += lang["join"]
        sentence, found, slots = fill(template, lang, rng, len(text))
        base = len(entities)
        entities += [{"id": base + i, **entity} for i, entity in enumerate(found)]
        if template in lang["work"]:  # the person works for the organisation
            relations.append({"id": len(relations), "from_id": base + slots["P"], "to_id": base + slots["O"],
                              "type": lang["relation"]})
        text += sentence
    text += lang["join"] + rng.choice(lang[sentiment])
    ext = {"id": number, "text": text, "entities": entities, "relations": relations}
    cls = {"id": number, "text": text, "label": [lang["sentiment"][sentiment]]}
    return ext, cls


def gold_results(ext: Dict, cls: Dict, lang: str) -> Dict[str, List[Dict]]:
    """What the demo model should extract from one text with ``SCHEMAS[lang]``, in Taskflow's format (without
    probabilities), from its two doccano records."""
    labels = CH["labels"] if lang == "ch" else EN["labels"]
    person, location, organisation = labels["P"], labels["L"], labels["O"]
    text = ext["text"]
    spans = {e["id"]: {"text": text[e["start_offset"]:e["end_offset"]], "start": e["start_offset"],
                       "end": e["end_offset"]} for e in ext["entities"]}
    result: Dict[str, List[Dict]] = {}
    for entity in ext["entities"]:
        result.setdefault(entity["label"], []).append(spans[entity["id"]])
    for relation in ext["relations"]:
        spans[relation["from_id"]].setdefault("relations", {}).setdefault(relation["type"], []).append(
            dict(spans[relation["to_id"]]))
    sentiment_label = SCHEMAS[lang][-1]
    result[sentiment_label] = [{"text": label} for label in cls["label"]]
    return {label: result[label] for label in (person, location, organisation, sentiment_label) if label in result}


#: The writer named in the marker of the output directory.
WRITER = "make_synthetic_data.py"


def generate(out_dir: Path, texts: int = 1200, seed: int = 7, force: bool = False) -> List[Path]:
    """Write the four doccano exports into ``out_dir`` (``texts`` texts per language)."""
    out_dir = Path(out_dir)
    names = [f"synthetic_{lang}_{kind}.jsonl" for lang in ("ch", "en") for kind in ("ext", "cls")]
    from converters.files import owned_files

    written = []
    with owned_files(out_dir, WRITER, names, force) as tmp:  # force replaces only the files of an earlier run
        for code, lang in (("ch", CH), ("en", EN)):
            rng = random.Random(f"{seed}-{code}")
            records = [make_text(lang, rng, i) for i in range(texts)]
            for kind, column in (("ext", 0), ("cls", 1)):
                name = f"synthetic_{code}_{kind}.jsonl"
                (tmp / name).write_text("".join(json.dumps(r[column], ensure_ascii=False) + "\n" for r in records),
                                        encoding="utf-8")
                written.append(out_dir / name)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", default=str(DEFAULT_OUT),
                        help=f"output directory (default {DEFAULT_OUT})")
    parser.add_argument("--texts", type=int, default=1200, help="texts per language (default 1200)")
    parser.add_argument("--seed", type=int, default=7, help="seed (default 7)")
    parser.add_argument("--force", action="store_true", help="overwrite existing files")
    args = parser.parse_args(argv)
    try:
        for path in generate(Path(args.out_dir), args.texts, args.seed, args.force):
            print(f"wrote {path}")
    except FileExistsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
