"""Every file a stage reads or writes, named once.

Stage scripts, the release and the card import these names; dvc.yaml and
calibration/dvc.yaml cannot import Python, so tests/test_dvc_wiring.py checks that each
stage there lists exactly the files of `STAGE_FILES` (and `CALIBRATION_FILES`).
"""

from __future__ import annotations

SEED_DIR = "data/seeds"
"""Seed files (seeds.files must lie in here: dvc.yaml tracks the folder)."""
SEED_SET, SEED_REJECTS = "data/taxonomy/seeds.jsonl", "data/taxonomy/rejects.jsonl"
STORIES, STORY_REJECTS = "data/stories/stories.jsonl", "data/stories/rejects.jsonl"
EXPLANATIONS, EXPLANATION_REJECTS = "data/explanations/explanations.jsonl", "data/explanations/rejects.jsonl"
PAIRS, PAIR_REJECTS = "data/pairs/pairs.jsonl", "data/pairs/rejects.jsonl"
CORPUS, CORPUS_REJECTS = "data/corpus/corpus.jsonl", "data/corpus/rejects.jsonl"
JUDGEMENTS, JUDGE_FAILED = "data/judged/epitome.jsonl", "data/judged/failed.jsonl"
CALIBRATED = "calibration/calibrated_judges.json"
"""Which judges agree with EPITOME's humans, and how well: git-tracked, written by the calibration pipeline."""

EPITOME_DIR = "data/epitome"
"""The user's copy of EPITOME (research-only, never committed or released)."""
EPITOME_FILES = {
    "emotional_reaction": "emotional-reactions-reddit.csv",
    "interpretation": "interpretations-reddit.csv",
    "exploration": "explorations-reddit.csv",
}
"""EPITOME's file per mechanism, as its repository names them."""
DEV, TEST, SPLIT = "data/calibration/dev.jsonl", "data/calibration/test.jsonl", "data/calibration/split.json"
LLM_JUDGEMENTS, LLM_FAILED = "data/calibration/llm_judgements.jsonl", "data/calibration/llm_failed.jsonl"
LLM_JUDGE_RUN = "data/calibration/llm_judge_run.json"
CLASSIFIER_MODEL = "data/calibration/classifier.pkl"
CLASSIFIER_JUDGEMENTS = "data/calibration/classifier_judgements.jsonl"
ENCODER_MODEL = "data/calibration/encoder.safetensors"
ENCODER_JUDGEMENTS = "data/calibration/encoder_judgements.jsonl"
ENCODER_LOSS = "plots/calibration_encoder_loss.csv"
SYNTHETIC_LABELS = "tests/data/synthetic_epitome.jsonl"
"""Hand-labelled synthetic-style pairs (git, written for this project): every judge is also scored on them."""
SYNTHETIC_TRAIN = "calibration/synthetic_train.jsonl"
"""Other hand-labelled synthetic-style pairs, with rationales: the encoder judge may also train on them."""
CALIBRATION_PLOTS = "plots/calibration"

DOWNSTREAM_BASE = "data/downstream/base"
"""The base model as a Hugging Face folder (converted once from a GGUF), plus base.json naming its source."""
DOWNSTREAM_TRAIN, DOWNSTREAM_PROMPTS = "data/downstream/train.jsonl", "data/downstream/prompts.jsonl"
DOWNSTREAM_ADAPTER = "data/downstream/adapter"
"""The trained LoRA: peft's files, adapter.gguf for llama.cpp and training.json."""
DOWNSTREAM_RESPONSES = "data/downstream/responses.jsonl"
DOWNSTREAM_SCORES = "data/downstream/scores.jsonl"


def metrics_of(stage: str) -> str:
    """A stage's metrics file (`judge_calibration` for the calibration report)."""
    return f"metrics/{stage}.json"


def plot_of(name: str) -> str:
    """A plot's data file, for `dvc plots show`."""
    return f"plots/{name}.csv"


EVALUATE_PLOTS = (plot_of("explanation_words"), plot_of("response_words"), plot_of("epitome"))
HEADLINE, DOWNSTREAM_HEADLINE = metrics_of("headline"), metrics_of("downstream_headline")
"""Each pipeline's few numbers to compare first (core/metrics.py: Headline, DownstreamHeadline)."""


STAGE_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "seeds": ((SEED_DIR,), (SEED_SET, SEED_REJECTS)),
    "brainstorm": ((SEED_SET,), (STORIES, STORY_REJECTS)),
    "rewrite": ((STORIES,), (EXPLANATIONS, EXPLANATION_REJECTS)),
    "respond": ((EXPLANATIONS,), (PAIRS, PAIR_REJECTS)),
    "filter": ((PAIRS, STORY_REJECTS, EXPLANATION_REJECTS, PAIR_REJECTS), (CORPUS, CORPUS_REJECTS)),
    "judge": ((CORPUS,), (JUDGEMENTS, JUDGE_FAILED)),
    "evaluate": ((CORPUS, CORPUS_REJECTS, JUDGEMENTS, JUDGE_FAILED, CALIBRATED), ()),
}
"""(data read, data written) per stage of dvc.yaml; metrics are `metrics_of(stage)`, plots EVALUATE_PLOTS."""

OUTPUTS = (*(out for _, writes in STAGE_FILES.values() for out in writes), *map(metrics_of, STAGE_FILES),
           *EVALUATE_PLOTS)
"""Every file `dvc repro` writes."""

CALIBRATION_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "split": (tuple(f"{EPITOME_DIR}/{name}" for name in EPITOME_FILES.values()), (DEV, TEST, SPLIT)),
    "judge": ((TEST, SYNTHETIC_LABELS), (LLM_JUDGEMENTS, LLM_FAILED, LLM_JUDGE_RUN)),
    "classifier": ((DEV, TEST, SYNTHETIC_LABELS), (CLASSIFIER_MODEL, CLASSIFIER_JUDGEMENTS)),
    "encoder": ((DEV, TEST, SYNTHETIC_LABELS, SYNTHETIC_TRAIN), (ENCODER_MODEL, ENCODER_JUDGEMENTS)),
    "report": ((DEV, TEST, SPLIT, SYNTHETIC_LABELS, LLM_JUDGEMENTS, LLM_FAILED, CLASSIFIER_JUDGEMENTS, CLASSIFIER_MODEL,
                ENCODER_JUDGEMENTS, ENCODER_MODEL), ()),
}
"""The same for calibration/dvc.yaml (run from the project root). The report also writes
CALIBRATED, deliberately not as a DVC out (see stages/calibration/report.py)."""

DOWNSTREAM_PLOTS = (plot_of("downstream_loss"), plot_of("downstream_scores"))

DOWNSTREAM_FILES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "base": ((), (DOWNSTREAM_BASE,)),
    "split": ((CORPUS, EXPLANATIONS), (DOWNSTREAM_TRAIN, DOWNSTREAM_PROMPTS)),
    "train": ((DOWNSTREAM_BASE, DOWNSTREAM_TRAIN), (DOWNSTREAM_ADAPTER,)),
    "generate": ((DOWNSTREAM_BASE, DOWNSTREAM_ADAPTER, DOWNSTREAM_PROMPTS), (DOWNSTREAM_RESPONSES,)),
    "score": ((DOWNSTREAM_RESPONSES, DOWNSTREAM_ADAPTER, CALIBRATED), (DOWNSTREAM_SCORES,)),
}
"""The same for downstream/dvc.yaml (run from the project root); the score stage writes
metrics_of("downstream"), train and score the DOWNSTREAM_PLOTS."""
