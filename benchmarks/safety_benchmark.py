"""Crisis-disclosure safety, measured on hand-written labels (tests/data/SAFETY_LABELS.md).

1. The detector (safety.flag) on explanations: precision and recall per category, and
   how often a text with no risk (idioms and other hard negatives among them) is flagged.
2. The response check (safety.check_response) against the labelled compliant / not.
3. With --generate: the respond stage's own prompt and the embedded model answer the
   labelled risk explanations without and with `respond.safety_guidance`, and the share
   of responses that comply is compared. Results: benchmarks/SAFETY.md.

    python benchmarks/safety_benchmark.py [--split test] [--generate]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

EXPLANATIONS = ROOT / "tests/data/safety_explanations.jsonl"
RESPONSES = ROOT / "tests/data/safety_responses.jsonl"


def read(path: Path, split: str) -> list[dict]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [r for r in rows if split == "all" or r["split"] == split]


def detector_scores(rows: list[dict]) -> dict:
    """Per category precision/recall/counts, plus the false-flag rate on texts labelled none."""
    from synthempathy.quality.safety import CATEGORIES, flag

    got = [(r["category"], (f.category if (f := flag(r["text"])) else "none")) for r in rows]
    scores = {}
    for category in CATEGORIES:
        tp = sum(t == p == category for t, p in got)
        predicted = sum(p == category for _, p in got)
        actual = sum(t == category for t, _ in got)
        scores[category] = {"precision": round(tp / predicted, 3) if predicted else None,
                            "recall": round(tp / actual, 3) if actual else None, "labelled": actual}
    none = [p for t, p in got if t == "none"]
    scores["none_flagged"] = {"rate": round(sum(p != "none" for p in none) / len(none), 3), "labelled": len(none)}
    risky = [(t != "none", p != "none") for t, p in got]
    tp = sum(a and b for a, b in risky)
    scores["any_risk"] = {"precision": round(tp / max(1, sum(b for _, b in risky)), 3),
                          "recall": round(tp / max(1, sum(a for a, _ in risky)), 3)}
    return scores


def response_scores(rows: list[dict]) -> dict:
    """How well check_response says 'complies' against the labels (positive class: not compliant)."""
    from synthempathy.quality.safety import check_response

    got = [(not r["compliant"], not check_response(r["response"]).complies) for r in rows]
    tp = sum(a and b for a, b in got)
    return {"unsafe_precision": round(tp / max(1, sum(b for _, b in got)), 3),
            "unsafe_recall": round(tp / max(1, sum(a for a, _ in got)), 3),
            "accuracy": round(sum(a == b for a, b in got) / len(got), 3), "labelled": len(got)}


def compliance_with_and_without_guidance(rows: list[dict]) -> dict:
    """Share of compliant responses the embedded model writes to the risk explanations."""
    import tempfile

    from synthempathy.core.params import load_params
    from synthempathy.generation.cache import RequestCache
    from synthempathy.generation.generate import Generator, Item
    from synthempathy.generation.llm import make_backend
    from synthempathy.generation.prompts import load_guidance, load_template
    from synthempathy.quality.safety import check_response

    from synthempathy.chain_of_empathy import respond_steps

    params = load_params(ROOT / "params.yaml")
    respond = params.respond
    steps = respond_steps(respond.model_copy(update={"chain_of_empathy": True, "use_emotion_list": True}), ROOT)
    template = load_template(ROOT / respond.prompt, {"explanation", "guidance"})
    guidance = load_guidance(ROOT / respond.safety_guidance, ROOT / respond.prompt, "respond.safety_guidance")
    risky = [r for r in rows if r["category"] != "none"]
    result = {}
    with tempfile.TemporaryDirectory() as cache_dir:
        for name, text in (("without_guidance", ""), ("with_guidance", guidance)):
            backend, cache = make_backend(params.llm), RequestCache(Path(cache_dir) / "requests.sqlite")
            try:
                gen = Generator("respond", template, respond, params.llm, backend, cache, steps)
                outcomes = gen.run([Item(id=r["id"], values={"explanation": r["text"], "guidance": text})
                                    for r in risky])
            finally:
                backend.close()
                cache.close()
            answered = [o.fields["response"] for o in outcomes if o.fields]
            checks = [check_response(a) for a in answered]
            result[name] = {"answered": len(answered), "compliant": sum(c.complies for c in checks),
                            "compliance_rate": round(sum(c.complies for c in checks) / max(1, len(answered)), 3),
                            "with_referral": sum("no_referral" not in c.problems for c in checks)}
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", choices=["dev", "test", "all"], default="test")
    parser.add_argument("--generate", action="store_true", help="also measure respond's compliance (model runs)")
    args = parser.parse_args()
    explanations = read(EXPLANATIONS, args.split)
    report = {"split": args.split, "explanations": detector_scores(explanations),
              "responses": response_scores(read(RESPONSES, args.split))}
    if args.generate:
        report["respond_compliance"] = compliance_with_and_without_guidance(explanations)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
