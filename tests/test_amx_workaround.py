"""llm.cpu_repack: CPU flags -> how the model loads, and a crash that says where it happened.

The decision is a pure function of (setting, CPU flags, llama.cpp build info),
checked here on /proc/cpuinfo texts of CPUs with and without AMX. The load
itself is checked for real: the embedded model loads and generates on this
machine with the decision `auto` takes, and with the workaround forced on, and
llama.cpp's own load log shows whether repacked weights were used.
"""

import re
import subprocess
import sys
import textwrap

import pytest

from synthempathy.core.params import LlamaCppParams, SamplingParams, ServerParams
from synthempathy.generation.llm import amx_workaround
from synthempathy.generation.llm.amx_workaround import cpu_flags, decide
from synthempathy.generation.llm.llama_cpp import LlamaCppBackend

from conftest import ROOT

SAPPHIRE_RAPIDS = textwrap.dedent("""\
    processor\t: 0
    vendor_id\t: GenuineIntel
    model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
    flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8 arch_perfmon
    bugs\t\t: spectre_v1

    processor\t: 1
    flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_bf16 amx_bf16 avx512_fp16 amx_tile amx_int8
""")
EPYC = textwrap.dedent("""\
    processor\t: 0
    vendor_id\t: AuthenticAMD
    model name\t: AMD EPYC 7B13
    flags\t\t: fpu vme sse sse2 ssse3 fma avx f16c avx2 bmi2 sha_ni vaes vpclmulqdq
""")
ICE_LAKE = "flags\t\t: fpu sse2 avx avx2 avx512f avx512bw avx512_vnni avx512_vbmi\n"
GRAVITON = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics asimddp sve\n"
BUILD_NO_AMX = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | BMI2 = 1 | REPACK = 1 |"
BUILD_AMX = "CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AVX512_VNNI = 1 | AMX_INT8 = 1 | REPACK = 1 |"


def test_cpu_flags_reads_the_flags_line():
    flags = cpu_flags(SAPPHIRE_RAPIDS)
    assert {"amx_tile", "amx_int8", "amx_bf16", "avx512f"} <= flags
    assert "spectre_v1" not in flags  # the bugs line is not a flag
    assert "sha_ni" in cpu_flags(EPYC) and "amx_tile" not in cpu_flags(EPYC)
    assert "asimd" in cpu_flags(GRAVITON)
    assert cpu_flags("") == frozenset()


@pytest.mark.parametrize("cpuinfo, build, enabled, why", [
    (SAPPHIRE_RAPIDS, BUILD_AMX, False, "the CPU reports AMX (amx_bf16, amx_int8, amx_tile)"),
    (SAPPHIRE_RAPIDS, BUILD_NO_AMX, False, "the CPU reports AMX"),  # e.g. a wheel built elsewhere: still safe
    (EPYC, BUILD_NO_AMX, True, "no AMX"),
    (ICE_LAKE, BUILD_NO_AMX, True, "no AMX"),  # AVX-512 without AMX keeps repacking
    (GRAVITON, BUILD_NO_AMX, True, "no AMX"),
    ("", BUILD_AMX, False, "built with AMX kernels"),  # no /proc/cpuinfo (a container without /proc)
])
def test_auto_turns_repacking_off_only_where_amx_is(cpuinfo, build, enabled, why):
    decision = decide("auto", cpu_flags(cpuinfo), build)
    assert decision.enabled is enabled
    assert why in decision.reason


def test_explicit_setting_wins_over_the_cpu():
    assert decide(True, cpu_flags(SAPPHIRE_RAPIDS), BUILD_AMX).enabled is True
    assert decide(False, cpu_flags(EPYC), BUILD_NO_AMX).enabled is False
    with pytest.raises(ValueError, match="cpu_repack must be auto, true or false"):
        decide("yes", cpu_flags(EPYC), BUILD_NO_AMX)


def test_param_accepts_auto_and_booleans_only_for_the_in_process_backend():
    assert LlamaCppParams().cpu_repack == "auto"
    assert LlamaCppParams(cpu_repack=False).cpu_repack is False
    with pytest.raises(ValueError, match="cpu_repack"):
        LlamaCppParams(cpu_repack="sometimes")


def test_a_bad_cpu_repack_in_params_yaml_is_one_clear_error(tmp_path):
    from synthempathy.core.errors import UserError
    from synthempathy.core.params import load_params

    path = tmp_path / "params.yaml"
    path.write_text((ROOT / "params.yaml").read_text().replace("cpu_repack: auto", "cpu_repack: sometimes"))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "cpu_repack" in text)
    with pytest.raises(UserError) as err:
        load_params(path)
    assert str(err.value) == (f"{path}:{line}: llm.cpu_repack: Value error, must be auto, true or false "
                              "(got 'sometimes')")
    with pytest.raises(ValueError, match="cpu_repack\n  Extra inputs are not permitted"):  # params.yaml: test_openai_backend
        ServerParams(backend="openai", base_url="http://127.0.0.1:8080/v1", served_model="m", cpu_repack=False)


def test_extra_buffers_off_patches_the_defaults_only_while_held():
    from llama_cpp import llama_cpp as native

    assert native.llama_model_default_params().use_extra_bufts is True
    with pytest.raises(RuntimeError, match="boom"), amx_workaround.extra_buffers_off():
        assert native.llama_model_default_params().use_extra_bufts is False
        raise RuntimeError("boom")
    assert native.llama_model_default_params().use_extra_bufts is True


