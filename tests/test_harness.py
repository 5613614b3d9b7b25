"""End to end on a freshly trained tiny model: user ROOT file -> QKeras -> hls4ml -> csim == Keras."""

import json
import os
import stat

import numpy as np
import pytest
import yaml

from conftest import run_cli, tree_listing
from trigger.spec import load_spec


def test_fresh_tiny_model_is_bit_exact(tiny_project, capsys):
    assert run_cli("synth", "models/tiny") == 0
    out = capsys.readouterr().out
    assert "synthesis skipped: no Vivado/Vitis on PATH" in out
    report = json.loads((tiny_project / "models/tiny/metrics.json").read_text())
    assert report["events"] == 400
    assert report["csim"] == report["backends"]["Vitis"]["csim"]
    assert report["csim"]["exact_fraction"] == 1.0 and report["csim"]["max_lsb_diff"] == 0
    assert report["csim"]["first_diverging_layer"] is None
    # csim task metrics equal the quantized model's: the outputs are identical
    assert report["metrics"]["csim"] == report["metrics"]["quantized"]
    assert {fig["source"] for fig in report["backends"]["Vitis"]["figures"].values()} == {"estimate"}
    assert set(report["overflow"]) >= {"inputs", "dense_1", "relu_1", "dense_2", "relu_2", "logits"}
    for name in ("roc.png", "csim_vs_keras_Vitis.png"):
        assert (tiny_project / "models/tiny/plots" / name).stat().st_size > 10_000
    project = tiny_project / "hls_projects/tiny/Vitis"
    assert (project / "firmware/tiny.cpp").is_file()
    assert (project / "vivado_scripts/run_hls.sh").is_file()
    assert not list(project.rglob("*.so")), "build products must not stay in the project"
    assert "csim exact" in out and "(est)" in out


@pytest.mark.slow
def test_divergence_names_first_layer_and_lsbs(tiny_project, capsys):
    """Narrow one layer's result type by hand: the harness must catch it and point at that layer."""
    spec_path = tiny_project / "models/tiny/spec.yml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["firmware"]["layers"] = {"dense_2": {"Precision": {"result": "ap_fixed<10,4>"}}}
    spec_path.write_text(yaml.safe_dump(raw))
    assert run_cli("synth", "models/tiny") == 1
    captured = capsys.readouterr()
    assert "not bit-exact" in captured.err
    csim = json.loads((tiny_project / "models/tiny/metrics.json").read_text())["csim"]
    assert csim["exact_fraction"] < 1.0 and csim["max_lsb_diff"] > 0
    assert csim["first_diverging_layer"] == "dense_2"
    assert csim["first_diverging_layer_lsb_diff"] > 0
    assert "cause" not in csim, "ap_fixed<10,4> fits float32: the firmware type is the cause, not the reference"
    assert "first diverging layer: dense_2" in captured.out


def test_a_layer_wider_than_float32_is_named_as_a_cause():
    """Keras computes in float32 (24 significant bits): a diverging layer whose exact type is wider may be the
    reference rounding (jet_compression's scan trial t0005: 12-bit weights x 16-bit activations), and says so."""
    from trigger.fixed import FixedType
    from trigger.verify.compare import Agreement, describe, float32_limit

    assert float32_limit("dense_2", FixedType(24, 8, True)) is None
    cause = float32_limit("dense_2", FixedType(33, 9, True))
    assert cause.startswith("dense_2 is fixed<33,9> (33 bits), more than the 24 float32 holds") and "fewer" in cause
    agreement = Agreement(6000, 5986, 1, "dense_2", 6, cause)
    assert describe(agreement, "Vitis").endswith(f"first diverging layer: dense_2 (6 LSB); {cause}")
    assert agreement.as_dict("Vitis", FixedType(16, 6, True))["cause"] == cause
    assert "cause" not in Agreement(6000, 6000, 0).as_dict("Vitis", FixedType(16, 6, True))


def test_budget_gate_fails_when_limit_exceeded(tiny_project, capsys):
    assert run_cli("synth", "models/tiny") == 0
    assert run_cli("check", "models/tiny") == 0
    budget_path = tiny_project / "models/tiny/budget.yml"
    limits = yaml.safe_load(budget_path.read_text())
    limits["lut"] = 10
    budget_path.write_text(yaml.safe_dump(limits))
    capsys.readouterr()
    assert run_cli("check", "models/tiny") == 1
    assert "OVER BUDGET: lut" in capsys.readouterr().out


@pytest.mark.slow
def test_vendor_report_is_used_and_labelled_vivado(tiny_project, tmp_path, monkeypatch, capsys):
    """A stand-in `vitis-run` leaves a csynth report where Vitis would; the figures must switch to it."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    fixture = os.path.join(os.path.dirname(__file__), "fixtures", "csynth_vivado.xml")
    tool = fake_bin / "vitis-run"
    tool.write_text(f"#!/bin/sh\nmkdir -p tiny_prj/solution1/syn/report\ncp {fixture} tiny_prj/solution1/syn/report/tiny_csynth.xml\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{fake_bin}:{os.environ['PATH']}")
    assert run_cli("synth", "models/tiny") == 0
    vitis = json.loads((tiny_project / "models/tiny/metrics.json").read_text())["backends"]["Vitis"]
    assert vitis["synthesis"] == "synthesised with vitis-run"
    assert vitis["figures"]["lut"] == {"value": 20345, "source": "vivado"}
    assert vitis["budget"]["latency_ns"]["source"] == "vivado"
    assert (tiny_project / "hls_projects/tiny/Vitis/reports/tiny_csynth.xml").is_file()
    assert "(vivado)" in capsys.readouterr().out


@pytest.mark.slow
def test_same_spec_and_seed_give_same_bytes(tiny_project, trained_tiny):
    from trigger.train import train

    before = tree_listing(tiny_project / "models/tiny/trained")
    train(load_spec(tiny_project / "models/tiny/spec.yml"), progress=False)
    after = tree_listing(tiny_project / "models/tiny/trained")
    assert {k: v for k, v in before.items()} == after


def test_training_writes_documented_artifacts(tiny_project):
    trained = tiny_project / "models/tiny/trained"
    record = json.loads((trained / "training.json").read_text())
    assert record["sparsity"]["total"] > 0.3  # pruned towards the default 0.5
    with np.load(trained / "test_sample.npz") as f:
        assert f["x"].shape == (400, 7)
    pre = json.loads((trained / "preprocessing.json").read_text())
    assert pre["features"][-1] == "ratio" and len(pre["shifts"]) == 7


@pytest.mark.slow
def test_overflow_audit_counts_activation_clipping(tiny_project):
    """relu_1 saturations = dense_1 outputs that round above the ufixed<6,0> maximum, counted independently."""
    from trigger.trained import Trained
    from trigger.verify import keras_layer_outputs

    assert run_cli("synth", "models/tiny") == 0
    audit = json.loads((tiny_project / "models/tiny/metrics.json").read_text())["overflow"]
    trained = Trained.load(load_spec(tiny_project / "models/tiny/spec.yml"))
    dense_1 = keras_layer_outputs(trained.model, trained.x)["dense_1"]
    assert audit["relu_1"]["saturated"] == int((np.round(dense_1 * 64) > 63).sum())  # RND_CONV, then SAT
    assert audit["relu_1"]["range"] == [0.0, 1 - 2**-6] and audit["relu_1"]["clip_in_keras"] is True
    assert audit["dense_1"]["saturated"] == 0 and audit["dense_1"]["clip_in_keras"] is False
