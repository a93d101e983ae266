"""Shared fixtures: an isolated request cache per test, the project root, the embedded model."""

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


@pytest.fixture(scope="session")
def embedded_model():
    """The real embedded GGUF, assembled from its PyPI package once per session."""
    from synthempathy.models import resolve_model

    return resolve_model("embedded")
