"""`trigger convert`: a model trained elsewhere gets the same project, harness, metrics.json and bundle."""

import json

import numpy as np
import pytest
import yaml

from conftest import run_cli, write_tiny_data

QUANT = "quantized_bits(6,0,alpha=1)"


def _qkeras_model():
    from trigger.keras2 import keras  # first: Keras 2 before QKeras

    from qkeras import QActivation, QDense  # noqa: I001

    keras.utils.set_random_seed(3)
    model = keras.Sequential([
        keras.Input((6,)),
        QDense(12, kernel_quantizer=QUANT, bias_quantizer=QUANT, name="hidden"),
        QActivation("quantized_relu(8,3)", name="hidden_relu"),
        QDense(3, kernel_quantizer=QUANT, bias_quantizer=QUANT, name="scores"),
    ])
    x = np.random.default_rng(0).normal(0, 1, (512, 6))
    model.compile("adam", "mse")
    model.fit(x, x[:, :3], epochs=2, verbose=0)
    return model


def _float_model(scale: float = 1.0):
    from trigger.keras2 import keras

    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(10, activation="relu", name="hidden"),
                              keras.layers.Dense(2, name="out")])
    model.layers[0].set_weights([w * scale for w in model.layers[0].get_weights()])
    return model


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIGGER_HLS_PROJECTS", str(tmp_path / "hls_projects"))
    np.save(tmp_path / "x.npy", np.random.default_rng(1).normal(0, 1, (1500, 6)))
    return tmp_path


def _exact(workdir, name: str) -> dict:
    report = json.loads((workdir / "converted" / name / "metrics.json").read_text())
    assert report["reference"] == "quantized" and report["events"] == 1500
    assert report["csim"]["exact_fraction"] == 1.0 and report["csim"]["max_lsb_diff"] == 0
    bundle = workdir / "hls_projects" / name / "bundle"
    library = "".join(part.capitalize() for part in name.split("_")) + "_v1"
    readme = (bundle / "README.md").read_text()
    assert f"PASS: {library}: 1500/1500 events bit-exact through hls4mlEmulator::ModelLoader" in readme
    assert f"RTL core testbench (Icarus): PASS: tb_{name}: 2500/2500 results bit-exact" in readme
    assert (bundle / "emulator" / f"{library}.so").is_file()
    return report


@pytest.mark.slow
def test_qkeras_h5_round_trip_is_bit_exact(workdir):
    _qkeras_model().save(workdir / "user_model.h5")
    assert run_cli("convert", "--keras", "user_model.h5", "--input", "x.npy") == 0
    report = _exact(workdir, "user_model")
    assert report["budget"] == {"pass": True}
    assert (workdir / "hls_projects" / "user_model" / "Vitis" / "interface.json").is_file()


@pytest.mark.slow
def test_qkeras_json_plus_weights_round_trip_is_bit_exact(workdir):
    model = _qkeras_model()
    (workdir / "arch.json").write_text(model.to_json())
    model.save_weights(workdir / "arch_weights.h5")
    assert run_cli("convert", "--json", "arch.json", "--weights", "arch_weights.h5", "--input", "x.npy",
                   "--name", "from_json") == 0
    _exact(workdir, "from_json")


@pytest.mark.slow
def test_users_reuse_factor_enters_the_estimate_and_the_summary(workdir, capsys):
    """--hls-config's ReuseFactor reaches the cost estimate (it used to be taken as 1), and `trigger summary`
    shows a converted model like a shipped one (metrics.json has the same `backends` schema)."""
    _qkeras_model().save(workdir / "rf.h5")
    (workdir / "rf.yml").write_text(yaml.safe_dump({"Model": {"ReuseFactor": 4}}))
    assert run_cli("convert", "--keras", "rf.h5", "--input", "x.npy", "--hls-config", "rf.yml") == 0
    estimate = _exact(workdir, "rf")["backends"]["Vitis"]["estimate"]
    assert estimate["ii_cycles"] == {"value": 4, "source": "estimate"}
    parameters = (workdir / "hls_projects" / "rf" / "Vitis" / "firmware" / "parameters.h").read_text()
    assert "reuse_factor = 4;" in parameters and "reuse_factor = 1;" not in parameters  # the firmware has it too
    assert run_cli("convert", "--keras", "rf.h5", "--input", "x.npy", "--name", "rf1") == 0
    assert estimate["latency_cycles"]["value"] > _exact(workdir, "rf1")["backends"]["Vitis"]["estimate"]["latency_cycles"]["value"]
    capsys.readouterr()
    assert run_cli("summary", "converted/rf") == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("rf "))
    assert "100.00%" in row and "events bit-exact" in row and "(est)" in row


