"""The committed jet tagger: csim equals the quantized Keras logits at 0 LSB on every test event,
on both backends, and the committed metrics.json is what the harness measures today."""

import json
import shutil

import pytest

from conftest import REPO, run_cli

MODEL = REPO / "models" / "jet_tagger"
CONTRACT = {"model", "task", "events", "csim", "metrics", "overflow", "budget"}


@pytest.fixture(scope="module")
def fresh_report(tmp_path_factory):
    """Re-run the full harness on a copy of the shipped model (the repo's files stay untouched)."""
    root = tmp_path_factory.mktemp("shipped")
    shutil.copytree(MODEL, root / "models" / "jet_tagger", ignore=shutil.ignore_patterns("metrics.json", "plots"))
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("TRIGGER_HLS_PROJECTS", str(root / "hls_projects"))
    try:
        assert run_cli("synth", "jet_tagger") == 0
    finally:
        mp.undo()
    return json.loads((root / "models/jet_tagger/metrics.json").read_text())


def test_csim_bit_exact_on_every_event(fresh_report):
    assert fresh_report["events"] >= 5000
    for backend in ("Vitis", "Vivado"):
        csim = fresh_report["backends"][backend]["csim"]
        assert csim["events"] == fresh_report["events"]
        assert csim["exact_fraction"] == 1.0, csim
        assert csim["max_lsb_diff"] == 0
        assert csim["first_diverging_layer"] is None


def test_csim_metrics_equal_quantized(fresh_report):
    for backend in ("Vitis", "Vivado"):
        assert fresh_report["backends"][backend]["metrics"] == fresh_report["metrics"]["quantized"]


def test_committed_metrics_follow_contract_and_match_today():
    committed = json.loads((MODEL / "metrics.json").read_text())
    assert CONTRACT <= set(committed)
    assert committed["task"] == "classification"
    assert committed["csim"]["exact_fraction"] == 1.0
    assert set(committed["csim"]) >= {"backend", "exact_fraction", "max_lsb_diff", "first_diverging_layer"}
    assert set(committed["metrics"]) == {"float", "quantized", "csim"}
    for layer in committed["overflow"].values():
        assert set(layer) >= {"saturated", "range"}
    budget = committed["budget"]
    assert isinstance(budget["pass"], bool)
    for name in ("latency_ns", "latency_cycles", "ii_cycles", "dsp", "lut", "ff", "bram"):
        assert budget[name]["source"] in ("vivado", "rtl", "estimate")
        assert set(budget[name]) >= {"value", "limit", "source"}


def test_committed_metrics_reproduce(fresh_report):
    committed = json.loads((MODEL / "metrics.json").read_text())
    # fixed-point results are exact; the float reference may move in the last ulp on another CPU
    assert fresh_report["metrics"]["quantized"] == committed["metrics"]["quantized"]
    assert fresh_report["metrics"]["csim"] == committed["metrics"]["csim"]
    fresh_float, committed_float = fresh_report["metrics"]["float"], committed["metrics"]["float"]
    assert fresh_float["accuracy"] == pytest.approx(committed_float["accuracy"], rel=1e-6)
    assert fresh_float["auc"] == pytest.approx(committed_float["auc"], rel=1e-6)
    assert fresh_report["overflow"] == committed["overflow"]
    for name, fig in committed["budget"].items():
        if name != "pass" and fig["source"] != "csim":  # metric drops involve the float model
            assert fresh_report["budget"][name] == fig


def test_trained_on_enough_jets():
    record = json.loads((MODEL / "trained/training.json").read_text())
    assert min(record["train_per_class"].values()) >= 20000
    assert (MODEL / "trained/test_sample.npz").stat().st_size <= 1 << 20
