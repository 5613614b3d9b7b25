"""Momentum regression: a tiny regressor trained on toy top decays, csim == quantized Keras at
0 LSB, R^2/bias/RMS for every output and flavour, the firmware's GeV shift, and the spec's
target choices and their errors."""

import json
import shutil

import numpy as np
import pytest
import yaml

from conftest import run_cli, run_with_firmware_headers
from trigger.tasks import regression

pytestmark = pytest.mark.slow  # trains and synthesises a regressor

TOY_INPUTS = [f"{p}_{c}" for p in ("b", "lep") for c in ("px", "py", "pz", "e")] + ["met_px", "met_py"]


def toy_spec(**regression_overrides) -> dict:
    return {
        "name": "tinytop", "task": "regression", "seed": 5,
        "data": {"generator": {"name": "toy", "events": 4000, "chunk_events": 2000, "workers": 1}, "seed": 1,
                 "tree": "events", "features": {f: f for f in TOY_INPUTS}},
        "regression": {"targets": {c: c for c in ("top_px", "top_py", "top_pz", "top_e")},
                       "output_precision": "ap_fixed<18,6>", "output_shift": 8, "bin_by": "sqrt(top_px**2 + top_py**2)",
                       "bin_edges": [100, 300, 500, 800]} | regression_overrides,
        "model": {"hidden": [16, 16], "activation_bits": 10, "activation_integer": 4},
        "train": {"epochs": 12, "float_epochs": 12, "pruning_start_epoch": 2, "pruning_end_epoch": 8, "batch_size": 128},
        "firmware": {"backends": ["Vitis"]}, "verify": {"events": 800},
    }  # fmt: skip


BUDGET = {"latency_ns": 500, "ii_cycles": 1, "max_metric_drop": {"r2": 0.5}}


