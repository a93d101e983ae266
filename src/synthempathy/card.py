"""The dataset card written with every release (release/README.md).

Hugging Face dataset-card layout: a YAML header the Hub indexes (license,
language, size category, task, data files), then what a user needs to trust and
cite the data: statistics from metrics/, the funnel, every model and prompt
with its sha256, the params, how to rebuild it, limitations and how to cite
the SYNTHEMPATHY paper. Everything comes from committed files and the corpus
itself, so the card is the same bytes whenever the same state is released.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import yaml

from synthempathy.core.jsonl import read_records
from synthempathy.core.metrics import DownstreamMetrics, EvaluateMetrics, FilterMetrics, read_metrics
from synthempathy.core.params import load_params
from synthempathy.core.paths import CALIBRATED, CORPUS, JUDGEMENTS, metrics_of
from synthempathy.core.records import ClassifierProvenance, Judgement, Pair, Provenance
from synthempathy.epitome.calibration import calibration_of, qwk_text, read_calibrated
from synthempathy.quality.stats import FUNNEL_STAGES

CITATION = """@misc{chen2025synthempathy,
  title         = {{SYNTHEMPATHY}: A Scalable Empathy Corpus Generated Using {LLMs} Without Any Crowdsourcing},
  author        = {Chen, Run and Shin, Jun and Hirschberg, Julia},
  year          = {2025},
  eprint        = {2502.17857},
  archivePrefix = {arXiv},
  primaryClass  = {cs.CL}
}"""


def size_category(n: int) -> str:
    """The Hub's size bucket for n examples."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if n < limit:
            return name
    return "n>1M"


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _lineage(provenances: Iterable[tuple[str, Provenance | ClassifierProvenance]]) -> tuple[list[tuple], list[tuple]]:
    """Distinct (stage, model, sha256) and (stage, prompt, sha256) rows, in first-seen order."""
    models, prompts = {}, {}
    for stage, prov in provenances:
        model = prov.backend if isinstance(prov, Provenance) else prov
        models.setdefault((stage, model.model, f"`{model.model_sha256}`"), None)
        if isinstance(prov, Provenance):
            prompts.setdefault((stage, f"`{prov.prompt}`", f"`{prov.prompt_sha256}`"), None)
    return list(models), list(prompts)


SCORER_NAMES = {"llm": "LLM judge", "classifier": "trained classifier", "encoder": "trained sentence-encoder judge"}


def judge_trust(judgements: list[Judgement], calibrated_at: str | None, calibrated: list[dict]) -> str:
    """One paragraph: how well the judge that scored this corpus agrees with EPITOME's humans."""
    entry = calibration_of(judgements, calibrated)
    if entry is None:
        return ("**Judge not calibrated.** The judge that produced the EPITOME scores above was never compared with "
                "human labels, so treat them as unvalidated (README of the source repository, 'Calibrate the judge').")
    scorer = SCORER_NAMES[entry["judge"]["scorer"]]
    synthetic = (f" On {entry['synthetic_pairs']} hand-labelled synthetic pairs written like this corpus's (long responses), "
                 f"its quadratic weighted kappa is {qwk_text({'qwk': entry['synthetic_qwk']})}."
                 if "synthetic_qwk" in entry else "")
    return (f"The {scorer} that produced the EPITOME scores above agrees with EPITOME's human labels on "
            f"{entry['test_pairs']} held-out Reddit pairs with quadratic weighted kappa {qwk_text(entry)} "
            f"(0 is chance, 1 perfect; calibration of {calibrated_at or 'an uncommitted state'}, "
            f"`{CALIBRATED}`).{synthetic} EPITOME's own RoBERTa classifiers reach accuracy 0.82-0.91 on that data.")


