"""The judge against human labels: every figure metrics/judge_calibration.json holds.

Three judges are compared on the same test pairs, the ones the LLM judge
scored (a sample of the test split, calibration.sample): the configured LLM
judge and the two trained ones, the classifier (classifier.py) and the encoder
(encoder.py). The trained judges are also reported on the whole test split,
where their figures are steadier, with 95% bootstrap intervals of QWK. Every
judge is also scored on the hand-labelled synthetic-style pairs
(tests/data/synthetic_epitome.jsonl): long responses like the corpus's, the
text the judge is actually used on. Beside them, the majority-class baseline:
always answer the level most common in dev, which scores QWK 0 by construction
and often a high accuracy, which is why accuracy alone says little here. A
pair the LLM judge failed to score (listed in llm_failed.jsonl) counts in
`failed`, not as a wrong answer.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

from synthempathy.core.records import ClassifierProvenance, EpitomeExample, Judgement, Provenance
from synthempathy.epitome.agreement import accuracy, bootstrap_interval, macro_f1, report
from synthempathy.epitome.scores import MECHANISMS, SHORT

"""Which judges were calibrated and their test QWK: written by the calibration report stage,
git-tracked, and read by the corpus pipeline's evaluate stage and the release card."""

Levels = Mapping[str, Mapping[str, int]]
"""id -> mechanism -> level."""


def majority_levels(dev: Sequence[EpitomeExample]) -> dict[str, int]:
    """The most common human level per mechanism in dev (ties go to the lower level)."""
    out = {}
    for m in MECHANISMS:
        counts = Counter(getattr(e, m) for e in dev)
        out[m] = max(sorted(counts), key=lambda level: counts[level])
    return out


def judge_report(examples: Sequence[EpitomeExample], judged: Levels, brief: bool = False,
                 interval_seed: int | None = None) -> dict:
    """Per mechanism (ER, IP, EX): agreement of `judged` with the humans on the `examples` it scored;
    with `interval_seed`, QWK's 95% bootstrap interval too (qwk_low, qwk_high)."""
    examples = [e for e in examples if e.id in judged]
    out = {}
    for m in MECHANISMS:
        human = [getattr(e, m) for e in examples]
        judge = [judged[e.id][m] for e in examples]
        full = report(human, judge)
        out[SHORT[m]] = {k: full[k] for k in ("n", "accuracy", "macro_f1", "qwk")} if brief else full
        if interval_seed is not None:
            out[SHORT[m]]["qwk_low"], out[SHORT[m]]["qwk_high"] = bootstrap_interval(human, judge, seed=interval_seed)
    return out


def majority_report(examples: Sequence[EpitomeExample], majority: Mapping[str, int]) -> dict:
    out = {}
    for m in MECHANISMS:
        human = [getattr(e, m) for e in examples]
        constant = [majority[m]] * len(human)
        out[SHORT[m]] = {"level": majority[m], "accuracy": round(accuracy(human, constant), 4),
                         "macro_f1": round(macro_f1(human, constant), 4)}
    return out


TRAINED = ("classifier", "encoder")
"""The judges the calibration pipeline trains, which score every test pair."""


def calibration_metrics(dev: Sequence[EpitomeExample], test: Sequence[EpitomeExample],
                        synthetic: Sequence[EpitomeExample], judged: Mapping[str, Levels], llm_failed: int,
                        split: Mapping[str, int], seed: int) -> dict:
    """Everything metrics/judge_calibration.json holds. `judged` maps llm, classifier and encoder to
    their levels by id; the LLM's cover the sampled test pairs it scored and the synthetic ones."""
    scored = [e for e in test if e.id in judged["llm"]]
    return {
        "split": dict(split),
        "llm": {**judge_report(scored, judged["llm"]), "failed": llm_failed},
        **{name: judge_report(scored, judged[name]) for name in TRAINED},
        **{f"{name}_all_test": judge_report(test, judged[name], brief=True, interval_seed=seed) for name in TRAINED},
        "synthetic": {name: judge_report(synthetic, levels, brief=True, interval_seed=seed)
                      for name, levels in judged.items()},
        "majority": majority_report(scored, majority_levels(dev)),
    }


