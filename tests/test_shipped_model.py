"""The committed models: csim equals the quantized Keras outputs (logits, anomaly score, regressed
momenta, latent)
at 0 LSB on every test event, on both backends, and each committed metrics.json is what the
harness measures today."""

import json
import shutil

import pytest

from conftest import REPO, run_cli

SHIPPED = ["jet_tagger", "anomaly_ae", "jet_compression", "top_regression", "top_toy"]
CONTRACT = {"model", "task", "events", "csim", "metrics", "overflow", "budget"}


@pytest.fixture(scope="module", params=SHIPPED)
def shipped(request, tmp_path_factory):
    """Re-run the full harness on a copy of a shipped model (the repo's files stay untouched)."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    shutil.copytree(REPO / "models" / name, root / "models" / name, ignore=shutil.ignore_patterns("metrics.json", "plots"))
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("TRIGGER_HLS_PROJECTS", str(root / "hls_projects"))
    try:
        assert run_cli("synth", name) == 0
    finally:
        mp.undo()
    fresh = json.loads((root / "models" / name / "metrics.json").read_text())
    committed = json.loads((REPO / "models" / name / "metrics.json").read_text())
    return name, fresh, committed, root


def test_csim_bit_exact_on_every_event(shipped):
    _, fresh, _, _ = shipped
    assert fresh["events"] >= 5000
    for backend in ("Vitis", "Vivado"):
        csim = fresh["backends"][backend]["csim"]
        assert csim["events"] == fresh["events"]
        assert csim["exact_fraction"] == 1.0, csim
        assert csim["max_lsb_diff"] == 0
        assert csim["first_diverging_layer"] is None
        assert fresh["backends"][backend]["metrics"] == fresh["metrics"]["quantized"]


def test_committed_metrics_follow_contract(shipped):
    _, _, committed, _ = shipped
    assert CONTRACT <= set(committed)
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


def test_committed_metrics_reproduce(shipped):
    """Fixed-point results exactly; the float reference may move in the last ulp on another CPU."""
    _, fresh, committed, _ = shipped
    assert fresh["metrics"]["quantized"] == committed["metrics"]["quantized"]
    assert fresh["metrics"]["csim"] == committed["metrics"]["csim"]
    assert _close(fresh["metrics"]["float"], committed["metrics"]["float"])
    assert fresh["overflow"] == committed["overflow"]
    for name, fig in committed["budget"].items():
        if name != "pass" and fig["source"] != "csim":  # metric drops involve the float model
            assert fresh["budget"][name] == fig


def _close(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == pytest.approx(b, rel=1e-6, abs=1e-12)
    return a == b


def test_anomaly_trigger_bit_exported(shipped):
    name, fresh, _, root = shipped
    if fresh["task"] != "anomaly":
        pytest.skip("anomaly models only")
    threshold = json.loads((REPO / "models" / name / "trained/threshold.json").read_text())
    header = (root / "hls_projects" / name / "Vitis/firmware" / f"{name}_threshold.h").read_text()
    assert f"{name.upper()}_THRESHOLD = {threshold['value']!r};" in header
    for signal in ("A4l", "LQ", "h0", "hpm"):
        for which in ("float", "quantized", "csim"):
            entry = fresh["metrics"][which]["signals"][signal]
            assert 0 <= entry["tpr"] <= 1 and entry["tpr_err"] > 0


def test_regression_reports_every_component(shipped):
    name, fresh, _, root = shipped
    if fresh["task"] != "regression":
        pytest.skip("regression models only")
    for which in ("float", "quantized", "csim"):
        components = fresh["metrics"][which]["components"]
        assert set(components) == {"top_px", "top_py", "top_pz", "top_e"}
        for c in components.values():
            assert set(c) == {"r2", "bias", "rms"} and c["rms"] > 0
        assert all(len(v["rms"]) == len(fresh["metrics"][which]["binned"]["edges"]) - 1
                   for k, v in fresh["metrics"][which]["binned"].items() if k.startswith("top_"))
    assert "OUTPUT_SHIFT = 8;" in (root / "hls_projects" / name / "Vivado/firmware" / f"{name}_units.h").read_text()


def test_jet_tagger_trained_on_enough_jets():
    record = json.loads((REPO / "models/jet_tagger/trained/training.json").read_text())
    assert min(record["train_per_class"].values()) >= 20000
    for name in SHIPPED:
        assert (REPO / "models" / name / "trained/test_sample.npz").stat().st_size <= 1 << 20