def sensitive_content(params, filt: FilterMetrics, pairs: list[Pair]) -> str:
    """Crisis disclosures: the filter's counts, the policy it applied and what this release holds."""
    safety = params.filter.safety
    if not safety.enabled or filt.safety is None:
        return "Crisis disclosures were not checked (`filter.safety.enabled: false`)."
    held = Counter(p.safety.category for p in pairs if p.safety)
    rows = [(c.replace("_", " "), n.flagged, n.compliant, safety.policy.get(c, "drop"), n.dropped, held[c])
            for c, n in filt.safety.items()]
    sft = {"label": "carry their `safety` label in `sft.jsonl` too",
           "omit": "are left out of `sft.jsonl`"}[params.release.sft_flagged]
    return (
        "Explanations that disclose suicidal thoughts or self-harm, abuse or violence, or a medical emergency were "
        "flagged by a phrase lexicon with idiom rules (precision and recall in the project's benchmarks/SAFETY.md), "
        "and each flagged pair's response was checked for safe-messaging practice: it acknowledges the risk, "
        "points to a professional, emergency services or a crisis line, gives no method detail and does not "
        "minimise. Policy per category: drop (never kept), label (kept with a `safety` field naming the category, "
        "the phrase and the response's problems), require_compliant (kept and labelled only when the response "
        f"complies). Flagged pairs in this release {sft}.\n\n"
        + _table(("category", "flagged", "compliant responses", "policy", "dropped", "in this release"), rows))


DOWNSTREAM_LOCK = "downstream/dvc.lock"


def downstream_result(root: Path) -> str | None:
    """What fine-tuning on this very corpus did (downstream/dvc.yaml), or None when no result is for it:
    the downstream lock must name the corpus file the release holds (same md5), and its metrics exist."""
    lock, metrics = root / DOWNSTREAM_LOCK, root / metrics_of("downstream")
    if not lock.is_file() or not metrics.is_file():
        return None
    stages = yaml.safe_load(lock.read_text(encoding="utf-8"))["stages"]
    split = stages.get("split", {})
    trained_on = next((d.get("md5") for d in split.get("deps", []) if d["path"] == CORPUS), None)
    if trained_on != hashlib.md5((root / CORPUS).read_bytes()).hexdigest():
        return None
    figures = read_metrics(metrics, DownstreamMetrics)
    block = figures.held_out
    base_model = stages.get("base", {}).get("params", {}).get("params.yaml", {}).get("downstream.base_model", "?")

    def change(part: str) -> str:
        c = block.change_pct[part]
        return "undefined (base mean 0)" if c.value is None else f"{c.value:+.1f}% [{c.low:+.1f}, {c.high:+.1f}]"

    judge = figures.judge
    trust = ("by a judge whose agreement with EPITOME's humans was calibrated (test QWK "
             + ", ".join(f"{m} {getattr(judge, f'{m}_qwk'):.2f}" for m in ("ER", "IP", "EX")) + ")"
             if judge.calibrated else "by a judge that was never calibrated against human labels")
    return (f"A LoRA fine-tune of `{base_model}` on {figures.train_pairs} pairs of this corpus (seed situations "
            f"held out) answered {block.prompts} held-out prompts; against the untuned model its EPITOME total "
            f"(0-6) went from {block.base.total.mean:.2f} to {block.tuned.total.mean:.2f}, a change of "
            f"{change('total')} (95% paired-bootstrap interval); ER {change('ER')}, IP {change('IP')}, "
            f"EX {change('EX')}, scored {trust}. The paper reports +21% for Mistral 7B fine-tuned on its 105k pairs.")


