"""Bring-your-own models as hls4ml users bring them: softmax classifiers (float and QKeras), Dropout, BatchNorm,
power-of-two weights, a sigmoid output and a Conv1D model. Each conversion ends in a verdict that says what was
verified, and exits non-zero whenever the firmware does not compute what the model computes."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import REPO, run_cli

Q6 = "quantized_bits(6,0,alpha=1)"


def _keras():
    from trigger.keras2 import keras  # first: Keras 2 before QKeras

    return keras


def _data(n=2000, features=8, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (n, features))
    return x, (x[:, :classes] @ rng.normal(0, 1, (classes, classes))).argmax(axis=1)


def _fit(model, x, y, epochs=25):
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=0)
    return model


def float_softmax():
    keras = _keras()
    keras.utils.set_random_seed(1)
    x, y = _data()
    return _fit(keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"),
                                  keras.layers.Dense(4, name="logits"), keras.layers.Activation("softmax", name="softmax")]), x, y)


def qkeras_softmax():
    keras = _keras()  # before QKeras, whatever ran first
    from qkeras import QActivation, QDense

    keras.utils.set_random_seed(2)
    x, y = _data()
    return _fit(keras.Sequential([keras.Input((8,)), QDense(16, kernel_quantizer=Q6, bias_quantizer=Q6, name="hidden"),
                                  QActivation("quantized_relu(8,3)", name="hidden_relu"),
                                  QDense(4, kernel_quantizer=Q6, bias_quantizer=Q6, name="logits"),
                                  keras.layers.Activation("softmax", name="softmax")]), x, y)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIGGER_HLS_PROJECTS", str(tmp_path / "hls_projects"))
    np.save(tmp_path / "x.npy", _data(1500)[0])
    return tmp_path


def _report(workdir, name: str) -> dict:
    return json.loads((workdir / "converted" / name / "metrics.json").read_text())


def _convert(workdir, *args: str) -> subprocess.CompletedProcess:
    """The real command line, stdout and stderr in one stream, so the order of the lines is what a user sees."""
    env = {**os.environ, "TRIGGER_HLS_PROJECTS": str(workdir / "hls_projects")}
    return subprocess.run([sys.executable, "-m", "trigger.cli", "convert", *args], cwd=workdir, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


@pytest.mark.slow
def test_float_softmax_classifier_converts_without_manual_config(workdir, capsys):
    """hls4ml's own softmax types collapse behind an exact Dense (every event 1/N); the chosen ones follow Keras."""
    float_softmax().save(workdir / "fsm.h5")
    assert run_cli("convert", "--keras", "fsm.h5", "--input", "x.npy") == 0
    out = capsys.readouterr().out
    assert "softmax 'softmax' found" in out and "inp_norm_t ap_ufixed<18,3,AP_RND,AP_SAT>" in out
    close = _report(workdir, "fsm")["metrics"]["csim"]["vs_keras"]
    assert close["argmax_agreement"] >= 0.99 and close["within_tolerance_fraction"] == 1.0 and close["max_abs_diff"] < 0.05
    assert "verdict: PASS" in out and "argmax agreement" in out.splitlines()[-1]
    config = (workdir / "hls_projects" / "fsm" / "Vitis" / "hls4ml_config.yml").read_text()
    assert "inp_norm_t: ap_ufixed<18,3,AP_RND,AP_SAT>" in config


@pytest.mark.slow
def test_qkeras_softmax_is_bit_exact_up_to_the_logits(workdir, capsys):
    qkeras_softmax().save(workdir / "qsm.h5")
    assert run_cli("convert", "--keras", "qsm.h5", "--input", "x.npy") == 0
    report = _report(workdir, "qsm")
    assert report["csim"]["checked_layer"] == "logits" and report["csim"]["exact_fraction"] == 1.0
    assert report["csim"]["max_lsb_diff"] == 0 and report["verification"]["pass"] is True
    close = report["metrics"]["csim"]["vs_keras"]
    assert close["argmax_agreement"] >= 0.99 and close["max_abs_diff"] <= 0.05
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("verdict: PASS") and "0 LSB) up to 'logits'" in last and "max |Δp|" in last


