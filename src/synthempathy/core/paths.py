"""Where the pipelines leave the files that code outside a stage reads.

A stage takes every path it touches from its dvc.yaml `cmd` (core/entry_point.py: `stage`),
so dvc.yaml names the pipelines' files. What reads them afterwards, outside `dvc repro`
(the release, the dataset card, tests and benchmarks), finds them here; tests/test_dvc_wiring.py
checks that each path below is a dep or an out in one of the three dvc.yaml files.
"""

from __future__ import annotations

CORPUS = "data/corpus/corpus.jsonl"
JUDGEMENTS = "data/judged/epitome.jsonl"
CALIBRATED = "calibration/calibrated_judges.json"
"""Which judges agree with EPITOME's humans, and how well: git-tracked, written by the calibration pipeline."""
SYNTHETIC_LABELS = "tests/data/synthetic_epitome.jsonl"
"""Hand-labelled synthetic-style pairs (git, written for this project): every judge is also scored on them."""
SYNTHETIC_TRAIN = "calibration/synthetic_train.jsonl"
"""Other hand-labelled synthetic-style pairs, with rationales: the encoder judge may also train on them."""
ENCODER_MODEL = "data/calibration/encoder.safetensors"
DOWNSTREAM_BASE, DOWNSTREAM_ADAPTER = "data/downstream/base", "data/downstream/adapter"
DOWNSTREAM_PROMPTS = "data/downstream/prompts.jsonl"


def metrics_of(stage: str) -> str:
    """A stage's metrics file (`downstream` for the downstream pipeline's score stage)."""
    return f"metrics/{stage}.json"