def write_model(root, spec: dict):
    model = root / "models" / spec["name"]
    model.mkdir(parents=True, exist_ok=True)
    (model / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
    (model / "budget.yml").write_text(yaml.safe_dump(BUDGET))
    return model


@pytest.fixture(scope="module")
def synthesised(tmp_path_factory):
    root = tmp_path_factory.mktemp("regression")
    write_model(root, toy_spec())
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("TRIGGER_DATA", str(root / "data"))
    mp.setenv("TRIGGER_HLS_PROJECTS", str(root / "hls_projects"))
    try:
        assert run_cli("train", "tinytop") == 0
        assert run_cli("synth", "tinytop") == 0
    finally:
        mp.undo()
    return root


def report(root) -> dict:
    return json.loads((root / "models/tinytop/metrics.json").read_text())


def test_csim_equals_quantized_keras(synthesised):
    r = report(synthesised)
    assert r["task"] == "regression" and r["events"] == 800
    assert r["csim"]["exact_fraction"] == 1.0 and r["csim"]["max_lsb_diff"] == 0
    assert r["metrics"]["csim"] == r["metrics"]["quantized"]


def test_r2_bias_rms_per_output_and_flavour(synthesised):
    r = report(synthesised)
    for which in ("float", "quantized", "csim"):
        m = r["metrics"][which]
        assert set(m["components"]) == {"top_px", "top_py", "top_pz", "top_e"}
        for c in m["components"].values():
            assert set(c) == {"r2", "bias", "rms"} and c["rms"] >= abs(c["bias"])
        # px = b + lepton + MET exactly in the toy: even a tiny network gets it, in GeV after the shift
        assert m["components"]["top_px"]["r2"] > 0.95
        assert m["binned"]["edges"] == [100, 300, 500, 800] and sum(m["binned"]["events"]) == 800
        assert len(m["binned"]["top_pz"]["rms"]) == 3
        assert set(m["mass"]) == {"median", "half_width_68", "spacelike_fraction"}  # outputs form a four-vector
    assert "r2_drop" in r["budget"]
    for plot in ("true_vs_predicted.png", "resolution.png", "mass.png"):
        assert (synthesised / "models/tinytop/plots" / plot).is_file()


def test_firmware_output_shift_gives_gev(synthesised, tmp_path):
    """Compile the exported units header: output << shift is the GeV value the report uses."""
    project = synthesised / "hls_projects/tinytop/Vitis"
    header = (project / "firmware/tinytop_units.h").read_text()
    assert "TINYTOP_OUTPUT_SHIFT = 8;" in header and "[3] top_e: top_e" in header
    source = ('#include <cstdio>\n#include "tinytop_units.h"\n'
              "int main() { double v; while (std::scanf(\"%lf\", &v) == 1) { result_t r = v; "
              "std::printf(\"%.17g\\n\", tinytop_to_gev(r)); } return 0; }\n")
    csim = np.loadtxt(project / "tb_data/tb_output_predictions.dat")
    out = run_with_firmware_headers(project, source, "\n".join(f"{v:.17g}" for v in csim.ravel()), tmp_path).split()
    gev = np.array(out, float).reshape(csim.shape)
    np.testing.assert_array_equal(gev, csim * 256.0)
    assert np.abs(gev[:, 3]).max() > 200  # top energies: the values really are GeV


def test_training_is_reproducible(synthesised, tmp_path, monkeypatch):
    """Same spec + seed => the same model bytes (retrained from the cached toy data)."""
    root = tmp_path / "again"
    shutil.copytree(synthesised / "models", root / "models", ignore=shutil.ignore_patterns("trained", "plots", "metrics.json"))
    monkeypatch.chdir(root)
    monkeypatch.setenv("TRIGGER_DATA", str(synthesised / "data"))
    assert run_cli("train", "tinytop") == 0
    for name in ("model_weights.npz", "test_sample.npz", "preprocessing.json"):
        assert (root / "models/tinytop/trained" / name).read_bytes() == (synthesised / "models/tinytop/trained" / name).read_bytes()


def test_target_outside_the_output_range_is_named(synthesised, tmp_path, capsys, monkeypatch):
    write_model(tmp_path, toy_spec(output_shift=2))  # ap_fixed<18,6> * 4 = +-128 GeV: top energies do not fit
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIGGER_DATA", str(synthesised / "data"))
    assert run_cli("train", "tinytop") == 2
    err = capsys.readouterr().err
    assert "regression.targets.top_" in err and "output_shift" in err and len(err.strip().splitlines()) == 1


def test_target_presets_and_spec_errors():
    from trigger.errors import TriggerError
    from trigger.spec import spec_from_dict

    base = toy_spec()
    top = spec_from_dict({**base, "regression": {}})
    assert top.regression.target_map == {"top_px": "tlep_px", "top_py": "tlep_py", "top_pz": "tlep_pz", "top_e": "tlep_e"}
    assert spec_from_dict({**base, "regression": {"targets": "neutrino_pz"}}).regression.target_map == {"nu_pz": "nu_pz"}
    no_block = {k: v for k, v in base.items() if k != "regression"}
    assert spec_from_dict(no_block).regression.targets == "top"  # the default when the block is left out
    bad = {
        "preset 'w_mass' is unknown": {"targets": "w_mass"},
        "'regression.targets' is empty": {"targets": {}},
        "'regression.bin_edges' must be": {"bin_edges": [5, 1]},
        "unknown key 'regression.shift'": {"shift": 3},
    }
    for message, override in bad.items():
        with pytest.raises(TriggerError, match=message):
            spec_from_dict({**base, "regression": override})
    with pytest.raises(TriggerError, match="needs model.kind: mlp"):
        spec_from_dict({**base, "model": {"kind": "autoencoder"}})


def test_missing_target_branch_is_named(tmp_path, capsys, monkeypatch):
    from trigger.rootio import write_tree

    write_tree(tmp_path / "events.root", "t", {f: np.ones(50, np.float32) for f in TOY_INPUTS})
    spec = toy_spec() | {"data": {"files": ["../../events.root"], "tree": "t", "features": {f: f for f in TOY_INPUTS}}}
    write_model(tmp_path, spec)
    monkeypatch.chdir(tmp_path)
    assert run_cli("train", "tinytop") == 2
    err = capsys.readouterr().err
    assert "has no branch 'top_" in err and "regression.targets.top_" in err


def test_metric_definitions():
    rng = np.random.default_rng(0)
    true = rng.normal(0, 10, (1000, 4))
    assert regression.r2(true[:, 0], true[:, 0]) == 1.0
    assert regression.r2(true[:, 0], np.full(1000, true[:, 0].mean())) == pytest.approx(0.0, abs=1e-12)
    shifted = regression.components(true, true + 3.0, ["a", "b", "c", "d"])
    assert shifted["a"]["bias"] == pytest.approx(3.0) and shifted["a"]["rms"] == pytest.approx(3.0)
    binned = regression.binned(true, true + 1.0, ["a", "b", "c", "d"], np.full(1000, 5.0), [0, 1, 10])
    assert binned["events"] == [0, 1000] and binned["a"]["bias"][0] is None and binned["a"]["rms"][1] == pytest.approx(1.0)
    assert regression.four_vector(["nu_pz"]) is None
    assert regression.four_vector(["t_e", "t_px", "t_pz", "t_py"]) == [1, 3, 2, 0]
    p4 = np.array([[0.0, 0.0, 3.0, 5.0], [0.0, 0.0, 5.0, 3.0]])
    np.testing.assert_allclose(regression.invariant_mass(p4), [4.0, -4.0])
