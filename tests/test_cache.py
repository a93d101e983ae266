
import pytest

from synthempathy.core.errors import UserError
from synthempathy.generation.cache import RequestCache, default_cache_path, request_key

from fakes import IDENTITY


def test_key_is_stable_and_sensitive_to_every_part():
    base = dict(backend=IDENTITY.model_dump(), prompt="p", sampling={"temperature": 0.7, "stop": ["x"]}, seed=1)
    assert request_key(**base) == request_key(**dict(reversed(list(base.items()))))
    for key, other in [("prompt", "q"), ("seed", 2), ("sampling", {"temperature": 0.8, "stop": ["x"]})]:
        assert request_key(**{**base, key: other}) != request_key(**base)
    for field, other in [("model_sha256", "b" * 64), ("format_setting", "chat"), ("batch_rows", 8),
                         ("cpu_repack", False), ("gpu_layers", -1), ("implementation", "scripted r2")]:
        changed = IDENTITY.model_copy(update={field: other}).model_dump()
        assert request_key(**{**base, "backend": changed}) != request_key(**base), field


def test_put_get_counts_and_persists(tmp_path):
    cache = RequestCache(tmp_path / "c.sqlite")
    assert cache.get("k") is None
    cache.put("k", {"text": "héllo", "n": 3})
    assert cache.get("k") == {"text": "héllo", "n": 3}
    assert (cache.hits, cache.misses) == (1, 1)
    cache.close()
    again = RequestCache(tmp_path / "c.sqlite")
    assert again.get("k") == {"text": "héllo", "n": 3} and len(again) == 1


def test_default_path_follows_env(isolated_cache):
    assert default_cache_path() == isolated_cache / "requests.sqlite"


def test_garbage_file_is_reported_with_rebuild_hint(tmp_path):
    path = tmp_path / "c.sqlite"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(UserError, match=r"corrupt .*delete .*c\.sqlite\* to rebuild"):
        RequestCache(path)


def test_truncated_database_is_detected(tmp_path):
    path = tmp_path / "c.sqlite"
    cache = RequestCache(path)
    for i in range(500):
        cache.put(f"k{i}", {"text": "x" * 200})
    cache._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    cache.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="corrupt"):
        cache = RequestCache(path)
        for i in range(500):
            cache.get(f"k{i}")
