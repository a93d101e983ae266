"""Keep llama.cpp off its AMX path, which crashes with SIGILL (llm.cpu_repack).

Why: a native llama-cpp-python build on an Intel Xeon with AMX (Sapphire
Rapids and later: `amx_tile`, `amx_int8` in /proc/cpuinfo) compiles ggml's AMX
matrix kernels, puts the weights in its AMX buffer, and the first decode dies
with SIGILL (`tilezero` in `ggml_backend_amx_mul_mat`). This is an upstream
ggml bug (llama.cpp pull request #26954: tile-data permission is requested on
the main thread only, and the tile config can be optimised away), so no
setting of ours can make that path safe.

The fix: load the model without llama.cpp's extra CPU buffer types
(`llama_model_params.use_extra_bufts = false`, what `llama-cli --no-repack`
does). Weights then stay in plain CPU buffers and the AMX kernels are never
reached. It also turns off weight repacking (the CPU_REPACK buffer, a
different matmul kernel for some tensors), which changes sampled tokens, so
`auto` does it only where the CPU reports AMX or the build contains AMX code,
and a load without it is part of every request-cache key (benchmarks/CPU.md).

llama-cpp-python's `Llama` has no keyword for `use_extra_bufts`: it builds the
struct from `llama_model_default_params()` and loads the model inside
`__init__`, so `extra_buffers_off` swaps that function for one that clears the
flag while the model loads.

Everything about this workaround lives in this module and `llm.cpu_repack`:
once upstream is fixed, delete both and the one `with` in llama_cpp.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

AMX_CPU_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})
"""/proc/cpuinfo flags of Intel's Advanced Matrix Extensions."""
AMX_BUILD_MARKER = "AMX_INT8 = 1"
"""What llama_print_system_info() says when ggml was compiled with AMX kernels."""

Setting = bool | Literal["auto"]
SETTINGS: dict[str, Setting] = {"auto": "auto", "true": True, "false": False}
"""llm.cpu_repack's values as written on a command line (`synthempathy serve --cpu-repack`)."""


@dataclass(frozen=True)
class RepackDecision:
    """Whether the model loads with extra (repacked/AMX) buffer types, and why."""

    enabled: bool
    reason: str


def cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first CPU listed in /proc/cpuinfo text (x86 `flags`, Arm `Features`)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def decide(setting: Setting, flags: frozenset[str], system_info: str) -> RepackDecision:
    """llm.cpu_repack plus what the CPU and the llama.cpp build report -> the load setting."""
    if setting is not True and setting is not False and setting != "auto":
        raise ValueError(f"cpu_repack must be auto, true or false, not {setting!r}")
    if setting is True:
        return RepackDecision(True, "llm.cpu_repack: true")
    if setting is False:
        return RepackDecision(False, "llm.cpu_repack: false")
    amx = sorted(flags & AMX_CPU_FLAGS)
    if amx:
        return RepackDecision(False, f"the CPU reports AMX ({', '.join(amx)}), whose llama.cpp kernels crash "
                                     "with SIGILL; loading without repacked/AMX weights (llm.cpu_repack: auto)")
    if AMX_BUILD_MARKER in system_info:
        return RepackDecision(False, "llama.cpp was built with AMX kernels, which crash with SIGILL; "
                                     "loading without repacked/AMX weights (llm.cpu_repack: auto)")
    return RepackDecision(True, "no AMX on this CPU or in this llama.cpp build (llm.cpu_repack: auto)")


def decide_here(setting: Setting) -> RepackDecision:
    """`decide` for this machine and the installed llama-cpp-python."""
    import llama_cpp

    cpuinfo = Path("/proc/cpuinfo")
    flags = cpu_flags(cpuinfo.read_text(errors="replace")) if cpuinfo.exists() else frozenset()
    return decide(setting, flags, llama_cpp.llama_print_system_info().decode("utf-8", "replace"))


@contextlib.contextmanager
def extra_buffers_off() -> Iterator[None]:
    """While inside, every `Llama(...)` loads its model with `use_extra_bufts = false`.

    Not thread-safe: hold it only around model loading, which happens once per process.
    """
    from llama_cpp import llama_cpp as native

    original = native.llama_model_default_params

    def without_extra_buffers():
        params = original()
        params.use_extra_bufts = False
        return params

    native.llama_model_default_params = without_extra_buffers
    try:
        yield
    finally:
        native.llama_model_default_params = original


def load_context(decision: RepackDecision) -> contextlib.AbstractContextManager:
    """The context to load the model in for `decision`."""
    return contextlib.nullcontext() if decision.enabled else extra_buffers_off()
