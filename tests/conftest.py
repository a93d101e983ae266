"""Shared fixtures: an isolated request cache per test, the project root, the embedded model,
and the fast tier's guard: a test not marked `model` that loads the GGUF in this process fails."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Each test gets its own request cache so results never leak between tests."""
    path = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("SYNTHEMPATHY_CACHE_DIR", str(path))
    return path


@pytest.fixture(autouse=True)
def model_only_where_marked(request, monkeypatch):
    """Keeps `pytest -m "not model"` honest: loading llama.cpp weights here needs the marker.
    (Subprocesses, such as dvc repro or a server, are not watched: those tests carry it anyway.)"""
    if request.node.get_closest_marker("model") is None:
        import llama_cpp

        def refuse(*args, **kwargs):
            raise AssertionError(f"{request.node.nodeid} loads the model: mark it @pytest.mark.model")

        monkeypatch.setattr(llama_cpp.Llama, "__init__", refuse)


@pytest.fixture(scope="session")
def embedded_model():
    """The real embedded GGUF, assembled from its PyPI package once per session."""
    from synthempathy.generation.models import resolve_model

    return resolve_model("embedded")