def confusion_rows(examples: Sequence[EpitomeExample], judged: Levels, mechanism: str) -> list[tuple[int, int]]:
    """One (human level, judge level) row per pair, what `dvc plots`' confusion template draws."""
    return [(getattr(e, mechanism), judged[e.id][mechanism]) for e in examples if e.id in judged]


def judge_identity(provenance: Provenance | ClassifierProvenance) -> dict:
    """What makes two judges one judge: for an LLM its model, prompt, grammar, format and
    sampling (not the seed, batch or CPU, which change single answers but not the judge's
    design); for a classifier the file's hash."""
    if isinstance(provenance, ClassifierProvenance):
        return trained_identity(provenance.scorer, provenance.model_sha256)
    return {"scorer": "llm", "model_sha256": provenance.backend.model_sha256, "prompt_sha256": provenance.prompt_sha256,
            "grammar_sha256": provenance.grammar_sha256, "prompt_format": provenance.prompt_format,
            "sampling": provenance.sampling}


def trained_identity(scorer: str, sha256: str) -> dict:
    """A trained judge (classifier, encoder) is the file it was saved to."""
    return {"scorer": scorer, "model_sha256": sha256}


def calibrated_judges(metrics: Mapping, llm: Provenance | None, trained_sha256: Mapping[str, str]) -> list[dict]:
    """One entry per calibrated judge: its identity, how many test pairs, QWK per mechanism on EPITOME's
    test split and on the synthetic-style pairs."""
    def entry(judge: dict, figures: Mapping, synthetic: Mapping) -> dict:
        return {"judge": judge, "test_pairs": figures["ER"]["n"],
                "qwk": {SHORT[m]: figures[SHORT[m]]["qwk"] for m in MECHANISMS},
                "synthetic_pairs": synthetic["ER"]["n"],
                "synthetic_qwk": {SHORT[m]: synthetic[SHORT[m]]["qwk"] for m in MECHANISMS}}

    entries = [entry(judge_identity(llm), metrics["llm"], metrics["synthetic"]["llm"])] if llm is not None else []
    return entries + [entry(trained_identity(name, sha), metrics[f"{name}_all_test"], metrics["synthetic"][name])
                      for name, sha in trained_sha256.items()]


def read_calibrated(path: str | Path) -> list[dict]:
    """The calibrated judges, or none when calibration never ran."""
    path = Path(path)
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else []


def calibration_of(judgements: Sequence[Judgement], calibrated: Sequence[Mapping]) -> Mapping | None:
    """The calibration entry of the one judge that scored every judgement, or None:
    no judgements, several judges, or a judge that was never calibrated."""
    identities = {json.dumps(judge_identity(j.provenance), sort_keys=True) for j in judgements}
    if len(identities) != 1:
        return None
    (identity,) = identities
    return next((e for e in calibrated if json.dumps(e["judge"], sort_keys=True) == identity), None)


def qwk_text(entry: Mapping, signed: bool = False) -> str:
    """ "ER 0.02, IP 0.10, EX 0.02": a calibration entry's QWK per mechanism, in EPITOME's order."""
    spec = "+.2f" if signed else ".2f"
    return ", ".join(f"{name} {entry['qwk'][name]:{spec}}" for name in SHORT.values())


def calibration_metrics_of(entry: Mapping | None) -> dict:
    """metrics/evaluate.json's judge_calibration block: numbers only, 0/1 for calibrated; QWK on EPITOME's
    test split and on the synthetic-style pairs (where the calibration measured it)."""
    if entry is None:
        return {"calibrated": 0}
    return {"calibrated": 1, "test_pairs": entry["test_pairs"],
            **{f"{name}_qwk": qwk for name, qwk in entry["qwk"].items()},
            **{f"{name}_synthetic_qwk": qwk for name, qwk in entry.get("synthetic_qwk", {}).items()}}
