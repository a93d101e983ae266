from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from synthempathy.core.errors import UserError
from synthempathy.core.params import SamplingParams, load_params, sampling_of

from conftest import ROOT


def write_params(tmp_path: Path, mutate) -> Path:
    data = yaml.safe_load((ROOT / "params.yaml").read_text())
    mutate(data)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def test_shipped_params_are_valid():
    params = load_params(ROOT / "params.yaml")
    assert params.llm.model == "embedded"
    assert params.respond.prompt == "prompts/respond.txt"
    assert params.scale.stories_per_seed >= 1


def test_unknown_key_is_named_with_its_line(tmp_path):
    path = write_params(tmp_path, lambda d: d["respond"].update(temprature=0.5))
    with pytest.raises(UserError) as err:
        load_params(path)
    msg = str(err.value)
    assert "respond.temprature: unknown key" in msg
    line = next(i for i, l in enumerate(path.read_text().splitlines(), 1) if "temprature" in l)
    assert f"{path}:{line}:" in msg
    assert "\n" not in msg


@pytest.mark.parametrize(
    "mutate, key",
    [
        (lambda d: d["respond"].update(temperature=-0.1), "respond.temperature"),
        (lambda d: d["scale"].update(stories_per_seed=0), "scale.stories_per_seed"),
        (lambda d: d["llm"].update(n_ctx="big"), "llm.n_ctx"),
        (lambda d: d["llm"].update(backend="magic"), "llm.backend"),
        (lambda d: d["llm"].update(batch_size=0), "llm.batch_size"),
        (lambda d: d["llm"].update(batch_size=129), "llm.batch_size"),
        (lambda d: d["llm"].update(batch_size=1, prompt_chunk=32), "llm.prompt_chunk: .*needs llm.batch_size > 1"),
        (lambda d: d["llm"].update(prompt_chunk=-1), "llm.prompt_chunk"),
        (lambda d: d["filter"]["near_dup"].update(threshold=101), "filter.near_dup.threshold"),
        (lambda d: d["filter"].update(blocks=["fields", "toxicty"]), r"filter.blocks.1: .*got 'toxicty'"),
        (lambda d: d["respond"].update(chain_of_empathy="sometimes"), "respond.chain_of_empathy"),
        (lambda d: d["judge"].update(temprature=0.1), "judge.temprature"),
        (lambda d: d["evaluate"].update(diversity_sample=1), "evaluate.diversity_sample"),
        (lambda d: d["release"].update(license=""), "release.license"),
        (lambda d: d["filter"]["min_words"].update(explantion=5), "filter.min_words.explantion"),
        (lambda d: d["respond"].update(safety_guidance=None), "respond.safety_guidance: .*respond.use_safety_guidance"),
        (lambda d: d["respond"].update(emotion_list=None), "respond.emotion_list: .*respond.use_emotion_list"),
        (lambda d: d["respond"].update(emotion_grammar="prompts/emotion.gbnf"),
         "respond.emotion_grammar: unknown key, replaced by respond.emotion_list"),
    ],
)
def test_bad_values_name_the_key(tmp_path, mutate, key):
    path = write_params(tmp_path, mutate)
    with pytest.raises(UserError, match=key.replace(".", r"\.").replace(r"\.*", ".*")):
        load_params(path)


def test_missing_section_and_bad_yaml(tmp_path):
    path = write_params(tmp_path, lambda d: d.pop("rewrite"))
    with pytest.raises(UserError, match="rewrite: Field required"):
        load_params(path)
    bad = tmp_path / "bad.yaml"
    bad.write_text("llm:\n  model: [unclosed\n")
    with pytest.raises(UserError, match=r"bad\.yaml:\d+: not valid YAML"):
        load_params(bad)
    with pytest.raises(UserError, match="params file not found"):
        load_params(tmp_path / "missing.yaml")


def test_sampling_excludes_prompt_paths_and_switches():
    params = load_params(ROOT / "params.yaml")
    sampling = sampling_of(params.respond)
    assert type(sampling) is SamplingParams
    assert not {"prompt", "direct_prompt", "chain_of_empathy", "grammar"} & set(sampling.model_dump())
    assert set(sampling_of(params.judge).model_dump()) == set(sampling.model_dump())
    assert (sampling.temperature, sampling.stop) == (params.respond.temperature, params.respond.stop)
    with pytest.raises(ValidationError):  # frozen: a backend cannot change what the cache key recorded
        sampling.temperature = 0.1


def test_chain_of_empathy_switch_picks_the_prompt(tmp_path):
    assert load_params(ROOT / "params.yaml").respond.active_prompt == "prompts/respond.txt"
    path = write_params(tmp_path, lambda d: d["respond"].update(chain_of_empathy=False))
    assert load_params(path).respond.active_prompt == "prompts/respond_direct.txt"


def test_the_judge_s_model_settings_are_llm_s_with_judge_model_and_are_validated():
    params = load_params(ROOT / "params.yaml")
    smollm = params.model_copy(update={"judge": params.judge.model_copy(update={"model": "smollm2"})})
    assert smollm.judge_llm == params.llm.model_copy(update={"model": "smollm2"})
    empty = params.model_copy(update={"judge": params.judge.model_copy(update={"model": ""})})  # model_copy skips checks
    with pytest.raises(ValidationError, match=r"model\n  String should have at least 1 character"):
        empty.judge_llm
