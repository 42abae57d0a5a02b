"""UIE-M test material shared by the Taskflow, torch-backend and export-cache tests: texts, schemas, and tiny random
UIE-M checkpoints whose heads are scaled so that every decoding rule is exercised."""
from __future__ import annotations

from pathlib import Path

import paddle

from paddle_ernie_m import ErnieMConfig, ErnieMTokenizer, UIEM

TOKENIZER = Path(__file__).parent / "fixtures" / "tiny_tokenizer"

CH_TEXTS = [
    "2月8日上午北京冬奥会自由式滑雪女子大跳台决赛中中国选手谷爱凌以188.25分获得金牌！",
    "《告别了》是孙耀威在专辑爱的故事里面的歌曲",
    "地址不错，服务一般，设施陈旧",
    "中国地震台网正式测定：5月16日06时08分在云南临沧市凤庆县(北纬24.34度，东经99.98度)发生3.5级地震，震源深度10千米。",
]
EN_TEXTS = [
    "In 1997, Steve was excited to become the CEO of Apple.",
    "I am sorry but this is the worst film I have ever seen in my life.",
    "Ｆｕｌｌ-width Ｔｅｘｔ and naïve café, 2023-07-14 at 10:30am.",
]
LONG_TEXT = "".join(CH_TEXTS)  # longer than max_seq_len 64: split, decoded per piece, joined with shifted offsets


def tiny_uie(directory: Path, seed: int, start_bias: float, end_bias: float) -> Path:
    """A random UIE-M whose heads are scaled so that logits spread over about +-1: with biases of -1 about one
    token in six passes 0.5."""
    tokenizer = ErnieMTokenizer.from_pretrained(TOKENIZER)
    paddle.seed(seed)
    config = ErnieMConfig(vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          max_position_embeddings=514, attention_mask_mode="paddlenlp")
    model = UIEM(config)
    for head, bias in ((model.linear_start, start_bias), (model.linear_end, end_bias)):
        head.weight.set_value(head.weight * 10)
        head.bias.set_value(paddle.full_like(head.bias, bias))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory



CASES = {
    "entity": (["时间", "选手", "赛事名称"], "ch"),
    "relation": ([{"歌曲名称": ["歌手", "所属专辑"]}], "ch"),
    "event": ([{"地震触发词": ["地震强度", "时间", "震中位置", "震源深度"]}], "ch"),
    "opinion": ([{"评价维度": ["观点词", "情感倾向[正向，负向]"]}], "ch"),
    "sentiment": (["情感倾向[正向，负向]"], "ch"),
    "nested": ([{"人物": [{"公司": ["地点"]}, "职位"]}, "地点"], "ch"),
    "relation_en": ([{"Person": ["Company", "Position"]}], "en"),
    "opinion_en": ([{"Aspect": ["Opinion", "Sentiment classification [negative, positive]"]}], "en"),
    "sentiment_en": (["Sentiment classification [negative, positive]"], "en"),
}
