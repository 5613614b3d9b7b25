"""The committed artifacts, read as they are (nothing is re-run here): every metrics.json follows the
contract and is strict JSON, the committed RTL twins agree with their metrics, the test samples stay
under 1 MiB, and the README's summary table is the one the committed metrics give."""

import json
import math
import subprocess

import pytest

from conftest import REPO, SHIPPED
from trigger.report.summary import code_block, readme_block, table

CONTRACT = {"model", "task", "events", "csim", "metrics", "overflow", "budget", "backends"}
QUANTITIES = ("latency_ns", "latency_cycles", "ii_cycles", "dsp", "lut", "ff", "bram")


def metrics(name: str) -> dict:
    return json.loads((REPO / "models" / name / "metrics.json").read_text())


def _strict(value) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(map(_strict, value.values()))
    if isinstance(value, list):
        return all(map(_strict, value))
    return True


def test_every_committed_json_is_strict():
    """No NaN or Infinity in any committed JSON (not JSON): metrics say 'undefined', an architecture tags the float
    (trigger.models.NONFINITE)."""
    files = subprocess.run(["git", "ls-files", "*.json"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    assert any(f.endswith("trained/model.json") for f in files)
    for name in files:
        json.loads((REPO / name).read_text(), parse_constant=lambda constant: pytest.fail(f"{name}: {constant}"))


@pytest.mark.parametrize("name", SHIPPED)
def test_committed_metrics_follow_contract(name):
    committed = metrics(name)
    json.loads((REPO / "models" / name / "metrics.json").read_text(), parse_constant=pytest.fail)  # no NaN/Infinity
    assert _strict(committed)
    assert CONTRACT <= set(committed)
    assert committed["csim"]["exact_fraction"] == 1.0
    assert set(committed["csim"]) >= {"backend", "exact_fraction", "max_lsb_diff", "first_diverging_layer"}
    assert set(committed["metrics"]) == {"float", "quantized", "csim"}
    for layer in committed["overflow"].values():
        assert set(layer) >= {"saturated", "range"}
    budget = committed["budget"]
    assert isinstance(budget["pass"], bool)
    for quantity in QUANTITIES:
        assert budget[quantity]["source"] in ("vivado", "rtl", "estimate")
        assert set(budget[quantity]) >= {"value", "limit", "source"}
    for backend in committed["backends"].values():
        assert list(backend["figures"]) == list(backend["estimate"])  # one key order everywhere


@pytest.mark.parametrize("name", SHIPPED)
def test_committed_rtl_twin_matches_the_csim_and_labels_its_figures(name):
    """`make rtl` results as committed: every test event bit-exact, latency = da4ml depth, and
    metrics.json carrying exactly these figures, labelled rtl, for this graph."""
    report = json.loads((REPO / "models" / name / "rtl.json").read_text())
    committed = metrics(name)
    sim = report["simulation"]
    assert sim["mismatches"] == 0 and sim["exact_fraction"] == 1.0 and sim["events"] == committed["events"]
    assert sim["latency_cycles"] == sim["valid_latency_cycles"] == sim["pipeline_depth"] and sim["ii_cycles"] == 1
    assert report["emulator"]["exact_fraction"] == 1.0
    assert committed["backends"][committed["csim"]["backend"]]["graph_sha256"] == report["graph_sha256"]
    assert committed["rtl"]["figures"] == report["figures"]
    assert all(f["source"] == "rtl" for f in report["figures"].values()) and report["timing"]["source"] == "estimate"
    for quantity in ("latency_cycles", "ii_cycles", "lut", "ff", "dsp", "bram"):
        assert committed["budget"][quantity]["source"] == "rtl"
        assert committed["budget"][quantity]["value"] == report["figures"][quantity]["value"]


def test_trained_models_are_committed_within_limits():
    record = json.loads((REPO / "models/jet_tagger/trained/training.json").read_text())
    assert min(record["train_per_class"].values()) >= 20000
    for name in SHIPPED:
        assert (REPO / "models" / name / "trained/test_sample.npz").stat().st_size <= 1 << 20


def test_readme_summary_table_is_the_committed_metrics():
    """The table in the README is generated (`trigger summary --readme README.md <models>`), never typed."""
    expected = table([metrics(name) for name in sorted(SHIPPED)])
    assert readme_block(REPO / "README.md") == code_block(expected)



def test_readme_anomaly_table_is_the_committed_trainings():
    """The anomaly-vs-cut-baselines table in the README is generated from the committed trainings and twins."""
    from trigger.report import anomaly_table

    models = [REPO / "models" / name for name in sorted(SHIPPED) if metrics(name)["task"] == "anomaly"]
    assert models and all(anomaly_table.measured_on_halves(m) for m in models), "retrain: threshold and rate on one half"
    assert readme_block(REPO / "README.md", "anomaly") == anomaly_table.markdown(models) + "\n"


def test_readme_anomaly_samples_table_is_the_committed_rate_reports():
    """The independent-sample and lepton-stream table is generated from the committed `trigger rates --name` reports."""
    from trigger.report import anomaly_table

    models = [REPO / "models" / name for name in sorted(SHIPPED) if metrics(name)["task"] == "anomaly"]
    samples = anomaly_table.samples_markdown(models)
    assert samples, "no committed models/<anomaly>/background_rates_<sample>.json"
    assert readme_block(REPO / "README.md", "anomaly-samples") == samples + "\n"