def dataset_card(root: Path, version: str, pairs: list[Pair], source_commit: str,
                 calibrated_at: str | None = None) -> str:
    """The card's text; `calibrated_at` says when CALIBRATED last changed ("2026-11-26, commit abc1234")."""
    params = load_params(root / "params.yaml")
    ev = read_metrics(root / metrics_of("evaluate"), EvaluateMetrics)
    filt = read_metrics(root / metrics_of("filter"), FilterMetrics)
    header = {
        "pretty_name": f"synthempathy corpus v{version}",
        "license": params.release.license,
        "language": ["en"],
        "size_categories": [size_category(len(pairs))],
        "task_categories": ["text-generation"],
        "task_ids": ["dialogue-generation"],
        "tags": ["empathy", "emotional-support", "synthetic", "chain-of-empathy"],
        "configs": [
            {"config_name": "default", "data_files": [{"split": "train", "path": "corpus.jsonl"}]},
            {"config_name": "sft", "data_files": [{"split": "train", "path": "sft.jsonl"}]},
        ],
    }
    words = {"explanation": ev.explanation_words, "response": ev.response_words}
    epitome = ev.epitome
    judged = root / JUDGEMENTS
    judgements = read_records(judged, Judgement) if judged.exists() else []
    models, prompts = _lineage([
        *((stage, prov) for pair in pairs for stage, prov in pair.provenance.items()),
        *(("judge", j.provenance) for j in judgements),
    ])
    stats_rows = [
        ("pairs", len(pairs), "105,578"),
        *[(f"words per {f} (mean ± std)", f"{w.mean} ± {w.std}", w.paper_mean) for f, w in words.items()],
        *[(f"EPITOME {m} (0-2, mean ± std)", f"{s.mean} ± {s.std}", "")
          for m, s in (("ER", epitome.ER), ("IP", epitome.IP), ("EX", epitome.EX))],
        ("EPITOME total (0-6)", f"{epitome.total.mean} ± {epitome.total.std}", ""),
        *[(f"{f}: distinct-1 / distinct-2 / nearest-neighbour similarity",
           f"{d.distinct_1} / {d.distinct_2} / {d.nearest_neighbour_similarity}", "")
          for f, d in ev.diversity.items()],
        ("toxicity flagged after filter", ev.toxicity.flagged_rate, ""),
    ]
    funnel = ev.funnel.model_dump()
    sections = [
        "---\n" + yaml.safe_dump(header, sort_keys=False, allow_unicode=True) + "---",
        f"# synthempathy corpus v{version}",
        f"{len(pairs)} synthetic explanation-response pairs: a person describes an everyday stressor in the first "
        "person, and a listener answers with empathy. Generated by local LLMs with no crowdsourcing, following the "
        "SYNTHEMPATHY recipe (brainstorm stories from stressor seeds, rewrite them as first-person explanations, "
        "respond with Chain-of-Empathy, filter, score with EPITOME).",
        "## Files\n\n" + _table(("file", "content"), [
            ("`corpus.jsonl`", "one pair per line: `id`, `category`, `situation`, `story`, `explanation`, "
                               "`emotion`, `cause`, `response`, and per-stage `provenance`"),
            ("`sft.jsonl`", "the same pairs as chat `messages` (user: explanation, assistant: response) for TRL, "
                            "axolotl and OpenAI fine-tuning"),
        ]),
        "## Statistics\n\n" + _table(("measure", "this release", "paper"), stats_rows),
        "### How far to trust the EPITOME scores\n\n" + judge_trust(judgements, calibrated_at,
                                                                  read_calibrated(root / CALIBRATED)),
        *([f"### Does it make a model more empathetic?\n\n{result}"] if (result := downstream_result(root)) else []),
        "## Funnel\n\n" + _table(("items entering", "count"),
                                  [(key, funnel[key]) for key in [*(f"{s}_in" for s in FUNNEL_STAGES), "corpus"]])
        + "\n\nFilter drops: " + (", ".join(f"{k} {v}" for k, v in filt.dropped.items()) or "none") + ".",
        "## Pairs per category\n\n" + _table(("category", "pairs"), list(ev.per_category.items())),
        "## How it was made\n\n"
        f"Built by the synthempathy DVC pipeline at commit `{source_commit}`. To rebuild it byte for byte on CPU: "
        f"`git checkout corpus-v{version} && dvc repro`; to fetch the exact files instead: `dvc pull`.",
        "### Models\n\n" + _table(("stage", "model", "sha256"), models),
        "### Prompts\n\n" + _table(("stage", "template", "sha256"), prompts),
        "### Parameters\n\n```yaml\n" + (root / "params.yaml").read_text(encoding="utf-8").rstrip() + "\n```",
        "## Known limitations\n\n"
        "- Every text is machine-written. Stories and responses can be generic, repetitive or factually odd, and "
        "the speakers' situations are invented, not reports of real people.\n"
        "- Quality depends on the models above. A small model writes shorter texts than the paper's "
        "(compare the word counts) and is a weak EPITOME judge: treat its scores as a rough signal.\n"
        "- Seeds come from the project's own stressor taxonomy, not the paper's SAD dataset, so topic coverage differs.",
        "## Sensitive content\n\n"
        "The texts talk about stress, grief, money trouble, illness and conflict. Toxic and offensive outputs were "
        "filtered automatically (see the toxicity row above), which misses some. The responses are not "
        "professional or clinical advice and must not be used as a substitute for it, or to build a system that "
        "claims to give it.\n\n" + sensitive_content(params, filt, pairs),
        "## Citation\n\nIf you use this corpus, cite the paper whose method it follows:\n\n```bibtex\n" + CITATION + "\n```",
    ]
    return "\n\n".join(sections) + "\n"
