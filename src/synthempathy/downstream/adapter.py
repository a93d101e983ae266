"""The trained adapter's folder: peft's files, adapter.gguf for llama.cpp, and training.json.

training.json says what the adapter was trained for (the base's name and sha256) and on what, so
generation refuses an adapter meant for another base instead of answering with a broken model.
"""

from __future__ import annotations

import json
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.downstream.base_model import BaseSource

GGUF_FILE = "adapter.gguf"
TRAINING_FILE = "training.json"
PEFT_WEIGHTS = "adapter_model.safetensors"


def read_training(adapter: str | Path) -> dict:
    path = Path(adapter) / TRAINING_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found (run the train stage: dvc repro downstream/dvc.yaml)")
    return json.loads(path.read_text(encoding="utf-8"))


def check_base(adapter: str | Path, source: BaseSource) -> dict:
    """training.json, once it is sure the adapter was trained on `source`; else a one-line error."""
    training = read_training(adapter)
    trained_on = training["base"]
    if trained_on["sha256"] != source.sha256:
        raise UserError(f"params.yaml: downstream.base_model: {adapter} was trained on {trained_on['name']} "
                        f"(sha256 {trained_on['sha256'][:12]}), not on {source.name} (sha256 {source.sha256[:12]}); "
                        "re-run the train stage (dvc repro downstream/dvc.yaml)")
    return training
