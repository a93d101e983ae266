"""Which emotion the Chain-of-Empathy emotion step names: a grammar over the list against the
likelihood pick (generation/choice.py), with the embedded model and params.yaml's llm settings.

Both run the respond stage's emotion step alone, on its prompt (prompts/respond.txt), against an
empty request cache:
  grammar     the step before this change: sampled at respond's settings, held to a GBNF
              grammar of the same list (benchmarks/data/emotion_list.gbnf, the replaced
              prompts/emotion.gbnf), the grammar checked lazily as the batched backend does;
  likelihood  the step now: every entry of prompts/emotions.txt scored, the one the text raises
              most over an "N/A" text named (generation/choice.py);
  uncalibrated the same scores without the N/A text's subtracted: the likeliest entry named.

On two sets of explanations:
  labelled    benchmarks/data/emotion_labels.jsonl: 36 first-person explanations (32 written
              for this set, 4 shortened from a default run's) with the entries a person
              reading them would accept (2-5 each, labelled before either method ran);
              agreement = share whose first named emotion is one of them (any = any named);
  corpus      data/explanations/explanations.jsonl of the last `dvc repro` (no labels):
              how the named emotions spread (top share, distinct entries, repeats).

Usage: PYTHONPATH=src .venv/bin/python benchmarks/emotion_benchmark.py [--json F]
Results: benchmarks/EMOTION.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from synthempathy.core.params import load_params  # noqa: E402
from synthempathy.generation.cache import RequestCache  # noqa: E402
from synthempathy.generation.choice import continuations, load_choices, pick  # noqa: E402
from synthempathy.generation.driver import Generator, Item, Step  # noqa: E402
from synthempathy.generation.llm import make_backend  # noqa: E402
from synthempathy.generation.prompts import load_template  # noqa: E402
from synthempathy.quality.stats import emotion_spread  # noqa: E402

LABELS = ROOT / "benchmarks/data/emotion_labels.jsonl"
GRAMMAR = ROOT / "benchmarks/data/emotion_list.gbnf"


def name_emotions(method: str, texts: list[str]) -> list[list[str] | None]:
    """The emotions the step names for each text (None: no answer after llm.max_attempts)."""
    params = load_params(ROOT / "params.yaml")
    respond = params.respond
    emotions = load_choices(ROOT / respond.emotion_list, "respond.emotion_list")
    if method == "uncalibrated":
        return uncalibrated(params, emotions, texts)
    if method == "likelihood":
        step, grammar = Step("emotion", single_line=True, choices=emotions), None
    else:
        step, grammar = Step("emotion", single_line=True), GRAMMAR.read_text(encoding="utf-8")
    template = load_template(ROOT / respond.prompt, {"explanation", "guidance"})
    backend = make_backend(params.llm)
    with tempfile.TemporaryDirectory() as tmp:
        cache = RequestCache(Path(tmp) / "cache.sqlite")
        try:
            generator = Generator("respond", template, respond, params.llm, backend, cache, (step,), grammar)
            outcomes = generator.run([Item(id=f"x{i}", values={"explanation": t, "guidance": ""})
                                      for i, t in enumerate(texts)])
        finally:
            backend.close()
            cache.close()
    return [o.fields["emotion"].split(" and ") if o.fields else None for o in outcomes]


def uncalibrated(params, emotions: tuple[str, ...], texts: list[str]) -> list[list[str]]:
    """The likeliest entries given each text alone, scored by the backend as the step scores them."""
    template = load_template(ROOT / params.respond.prompt, {"explanation", "guidance"})
    backend = make_backend(params.llm)
    try:
        flat = [0.0] * 2 * len(emotions)
        return [pick(emotions, backend.score(template.render(explanation=text, guidance=""), continuations(emotions),
                                             params.respond).logprobs, flat).strip().split(" and ")
                for text in texts]
    finally:
        backend.close()


def spread(named: list[list[str] | None]) -> dict:
    """Evaluate's emotion_spread (distinct, top_share: a repeated emotion counts once per pair), plus
    which emotion is on top, how many answers repeat or pair two, and every emotion's count."""
    answered = [n for n in named if n]
    counts = Counter(e for n in answered for e in set(n))
    return {"answered": len(answered), "of": len(named), **emotion_spread(answered),
            "top": counts.most_common(1)[0][0] if counts else "",
            "repeated": sum(len(set(n)) < len(n) for n in answered),
            "two": sum(len(n) == 2 for n in answered), "counts": dict(counts.most_common())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    labelled = [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus_file = ROOT / "data/explanations/explanations.jsonl"
    corpus = [json.loads(line)["explanation"] for line in corpus_file.read_text(encoding="utf-8").splitlines()]
    results = {}
    for method in ("grammar", "uncalibrated", "likelihood"):
        named = name_emotions(method, [row["explanation"] for row in labelled])
        first = sum(bool(n) and n[0] in row["labels"] for n, row in zip(named, labelled))
        any_ = sum(bool(n) and bool(set(n) & set(row["labels"])) for n, row in zip(named, labelled))
        results[method] = {
            "labelled": {"agreement_first": round(first / len(labelled), 3),
                         "agreement_any": round(any_ / len(labelled), 3), **spread(named),
                         "named": [" and ".join(n) if n else None for n in named]},
            "corpus": spread(name_emotions(method, corpus)),
        }
        for part in ("labelled", "corpus"):
            r = results[method][part]
            agreement = f"agreement {r['agreement_first']:.0%} (any {r['agreement_any']:.0%}), " if part == "labelled" else ""
            print(f"{method:12} {part:8} {agreement}{r['answered']}/{r['of']} answered, {r['distinct']} distinct, "
                  f"top {r['top']} {r['top_share']:.0%}, {r['two']} with two, {r['repeated']} repeated", flush=True)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