@pytest.mark.slow
def test_float_model_is_compared_through_a_tolerance_and_gets_precisions(workdir, capsys):
    """Hidden activations up to ~100 overflow the default ap_fixed<16,6> ReLU output: widen it."""
    _float_model(scale=40.0).save(workdir / "float_model.h5")
    budget = workdir / "budget.yml"
    budget.write_text(yaml.safe_dump({"lut": 10**6, "max_metric_drop": {"outside_tolerance": 0.0}}))
    # outputs reach ~130: 0.5 is 0.4% of the range (16-bit weights, 10 fractional bits everywhere)
    assert run_cli("convert", "--keras", "float_model.h5", "--input", "x.npy", "--tolerance", "0.5", "--budget", str(budget)) == 1
    report = json.loads((workdir / "converted" / "float_model" / "metrics.json").read_text())
    assert report["reference"] == "float"
    close = report["metrics"]["csim"]["vs_keras"]
    assert close["tolerance"] == 0.5 and close["within_tolerance_fraction"] < 1.0 and close["max_abs_diff"] > 50
    assert report["budget"]["pass"] is False and report["budget"]["outside_tolerance_drop"]["pass"] is False
    relu = report["recommended_precisions"]["hidden_relu"]
    assert relu["saturated"] > 0 and relu["action"] == "widen"
    recommended = yaml.safe_load((workdir / "converted" / "float_model" / "recommended_hls_config.yml").read_text())
    assert recommended["LayerName"]["hidden_relu"]["Precision"]["result"] == relu["recommended"]
    assert "widen to" in capsys.readouterr().out

    # the recommendation removes the overflow: csim now follows the float model within the tolerance
    assert run_cli("convert", "--keras", "float_model.h5", "--input", "x.npy", "--tolerance", "0.5", "--budget", str(budget), "--hls-config",
                   "converted/float_model/recommended_hls_config.yml", "--name", "float_fixed") == 0
    fixed = json.loads((workdir / "converted" / "float_fixed" / "metrics.json").read_text())
    assert fixed["metrics"]["csim"]["vs_keras"]["within_tolerance_fraction"] == 1.0
    assert fixed["overflow"]["hidden_relu"]["saturated"] == 0


@pytest.mark.slow
def test_root_sample_with_a_mapping(workdir):
    write_tiny_data(workdir / "events.root", n=800)
    (workdir / "map.yml").write_text(yaml.safe_dump({"tree": "t", "features": {f"f{i}": f"f{i}" for i in range(6)},
                                                     "units": {"f0": "GeV"}}))
    _qkeras_model().save(workdir / "rootmodel.h5")
    assert run_cli("convert", "--keras", "rootmodel.h5", "--root", "events.root", "--mapping", "map.yml", "--input-precision",
                   "ap_fixed<18,8>") == 0
    report = json.loads((workdir / "converted" / "rootmodel" / "metrics.json").read_text())
    assert report["events"] == 800 and report["csim"]["exact_fraction"] == 1.0
    ports = json.loads((workdir / "hls_projects" / "rootmodel" / "Vitis" / "interface.json").read_text())
    assert ports["input"]["type"].startswith("ap_fixed<18,8") and ports["input"]["elements"][0]["unit"] == "GeV"


def test_unconvertible_layer_is_named(workdir, capsys):
    from trigger.keras2 import keras

    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="d"), keras.layers.LayerNormalization(name="norm")])
    model.save(workdir / "normed.h5")
    assert run_cli("convert", "--keras", "normed.h5", "--input", "x.npy") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: layer 'norm' (LayerNormalization) is not supported: trigger convert takes dense models")
    assert "\n" not in err


@pytest.mark.parametrize("args, message", [
    (["--keras", "missing.h5", "--input", "x.npy"], "missing.h5: Keras model not found"),
    (["--json", "arch.json", "--input", "x.npy"], "give --keras MODEL.h5, or --json MODEL.json together with --weights"),
    (["--keras", "m.h5", "--input", "x7.npy"], "x7.npy: shape (20, 7), the model expects (events, 6)"),
    (["--keras", "m.h5", "--input", "nan.npy"], "input sample: 1 NaN/Inf values (feature 'x2')"),
    (["--keras", "m.h5", "--input", "big.npy"], "20 of 20 values of feature 'x0' saturate ap_fixed<16,6> (|x| up to 1000 with shift 0; 120 saturating value(s) over all features); "
                                               "use --saturation clip or a wider --input-precision"),
    (["--keras", "m.h5"], "give an input sample"),
    (["--keras", "m.h5", "--input", "x.npy", "--hls-config", "bad.yml"], "bad.yml: unknown key 'Modle'"),
    (["--keras", "garbage.h5", "--input", "x.npy"], "garbage.h5: not a readable Keras model"),
    (["--keras", "m.h5", "--input", "x.npy", "--tolerance", "loose"], "--tolerance 'loose': give a non-negative number"),
    (["--keras", "m.h5", "--input", "x.npy", "--budget", "budget.yml"], "budget.yml: 'max_metric_drop.accuracy' is not a metric"),
])
def test_bad_convert_inputs_are_one_line_errors(workdir, capsys, args, message):
    _float_model().save(workdir / "m.h5")
    np.save(workdir / "x7.npy", np.zeros((20, 7)))
    nan = np.zeros((20, 6))
    nan[3, 2] = np.nan
    np.save(workdir / "nan.npy", nan)
    np.save(workdir / "big.npy", np.full((20, 6), 1e3))
    (workdir / "bad.yml").write_text("Modle: {}\n")
    (workdir / "budget.yml").write_text("max_metric_drop: {accuracy: 0.1}\n")  # a classifier's drop, not a conversion's
    (workdir / "garbage.h5").write_bytes(b"not hdf5")
    assert run_cli("convert", *args) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err, err
    assert not (workdir / "hls_projects").exists()