@pytest.mark.slow
def test_strip_softmax_gives_logits_checked_bit_for_bit(workdir, capsys):
    keras = _keras()
    model = qkeras_softmax()
    model.save(workdir / "qsm.h5")
    assert run_cli("convert", "--keras", "qsm.h5", "--input", "x.npy", "--strip-softmax", "--name", "logits_only") == 0
    report = _report(workdir, "logits_only")
    assert report["layers"]["stripped_softmax"] == "softmax" and report["layers"]["softmax"] is None
    assert report["csim"]["exact_fraction"] == 1.0 and "checked_layer" not in report["csim"]
    logits = keras.Model(model.input, model.get_layer("logits").output)
    x = np.loadtxt(workdir / "hls_projects" / "logits_only" / "Vitis" / "tb_data" / "tb_input_features.dat")
    csim = np.loadtxt(workdir / "hls_projects" / "logits_only" / "Vitis" / "tb_data" / "tb_output_predictions.dat")
    assert np.array_equal(csim, logits.predict(x, verbose=0))  # the firmware output is the logits, exactly
    assert "stripped (--strip-softmax)" in capsys.readouterr().out


@pytest.mark.slow
def test_failed_verification_exits_non_zero_and_the_verdict_comes_last(workdir):
    """A float model whose hidden ReLU overflows ap_fixed<16,6>: no budget given, still a failure, named and last."""
    keras = _keras()
    keras.utils.set_random_seed(4)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(10, activation="relu", name="hidden"),
                              keras.layers.Dense(2, name="out")])
    model.layers[0].set_weights([w * 40.0 for w in model.layers[0].get_weights()])
    model.save(workdir / "big.h5")
    proc = _convert(workdir, "--keras", "big.h5", "--input", "x.npy", "--tolerance", "0.5")
    lines = proc.stdout.strip().splitlines()
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert "budget PASS (no --budget given)" in lines[-2]
    assert lines[-1].startswith("verdict: FAIL: Vitis: csim within 0.5 of float Keras on ")
    assert "first layer beyond the tolerance: hidden_relu" in lines[-1] and "R²" in lines[-1]
    report = _report(workdir, "big")
    assert report["verification"]["pass"] is False and report["overflow"]["hidden_relu"]["clip_in_keras"] is False
    assert report["recommended_precisions"]["hidden_relu"]["action"] == "widen"
    readme = (workdir / "hls_projects" / "big" / "bundle" / "README.md").read_text()
    assert "compared with the float Keras model" in readme and "bit-exact with the quantized model" not in readme


@pytest.mark.slow
def test_recommendations_never_widen_what_clips_in_keras(workdir):
    """A quantized_relu that saturates clips in Keras too: widening it (the old advice) broke 0 LSB by 28k LSB."""
    keras = _keras()  # before QKeras, whatever ran first
    from qkeras import QActivation, QDense

    keras.utils.set_random_seed(5)
    model = keras.Sequential([keras.Input((8,)), QDense(12, kernel_quantizer="quantized_bits(6,3,alpha=1)",
                                                         bias_quantizer=Q6, name="hidden"),
                              QActivation("quantized_relu(6,1)", name="relu1"),
                              QDense(3, kernel_quantizer=Q6, bias_quantizer=Q6, name="out")])
    model.save(workdir / "clip.h5")
    assert run_cli("convert", "--keras", "clip.h5", "--input", "x.npy") == 0
    report = _report(workdir, "clip")
    relu = report["overflow"]["relu1"]
    assert relu["saturated"] > 0 and relu["clip_in_keras"] is True
    assert report["recommended_precisions"]["relu1"]["action"] == "keep (clips in Keras too)"
    recommended = yaml.safe_load((workdir / "converted" / "clip" / "recommended_hls_config.yml").read_text())
    assert "relu1" not in (recommended["LayerName"] or {})
    assert run_cli("convert", "--keras", "clip.h5", "--input", "x.npy", "--name", "clip_again", "--hls-config",
                   "converted/clip/recommended_hls_config.yml") == 0  # following the advice keeps 0 LSB
    assert _report(workdir, "clip_again")["csim"]["max_lsb_diff"] == 0


@pytest.mark.slow
def test_inference_identities_are_skipped_and_said(workdir, capsys):
    keras = _keras()
    keras.utils.set_random_seed(6)
    x, y = _data()
    model = _fit(keras.Sequential([keras.Input((8,)), keras.layers.Dense(16, activation="relu", name="hidden"),
                                   keras.layers.Dropout(0.3, name="drop"), keras.layers.GaussianNoise(0.1, name="noise"),
                                   keras.layers.Dense(4, name="out")]), x, y, epochs=5)
    model.save(workdir / "dropout.h5")
    assert run_cli("convert", "--keras", "dropout.h5", "--input", "x.npy", "--tolerance", "2%") == 0
    assert "skipped (identities at inference): drop (Dropout), noise (GaussianNoise)" in capsys.readouterr().out
    report = _report(workdir, "dropout")
    assert report["layers"]["skipped_at_inference"] == ["drop (Dropout)", "noise (GaussianNoise)"]
    assert report["metrics"]["csim"]["vs_keras"]["tolerance"] == "2%"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["batchnorm", "sigmoid"])
