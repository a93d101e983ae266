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
from synthempathy.quality.safety_agreement import detector_scores, read_labels, response_scores  # noqa: E402

EXPLANATIONS = ROOT / "tests/data/safety_explanations.jsonl"
RESPONSES = ROOT / "tests/data/safety_responses.jsonl"


def compliance_with_and_without_guidance(rows: list[dict]) -> dict:
    """Share of compliant responses the embedded model writes to the risk explanations."""
    import tempfile

    from synthempathy.core.params import load_params
    from synthempathy.generation.cache import RequestCache
    from synthempathy.generation.driver import Generator, Item
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
    explanations = read_labels(EXPLANATIONS, args.split)
    report = {"split": args.split, "explanations": detector_scores(explanations),
              "responses": response_scores(read_labels(RESPONSES, args.split))}
    if args.generate:
        report["respond_compliance"] = compliance_with_and_without_guidance(explanations)
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
