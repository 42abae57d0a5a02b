"""Run ``InformationExtractor(backend="torch")`` and ``ernie-m extract --backend torch`` on a job file, with every
import of Paddle refused; write the results as JSON. Used by tests/test_uie_torch.py, in the main environment and in
the transformers 5 one (which has no Paddle at all), with the project on ``PYTHONPATH``.

Job: ``{"model": DIR, "runs": [{"schema", "schema_lang", "mode", "max_seq_len", "texts"[, "model": DIR]}],
"cli": [ARGS...],
"results": PATH}``; results: ``{"runs": [[result per text] per run], "modules": [paddle modules loaded]}``.
"""
import json
import sys


class RefusePaddle:
    """A ``sys.meta_path`` finder that makes every import of ``paddle`` or ``paddlenlp`` fail."""

    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("paddle", "paddlenlp"):
            raise ImportError(f"the torch path imported {name}")
        return None


def main(job_file: str) -> int:
    sys.meta_path.insert(0, RefusePaddle())
    with open(job_file, encoding="utf-8") as f:
        job = json.load(f)

    from paddle_ernie_m.cli import main as cli_main
    from paddle_ernie_m.uie import InformationExtractor

    runs = []
    for run in job["runs"]:
        extractor = InformationExtractor(run.get("model", job["model"]), schema=run["schema"],
                                         schema_lang=run["schema_lang"], mode=run["mode"],
                                         max_seq_len=run["max_seq_len"], backend="torch", device="cpu", threads=1)
        runs.append(extractor(run["texts"]))
    status = cli_main(job["cli"])
    loaded = sorted(name for name in sys.modules if name.partition(".")[0] in ("paddle", "paddlenlp"))
    with open(job["results"], "w", encoding="utf-8") as f:
        json.dump({"runs": runs, "cli_status": status, "modules": loaded}, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