def test_batchnorm_and_sigmoid_models_follow_keras(workdir, kind):
    keras = _keras()
    keras.utils.set_random_seed(7)
    x, y = _data()
    if kind == "batchnorm":
        layers = [keras.layers.Dense(16, name="hidden"), keras.layers.BatchNormalization(name="bn"),
                  keras.layers.Activation("relu", name="relu"), keras.layers.Dense(4, name="out")]
        model = _fit(keras.Sequential([keras.Input((8,)), *layers]), x, y, epochs=5)
    else:
        model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu", name="hidden"),
                                  keras.layers.Dense(1, activation="sigmoid", name="out")])
        model.compile("adam", "binary_crossentropy")
        model.fit(x, (y == 0).astype(float), epochs=5, verbose=0)
    model.save(workdir / f"{kind}.h5")
    proc = _convert(workdir, "--keras", f"{kind}.h5", "--input", "x.npy")
    assert proc.returncode == 0, proc.stdout[-2000:]
    assert proc.stdout.strip().splitlines()[-1].startswith("verdict: PASS")
    assert _report(workdir, kind)["metrics"]["csim"]["vs_keras"]["within_tolerance_fraction"] == 1.0


@pytest.mark.slow
def test_power_of_two_weights_end_in_a_verdict_not_a_traceback(workdir):
    """hls4ml 1.3.0 called np.product (gone in numpy 2) for quantized_po2 weights. It now converts; hls4ml gives that
    Dense the model's default result type, so the firmware is not bit-exact, and the verdict says where, in LSBs."""
    keras = _keras()  # before QKeras, whatever ran first
    from qkeras import QActivation, QDense

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((8,)), QDense(8, kernel_quantizer="quantized_po2(4)", bias_quantizer=Q6, name="h"),
                              QActivation("quantized_relu(8,3)", name="r"),
                              QDense(3, kernel_quantizer=Q6, bias_quantizer=Q6, name="out")])
    model.save(workdir / "po2.h5")
    proc = _convert(workdir, "--keras", "po2.h5", "--input", "x.npy")
    assert "Traceback" not in proc.stdout and proc.returncode == 1
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("verdict: FAIL: Vitis: csim differs from quantized Keras") and "first diverging layer: h (" in last
    readme = (workdir / "hls_projects" / "po2" / "bundle" / "README.md").read_text()  # no RTL core of other arithmetic
    assert "RTL core testbench (Icarus): no RTL core: the fixed-point graph it would be built from differs from the csim" in readme
    assert not (workdir / "hls_projects" / "po2" / "bundle" / "rtl").exists()


def test_numpy_product_is_there_for_hls4ml():
    import trigger.keras2  # noqa: F401

    assert np.product is np.prod


def _simple_model(workdir):
    keras = _keras()
    keras.utils.set_random_seed(8)
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(6, activation="relu", name="hidden"),
                              keras.layers.Dense(2, name="out")])
    model.save(workdir / "m.h5")
    return model


@pytest.mark.parametrize("config, message", [
    ({"LayerName": {"hidden": {"Precision": {"result": "ap_fixd<16,6>"}}}},
     "'LayerName.hidden.Precision.result' = 'ap_fixd<16,6>' is not a precision"),
    ("LayerName:\n  hidden:\n    Precision: {result: ap_fixed<18,8>}\n",  # YAML flow style splits at the comma
     "'LayerName.hidden.Precision.8>' is not a precision key"),
    ({"LayerName": {"dense_9": {"ReuseFactor": 2}}}, "'LayerName.dense_9' is not a layer of the model (layers: "),
    ({"Model": {"ReuseFactor": 0}}, "'Model.ReuseFactor' must be a positive integer, got 0"),
    ({"Model": {"Strategy": "Fast"}}, "'Model.Strategy' must be Latency or Resource, got 'Fast'"),
    ({"LayerName": {"hidden": {"exp_table_t": "fixed16"}}}, "'LayerName.hidden.exp_table_t' = 'fixed16' is not a precision"),
])
def test_hls_config_is_checked_with_key_paths(workdir, capsys, config, message):
    _simple_model(workdir)
    (workdir / "hls.yml").write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    assert run_cli("convert", "--keras", "m.h5", "--input", "x.npy", "--hls-config", "hls.yml") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: hls.yml: ") and message in err and "\n" not in err, err
    assert "dense_9" not in message or "hidden, hidden_relu, out" in err
    assert not (workdir / "hls_projects").exists()


