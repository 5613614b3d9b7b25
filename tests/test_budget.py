"""Budget figures keep their source label; the gate fails when a limit is exceeded."""

from pathlib import Path

import pytest
import yaml

from trigger import budget
from trigger.errors import TriggerError

FIXTURE = Path(__file__).parent / "fixtures" / "csynth_vivado.xml"


@pytest.mark.parametrize("value,digits", [(0, 0), (1, 1), (-8, 1), (7, 2), (5, 2), (11, 3), (31, 2), (-21, 3)])
def test_csd_digits(value, digits):
    assert budget.csd_digits(value) == digits


def test_vivado_report_parsed_and_labelled():
    figs = budget.vivado_figures(FIXTURE)
    assert {k: v["value"] for k, v in figs.items()} == {
        "latency_cycles": 9, "latency_ns": 45.0, "ii_cycles": 1, "dsp": 12, "lut": 20345, "ff": 3021, "bram": 0,
    }
    assert {v["source"] for v in figs.values()} == {"vivado"}


def test_best_source_wins():
    est = {"lut": {"value": 100, "source": "estimate"}, "dsp": {"value": 0, "source": "estimate"}}
    viv = {"lut": {"value": 250, "source": "vivado"}}
    assert budget.best(est, viv) == {"lut": {"value": 250, "source": "vivado"}, "dsp": {"value": 0, "source": "estimate"}}


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
