"""Typed metrics: what filter and evaluate write is what the card reads, or a one-line error."""

import json

import pytest

from synthempathy.core.errors import UserError
from synthempathy.core.metrics import (CalibrationMetrics, EvaluateMetrics, FilterMetrics, Headline, headline, read_metrics,
                                       write_metrics)

from conftest import ROOT


@pytest.mark.parametrize("name, model", [("evaluate", EvaluateMetrics), ("filter", FilterMetrics),
                                         ("judge_calibration", CalibrationMetrics)])
def test_the_committed_metrics_fit_their_types(name, model):
    path = ROOT / "metrics" / f"{name}.json"
    assert read_metrics(path, model).model_dump(exclude_none=True) == json.loads(path.read_text())


def test_a_renamed_metric_fails_naming_the_file_and_key(tmp_path):
    data = json.loads((ROOT / "metrics/evaluate.json").read_text())
    data["diversity_of"] = data.pop("diversity")
    with pytest.raises(ValueError, match="diversity"):
        write_metrics(tmp_path / "written.json", EvaluateMetrics, data)
    assert not (tmp_path / "written.json").exists()
    path = tmp_path / "evaluate.json"
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match=r"evaluate\.json: diversity: Field required; .*run `dvc repro`$"):
        read_metrics(path, EvaluateMetrics)
    with pytest.raises(UserError, match=r"nope\.json: missing; run `dvc repro` first"):
        read_metrics(tmp_path / "nope.json", EvaluateMetrics)


def test_the_writer_keeps_a_stage_s_bytes_and_nests_the_headline(tmp_path):
    for name, model in (("filter", FilterMetrics), ("evaluate", EvaluateMetrics)):
        written = tmp_path / f"{name}.json"
        typed = write_metrics(written, model, json.loads((ROOT / f"metrics/{name}.json").read_text()))
        assert written.read_bytes() == (ROOT / f"metrics/{name}.json").read_bytes()
    write_metrics(tmp_path / "headline.json", Headline, headline(typed), under="headline")
    assert (tmp_path / "headline.json").read_bytes() == (ROOT / "metrics/headline.json").read_bytes()
