"""The downstream pipeline's base model, as transformers trains it and llama.cpp serves it.

`downstream.base_model` is `embedded` (the corpus pipeline's Gemma 3 270M GGUF), a local .gguf, or a
local Hugging Face model folder (config.json, weights, tokenizer), such as Mistral-7B-v0.1 in the paper.

transformers reads a GGUF slowly (it rebuilds the tokenizer from the vocabulary and de-quantizes every
tensor: over a minute for 270M on 2 cores) and, from 5.17 on, marks the result as a quantized model
that can be neither trained nor saved. The base stage therefore converts a GGUF once into a plain fp32
Hugging Face folder, a DVC output that later stages load in seconds. The weights are llama.cpp's own,
de-quantized, so the LoRA learns against the weights llama.cpp will apply it to. A Hugging Face base
is used where it lies; the folder then holds only base.json, which names it.
"""

from __future__ import annotations

import copy
import hashlib
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from synthempathy.core.errors import UserError
from synthempathy.core.hashing import file_sha256
from synthempathy.core.jsonl import write_json
from synthempathy.generation.models import EMBEDDED, resolve_model

KEY = "params.yaml: downstream.base_model"
SOURCE_FILE = "base.json"
WEIGHT_SUFFIXES = (".safetensors", ".bin")


@dataclass(frozen=True)
class BaseSource:
    """Where the base model comes from: its kind, file or folder, name and sha256."""

    kind: Literal["gguf", "hf"]
    path: str
    name: str
    sha256: str
    """The GGUF's sha256, or for a folder the sha256 of its config and weight files' names and hashes."""


def resolve_base(spec: str) -> BaseSource:
    """downstream.base_model -> its source; a one-line error naming the key when it is neither."""
    path = Path(spec).expanduser()
    if spec == EMBEDDED or path.is_file():
        model = resolve_model(spec, KEY)
        return BaseSource("gguf", str(model.path), model.name, model.sha256)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise UserError(f"{KEY}: {spec!r} is a folder without config.json (a Hugging Face model folder has one)")
        return BaseSource("hf", str(path), path.name, folder_sha256(path))
    raise UserError(f"{KEY}: {spec!r} does not exist (use 'embedded', a local .gguf or a Hugging Face model folder)")


def folder_sha256(folder: Path) -> str:
    """A Hugging Face folder's identity: its config and weight files, by name and content."""
    files = sorted(p for p in folder.iterdir() if p.name == "config.json" or p.suffix in WEIGHT_SUFFIXES)
    if not any(p.suffix in WEIGHT_SUFFIXES for p in files):
        raise UserError(f"{KEY}: {folder} holds no weights (*.safetensors or *.bin)")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return digest.hexdigest()


def prepare(source: BaseSource, out: Path) -> None:
    """Write the base stage's folder: for a GGUF the converted model and tokenizer, always base.json."""
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        if source.kind == "gguf":
            _convert_gguf(Path(source.path), tmp)
        write_json(tmp / SOURCE_FILE, asdict(source) | {"path": source.name})
        replace_folder(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def replace_folder(new: Path, old: Path) -> None:
    """Put the finished folder `new` where `old` was, so an interrupted run never leaves half of one."""
    previous = old.with_name(f".{old.name}.previous")
    shutil.rmtree(previous, ignore_errors=True)
    if old.exists():
        old.rename(previous)
    new.rename(old)
    shutil.rmtree(previous, ignore_errors=True)


def _convert_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    except (ValueError, KeyError, OSError) as exc:
        raise UserError(f"{KEY}: transformers cannot read {gguf.name} ({str(exc).splitlines()[0]})") from None
    # Rebuild as a plain model: transformers >= 5.17 marks every GGUF load as quantized, which
    # refuses training and saving although the weights are already dense fp32 tensors.
    config = copy.deepcopy(loaded.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), strict=True, assign=True)
    model.tie_weights()
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)


def resolve_device(setting: str) -> str:
    """downstream.device -> cpu or cuda; cuda asked for where there is none is an error."""
    import torch

    if setting == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if setting == "cuda" and not torch.cuda.is_available():
        raise UserError("params.yaml: downstream.device: cuda, but torch sees no CUDA device "
                        f"(torch {torch.__version__}; use cpu or auto)")
    return setting


def read_source(folder: str | Path) -> BaseSource:
    """The base.json the base stage wrote."""
    path = Path(folder) / SOURCE_FILE
    if not path.is_file():
        raise UserError(f"{path}: not found (run the base stage: dvc repro downstream/dvc.yaml)")
    return BaseSource(**json.loads(path.read_text(encoding="utf-8")))


def training_folder(folder: str | Path, spec: str) -> Path:
    """Where transformers loads the base from: the converted folder, or a Hugging Face base in place."""
    source = read_source(folder)
    return Path(folder) if source.kind == "gguf" else Path(spec).expanduser()