def test_a_keras_3_file_says_so(workdir, capsys):
    """Keras's own reason, and what to do: the file comes from Keras 3, which this stack does not read."""
    script = ("import keras; m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2)]); m.save('k3.h5')")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    subprocess.run([sys.executable, "-c", script], cwd=workdir, env=env, check=True, capture_output=True)
    assert run_cli("convert", "--keras", "k3.h5", "--input", "x.npy") == 2
    err = capsys.readouterr().err.strip()
    assert "k3.h5: not a readable Keras model: " in err and "batch_shape" in err and "written by Keras 3" in err, err


def test_an_unknown_layer_class_is_named_with_kerass_reason(workdir, capsys):
    arch = json.loads(_simple_model(workdir).to_json())
    arch["config"]["layers"][1]["class_name"] = "BinaryDense"
    (workdir / "arch.json").write_text(json.dumps(arch))
    assert run_cli("convert", "--json", "arch.json", "--weights", "m.h5", "--input", "x.npy") == 2
    err = capsys.readouterr().err.strip()
    assert "arch.json: not a Keras model JSON: Unknown layer: 'BinaryDense'" in err and "custom layer" in err, err


def test_emulator_name_is_checked_before_anything_is_built(workdir, capsys):
    _simple_model(workdir)
    assert run_cli("convert", "--keras", "m.h5", "--input", "x.npy", "--emulator-name", "M") == 2
    err = capsys.readouterr().err.strip()
    assert "--emulator-name = 'M' must look like <Model>_v<N>" in err and "\n" not in err, err
    assert not (workdir / "hls_projects").exists()


def test_layer_kinds_are_checked_before_the_sample(workdir, capsys):
    keras = _keras()
    model = keras.Sequential([keras.Input((8, 1)), keras.layers.Conv1D(4, 3, name="conv"), keras.layers.Flatten(name="flat"),
                              keras.layers.Dense(2, name="out")])
    model.save(workdir / "conv.h5")
    assert run_cli("convert", "--keras", "conv.h5", "--input", "x.npy") == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: layer 'conv' (Conv1D) is not supported: trigger convert takes dense models (Dense, QDense")
    assert "expects (events" not in err


@pytest.mark.slow
def test_undefined_r2_is_reported_as_undefined(workdir):
    keras = _keras()
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(2, kernel_initializer="zeros", name="flat_out")])
    model.save(workdir / "const.h5")
    assert run_cli("convert", "--keras", "const.h5", "--input", "x.npy") == 2  # `const` cannot name a C++ function
    assert run_cli("convert", "--keras", "const.h5", "--input", "x.npy", "--name", "flat") == 0
    close = _report(workdir, "flat")["metrics"]["csim"]["vs_keras"]
    assert close["r2_vs_keras"] == [None, None] and "undefined" in close["r2_note"]
    readme = (workdir / "hls_projects" / "flat" / "bundle" / "README.md").read_text()  # an output that uses no input bit
    assert "RTL core testbench (Icarus): no RTL core: da4ml cannot build it: cannot re-pack in_data" in readme


@pytest.mark.slow
@pytest.mark.parametrize("suffix", [".csv", ".dat"])
def test_csv_and_dat_samples(workdir, suffix):
    _simple_model(workdir)
    x = np.load(workdir / "x.npy")[:300]
    if suffix == ".csv":
        names = [f"f{i}" for i in range(8)]
        (workdir / "x.csv").write_text(",".join(names) + "\n" + "\n".join(",".join(f"{v:.6f}" for v in row) for row in x) + "\n")
    else:
        np.savetxt(workdir / "x.dat", x)
    assert run_cli("convert", "--keras", "m.h5", "--input", f"x{suffix}", "--name", f"s{suffix[1:]}") == 0
    ports = json.loads((workdir / "hls_projects" / f"s{suffix[1:]}" / "Vitis" / "interface.json").read_text())
    assert ports["test_events"] == 300
    assert ports["input"]["elements"][0]["meaning"] == ("f0" if suffix == ".csv" else "x0")


@pytest.mark.slow
def test_a_tf_keras_dot_keras_file_converts(workdir):
    """`--help` says .keras files work: those written by tf_keras (Keras 2) do."""
    _simple_model(workdir).save(workdir / "m.keras")
    assert run_cli("convert", "--keras", "m.keras", "--input", "x.npy", "--name", "dotkeras") == 0
