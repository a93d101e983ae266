"""Typed metrics: what filter and evaluate write is what the card reads, or a one-line error."""

import json

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.metrics import EvaluateMetrics, FilterMetrics, checked, read_metrics

from conftest import ROOT


@pytest.mark.parametrize("name, model", [("evaluate", EvaluateMetrics), ("filter", FilterMetrics)])
def test_the_committed_metrics_fit_their_types(name, model):
    path = ROOT / "metrics" / f"{name}.json"
    assert read_metrics(path, model).model_dump(exclude_none=True) == json.loads(path.read_text())


def test_a_renamed_metric_fails_naming_the_file_and_key(tmp_path):
    data = json.loads((ROOT / "metrics/evaluate.json").read_text())
    data["diversity_of"] = data.pop("diversity")
    with pytest.raises(ValueError, match="diversity"):
        checked(EvaluateMetrics, data)
    path = tmp_path / "evaluate.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"evaluate\.json: diversity: Field required; .*run `dvc repro`$"):
        read_metrics(path, EvaluateMetrics)
    with pytest.raises(UserError, match=r"nope\.json: missing; run `dvc repro` first"):
        read_metrics(tmp_path / "nope.json", EvaluateMetrics)


def test_checked_returns_the_dict_unchanged_so_the_file_bytes_do_not_move():
    data = json.loads((ROOT / "metrics/filter.json").read_text())
    assert checked(FilterMetrics, data) is data
