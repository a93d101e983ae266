"""A peft LoRA adapter as a GGUF adapter that llama.cpp applies (`Llama(lora_path=...)`).

So the tuned model generates through the same llama.cpp backends, batching and request cache as the
corpus, on the exact weights the base GGUF holds. The layout is llama.cpp's (what its
convert_lora_to_gguf.py writes, which needs the base model's Hugging Face config and so the Hub):
metadata `general.type = adapter`, `adapter.type = lora`, `adapter.lora.alpha`, the base's
`general.architecture`; per adapted weight `<gguf name>.lora_a` (peft's lora_A, [r, in]) and
`.lora_b` (lora_B, [out, r]), untransposed, in F32. llama.cpp applies scale x alpha / r, as peft does.

Only architectures whose converter leaves the projection weights as they are (Gemma 3 and its
kin) are accepted: llama.cpp's llama converter permutes q and k rows, which the adapter's B
matrices would have to follow.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from synthempathy.core.errors import UserError

UNPERMUTED = {"gemma", "gemma2", "gemma3", "qwen2", "qwen3"}
"""llama.cpp architectures whose attention and MLP weights are stored as in Hugging Face."""
PEFT_KEY = re.compile(r"^base_model\.model\.(?P<module>.+)\.lora_(?P<half>[AB])\.weight$")


def gguf_architecture(gguf: Path) -> tuple[str, int]:
    """(general.architecture, block count) of a GGUF model file."""
    from gguf import GGUFReader

    reader = GGUFReader(str(gguf))
    arch = reader.fields["general.architecture"].contents()
    return arch, int(reader.fields[f"{arch}.block_count"].contents())


def convert(adapter_dir: Path, base_gguf: Path, out: Path) -> int:
    """Write `out`, the GGUF form of the peft adapter in `adapter_dir` for the model `base_gguf`;
    returns the number of adapted weights."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    arch, blocks = gguf_architecture(base_gguf)
    if arch not in UNPERMUTED:
        raise UserError(f"downstream.base_model: converting a LoRA for llama.cpp's {arch!r} architecture is not "
                        f"supported (only {', '.join(sorted(UNPERMUTED))}); give the base as a Hugging Face "
                        "folder to generate with transformers instead")
    config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    if config.get("use_rslora") or config.get("use_dora"):
        raise UserError("downstream.lora: rsLoRA and DoRA adapters have no llama.cpp form here")
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH[arch.upper()], blocks)
    halves: dict[str, dict[str, np.ndarray]] = {}
    for key, tensor in load_file(str(adapter_dir / "adapter_model.safetensors")).items():
        match = PEFT_KEY.match(key)
        if match is None:
            raise UserError(f"{adapter_dir}: unexpected tensor {key} in the adapter")
        target = names.get_name(match["module"] + ".weight", try_suffixes=(".weight",))
        if target is None:
            raise UserError(f"{adapter_dir}: {match['module']} has no llama.cpp tensor in {arch}")
        halves.setdefault(target, {})[match["half"]] = tensor.astype(np.float32)
    writer = gguf.GGUFWriter(str(out), arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(config["lora_alpha"]))
    for target in sorted(halves):
        pair = halves[target]
        writer.add_tensor(f"{target}.lora_a", pair["A"])
        writer.add_tensor(f"{target}.lora_b", pair["B"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return len(halves)