LOAD_LOG = """
import sys
from llama_cpp import Llama
from synthempathy.generation.llm import amx_workaround
from synthempathy.generation.models import resolve_model

decision = amx_workaround.decide_here({setting})
with amx_workaround.load_context(decision):
    llm = Llama(model_path=str(resolve_model("embedded").path), n_ctx=256, n_threads=2, verbose=True)
out = llm.create_completion("The weather today is", max_tokens=8, temperature=0.0)
print("DECISION", decision.enabled, "TEXT", repr(out["choices"][0]["text"]))
"""


def load_log(setting) -> tuple[str, str]:
    """Load and run the real model in a fresh process with llama.cpp's load log on; (stdout, log)."""
    proc = subprocess.run([sys.executable, "-c", LOAD_LOG.format(setting=repr(setting))], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout, proc.stderr


@pytest.mark.model
def test_workaround_reaches_llama_cpp_and_the_model_still_generates():
    stdout, log = load_log(False)
    assert "DECISION False" in stdout and "TEXT ''" not in stdout
    assert "CPU_REPACK" not in log and "AMX" not in log.split("load_tensors")[-1].split("\n")[0]
    assert "load_tensors" in log  # the log was on, so the absence above means something


@pytest.mark.model
def test_auto_loads_and_generates_on_this_machine():
    """Whatever CPU the suite runs on (AMD, Intel with or without AMX), auto's choice works."""
    decision = amx_workaround.decide_here("auto")
    cpuinfo = open("/proc/cpuinfo").read() if sys.platform == "linux" else ""
    if "amx_tile" in cpuinfo:
        assert decision.enabled is False
    backend = LlamaCppBackend(LlamaCppParams(n_ctx=512, n_threads=2, batch_size=1))
    try:
        from synthempathy.generation.prompts import Prompt

        out = backend.complete(Prompt(prefix="Q: What colour is the sky?\nA:", suffix=""),
                               SamplingParams(max_tokens=8, temperature=0.0, top_p=1.0, top_k=1, min_p=0.0,
                                              repeat_penalty=1.0, stop=["\n"]), seed=1)
        assert out.completion_tokens > 0 and out.text.strip()
    finally:
        backend.close()
    stdout, log = load_log("auto")
    assert f"DECISION {decision.enabled}" in stdout
    if not decision.enabled:
        assert "CPU_REPACK" not in log


CRASHING_STAGE = """
import ctypes
from synthempathy.core.entry_point import entry_point
from synthempathy.generation.llm.llama_cpp import _quiet_stderr

@entry_point
def main():
    with _quiet_stderr():  # as while a model loads: fd 2 points at /dev/null
        ctypes.string_at(0)  # a native crash, as llama.cpp's SIGILL on AMX was

main()
"""


def test_a_native_crash_names_the_signal_and_the_python_stack(tmp_path):
    stage = tmp_path / "crashing_stage.py"
    stage.write_text(CRASHING_STAGE)
    proc = subprocess.run([sys.executable, str(stage)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin"})
    assert proc.returncode == -11
    assert "Fatal Python error: Segmentation fault" in proc.stderr
    assert re.search(r'crashing_stage\.py", line 9 in main\n', proc.stderr), proc.stderr  # the string_at line


@pytest.mark.model
def test_a_load_without_repacked_weights_never_shares_cache_entries():
    """Repacked and plain weights run different kernels and give different tokens, so a
    cache filled with one load must not answer the other (measured in benchmarks/CPU.md)."""
    if not amx_workaround.decide_here("auto").enabled:
        pytest.skip("repacked weights crash llama.cpp on this AMX CPU, so no cache can hold both kinds here")
    from synthempathy.core.params import GenerationParams
    from synthempathy.generation.cache import RequestCache
    from synthempathy.generation.driver import Generator, Item, Step
    from synthempathy.generation.prompts import load_template

    template = load_template(ROOT / "prompts/brainstorm.txt", {"situation"})
    params = GenerationParams(prompt="prompts/brainstorm.txt", temperature=1.0, max_tokens=24,
                              stop=["###", "\nSituation:", "\n\n"])
    items = [Item(id=f"s{i}", values={"situation": s}) for i, s in enumerate(["Losing a job", "A flat tyre"])]
    cache = RequestCache()

    def run(cpu_repack):
        llm = LlamaCppParams(n_ctx=1024, n_threads=2, batch_size=1, max_attempts=1, cpu_repack=cpu_repack)
        backend = LlamaCppBackend(llm)
        try:
            generator = Generator("brainstorm", template, params, llm, backend, cache, [Step("story")])
            generator.run(items)
        finally:
            backend.close()
        return backend, generator.stats

    plain, plain_stats = run(False)
    forced_on, on_stats = run(True)
    plain_again, again_stats = run(False)
    try:
        assert not plain.identity.cpu_repack and forced_on.identity.cpu_repack
        assert plain_stats.model_calls == 2 and on_stats.model_calls == 2 and on_stats.cache_hits == 0
        assert again_stats.model_calls == 0 and again_stats.cache_hits == 2
    finally:
        cache.close()
