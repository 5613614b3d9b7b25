"""Figures keep their source label; the budget gate fails when a limit is exceeded, and budget.yml is
checked when it is read."""

import re
from pathlib import Path

import pytest
import yaml

from trigger import figures
from trigger.errors import TriggerError
from trigger.report import budget

FIXTURE = Path(__file__).parent / "fixtures" / "csynth_vivado.xml"


@pytest.mark.parametrize("value,digits", [(0, 0), (1, 1), (-8, 1), (7, 2), (5, 2), (11, 3), (31, 2), (-21, 3)])
def test_csd_digits(value, digits):
    assert figures.csd_digits(value) == digits


def test_vivado_report_parsed_and_labelled():
    figs = figures.vivado(FIXTURE)
    assert {k: v["value"] for k, v in figs.items()} == {
        "latency_cycles": 9, "latency_ns": 45.0, "ii_cycles": 1, "dsp": 12, "lut": 20345, "ff": 3021, "bram": 0,
    }
    assert {v["source"] for v in figs.values()} == {"vivado"}


def test_best_source_wins():
    est = {"lut": {"value": 100, "source": "estimate"}, "dsp": {"value": 0, "source": "estimate"}}
    viv = {"lut": {"value": 250, "source": "vivado"}}
    assert figures.best(est, viv) == {"lut": {"value": 250, "source": "vivado"}, "dsp": {"value": 0, "source": "estimate"}}


def test_evaluate_fails_over_limit_and_names_quantity():
    figs = {"lut": {"value": 5000, "source": "estimate"}, "latency_ns": {"value": 40.0, "source": "estimate"}}
    verdict = budget.evaluate(figs, {"accuracy": 0.01}, {"lut": 4000, "latency_ns": 50, "max_metric_drop": {"accuracy": 0.02}})
    assert verdict["pass"] is False
    assert verdict["lut"] == {"value": 5000, "limit": 4000, "source": "estimate", "pass": False}
    assert verdict["accuracy_drop"]["pass"] is True
    assert budget.failures(verdict) == ["lut = 5000 (estimate) > limit 4000"]


def test_evaluate_passes_within_limits():
    figs = {"lut": {"value": 5000, "source": "vivado"}}
    assert budget.evaluate(figs, {}, {"lut": 5000})["pass"] is True


def test_budget_file_unknown_key(tmp_path):
    (tmp_path / "budget.yml").write_text(yaml.safe_dump({"luts": 3}))
    with pytest.raises(TriggerError, match="unknown key 'luts'"):
        budget.load_budget(tmp_path / "budget.yml")


def test_metric_drop_must_exist():
    with pytest.raises(TriggerError, match="max_metric_drop.r2"):
        budget.evaluate({}, {"accuracy": 0.0}, {"max_metric_drop": {"r2": 0.1}})


@pytest.mark.parametrize("raw, message", [
    ({"lut": "1k"}, "'lut' must be a number, got '1k'"),
    ({"dsp": False}, "'dsp' must be a number, got False"),
    ({"max_metric_drop": {"auc": None}}, "'max_metric_drop.auc' must be a number"),
    ({"max_metric_drop": {"r2": 0.1}}, "'max_metric_drop.r2' is not a metric of this task (it has: accuracy, auc)"),
    ("just text", "must be a mapping"),
])
def test_budget_file_is_validated_when_read(tmp_path, raw, message):
    (tmp_path / "budget.yml").write_text(yaml.safe_dump(raw))
    with pytest.raises(TriggerError, match=re.escape(message)):
        budget.load_budget(tmp_path / "budget.yml", ("accuracy", "auc"))


def test_valid_budget_file_and_null_limits(tmp_path):
    (tmp_path / "budget.yml").write_text(yaml.safe_dump({"lut": 5000, "ff": None, "max_metric_drop": {"auc": 0.01}}))
    limits = budget.load_budget(tmp_path / "budget.yml", ("accuracy", "auc"))
    assert budget.evaluate({"lut": {"value": 1, "source": "rtl"}}, {"auc": 0.0}, limits)["pass"] is True
