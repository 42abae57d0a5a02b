"""The embedded toy UIE-M (``assets/uie-m-demo``) on two sample texts, for ``ernie-m demo`` and the README."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

#: A toy model trained on synthetic sentences (see its README.md); not for real text.
DEMO_MODEL = Path(__file__).resolve().parents[1] / "assets" / "uie-m-demo"
DEMO_TEXTS = {
    "ch": "李娜是蓝海银行的工程师，常驻上海。大家都很高兴。",
    "en": "Emma Smith works at Globex Bank in Paris. Everyone was delighted.",
}


def demo_schemas() -> Dict[str, List]:
    """The schemas the demo model answers, per ``schema_lang`` (``schemas.json`` next to the model)."""
    return json.loads((DEMO_MODEL / "schemas.json").read_text(encoding="utf-8"))


def demo_extraction() -> str:
    """Extract from the sample texts with the demo model; one block per language."""
    from .extractor import InformationExtractor

    blocks = []
    for lang, schema in demo_schemas().items():
        result = InformationExtractor(DEMO_MODEL, schema=schema, schema_lang=lang)(DEMO_TEXTS[lang])[0]
        blocks.append(f"schema ({lang}): {json.dumps(schema, ensure_ascii=False)}\ntext: {DEMO_TEXTS[lang]}\n"
                      f"result: {json.dumps(result, ensure_ascii=False, indent=1)}")
    return "\n\n".join(blocks)
