"""The judge against human labels: every figure metrics/judge_calibration.json holds.

Two judges are compared on the same test pairs, the ones the LLM judge
scored (a sample of the test split, calibration.sample): the configured LLM
judge and the trained classifier (classifier.py). The classifier is also
reported on the whole test split, where its figures are steadier. Beside
them, the majority-class baseline: always answer the level most common in
dev, which scores QWK 0 by construction and often a high accuracy, which is
why accuracy alone says little here. A pair the LLM judge failed to score
(listed in llm_failed.jsonl) counts in `failed`, not as a wrong answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from .agreement import accuracy, macro_f1, report
from .judge import MECHANISMS, SHORT
from .records import EpitomeExample

Levels = Mapping[str, Mapping[str, int]]
"""id -> mechanism -> level."""


def majority_levels(dev: Sequence[EpitomeExample]) -> dict[str, int]:
    """The most common human level per mechanism in dev (ties go to the lower level)."""
    out = {}
    for m in MECHANISMS:
        counts = Counter(getattr(e, m) for e in dev)
        out[m] = max(sorted(counts), key=lambda level: counts[level])
    return out


def judge_report(examples: Sequence[EpitomeExample], judged: Levels, brief: bool = False) -> dict:
    """Per mechanism (ER, IP, EX): agreement of `judged` with the humans on `examples`."""
    out = {}
    for m in MECHANISMS:
        human = [getattr(e, m) for e in examples]
        judge = [judged[e.id][m] for e in examples]
        full = report(human, judge)
        out[SHORT[m]] = {k: full[k] for k in ("n", "accuracy", "macro_f1", "qwk")} if brief else full
    return out


def majority_report(examples: Sequence[EpitomeExample], majority: Mapping[str, int]) -> dict:
    out = {}
    for m in MECHANISMS:
        human = [getattr(e, m) for e in examples]
        constant = [majority[m]] * len(human)
        out[SHORT[m]] = {"level": majority[m], "accuracy": round(accuracy(human, constant), 4),
                         "macro_f1": round(macro_f1(human, constant), 4)}
    return out


def calibration_metrics(dev: Sequence[EpitomeExample], test: Sequence[EpitomeExample], llm: Levels,
                        llm_failed: int, classifier: Levels, split: Mapping[str, int]) -> dict:
    """Everything metrics/judge_calibration.json holds; `llm` covers the sampled test pairs it scored."""
    scored = [e for e in test if e.id in llm]
    return {
        "split": dict(split),
        "llm": {**judge_report(scored, llm), "failed": llm_failed},
        "classifier": judge_report(scored, classifier),
        "classifier_all_test": judge_report(test, classifier, brief=True),
        "majority": majority_report(scored, majority_levels(dev)),
    }


def confusion_rows(examples: Sequence[EpitomeExample], judged: Levels, mechanism: str) -> list[tuple[int, int]]:
    """One (human level, judge level) row per pair, what `dvc plots`' confusion template draws."""
    return [(getattr(e, mechanism), judged[e.id][mechanism]) for e in examples if e.id in judged]
