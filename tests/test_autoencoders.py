"""Freshly trained tiny autoencoders: anomaly score on chip (reconstruction and encoder-only),
a VAE whose firmware is its mu head and sum mu^2, the exported trigger bit, and the compression
encoder; all csim == quantized Keras at 0 LSB."""

import json
import re
import shutil

import numpy as np
import pytest
import yaml

from conftest import run_cli, run_with_firmware_headers
from trigger.rootio import write_tree

pytestmark = pytest.mark.slow  # trains and synthesises three models

PROCESSES = ["bkgA", "bkgB", "sigA", "sigB"]


def anomaly_spec(name: str, score: str) -> dict:
    return {
        "name": name, "task": "anomaly", "seed": 3,
        "data": {"files": ["../../events.root"], "tree": "t", "features": {f"f{i}": f"f{i}" for i in range(8)}},
        "model": {"kind": "autoencoder", "hidden": [8], "latent": 2, "activation_bits": 8, "activation_integer": 2},
        "train": {"epochs": 4, "float_epochs": 4, "pruning_start_epoch": 1, "pruning_end_epoch": 3, "batch_size": 128},
        "anomaly": {"process_branch": "proc", "processes": PROCESSES, "signals": ["sigA", "sigB"], "weight_branch": "w",
                    "score": score, "target": {"fpr": 0.05}},
        "firmware": {"backends": ["Vitis"]}, "verify": {"events": 1000},
    }  # fmt: skip


COMPRESSION = {
    "name": "tinycomp", "task": "compression", "seed": 3,
    "data": {"files": ["../../events.root"], "tree": "t", "features": {k: k for k in ("m", "pt", "eta", "phi")}},
    "model": {"kind": "autoencoder", "hidden": [8], "latent": 3, "activation_bits": 10, "activation_integer": 2},
    "train": {"epochs": 4, "float_epochs": 4, "pruning_start_epoch": 1, "pruning_end_epoch": 3, "batch_size": 128},
    "firmware": {"backends": ["Vitis"]}, "verify": {"events": 600},
}  # fmt: skip
VAE = anomaly_spec("tinyvae", "mu2") | {
    "model": {"kind": "vae", "hidden": [8], "latent": 3, "beta": 0.5, "activation_bits": 8, "activation_integer": 2}}
BUDGET = {"latency_ns": 500, "ii_cycles": 1, "dsp": 1000, "max_metric_drop": {}}


def synthetic_events(n: int, seed: int) -> dict:
    """Two background and two signal processes (8 features), plus jet-like columns for compression."""
    rng = np.random.default_rng(seed)
    proc = rng.choice(4, n, p=[0.45, 0.35, 0.1, 0.1])
    x = rng.normal(0, 1, (n, 8)) * np.array([50, 1, 1, 20, 1, 1, 30, 2])
    x[proc == 2] += np.array([80, 0, 0, 0, 2, 0, 0, 0])
    x[proc == 3, 3] *= 3
    cols = {f"f{i}": x[:, i].astype(np.float32) for i in range(8)}
    cols |= {"proc": proc.astype(np.int32), "w": np.where(proc == 0, 2.0, 1.0),
             "m": rng.gamma(3, 40, n).astype(np.float32) + 1, "pt": rng.uniform(800, 1200, n).astype(np.float32),
             "eta": rng.uniform(0.1, 2, n).astype(np.float32), "phi": rng.uniform(0.1, 3, n).astype(np.float32)}
    return cols


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """Synthetic events, three tiny models trained once."""
    from trigger.spec import load_spec
    from trigger.train import train

    root = tmp_path_factory.mktemp("autoencoders")
    write_tree(root / "events.root", "t", synthetic_events(5000, seed=0))
    for spec in (anomaly_spec("tinyae", "reconstruction"), anomaly_spec("tinylatent", "latent"), VAE, COMPRESSION):
        model = root / "models" / spec["name"]
        model.mkdir(parents=True)
        (model / "spec.yml").write_text(yaml.safe_dump(spec, sort_keys=False))
        (model / "budget.yml").write_text(yaml.safe_dump(BUDGET))
        train(load_spec(model / "spec.yml"), progress=False)
    return root


@pytest.fixture(scope="module")
def synthesised(project, tmp_path_factory):
    root = tmp_path_factory.mktemp("synth") / "p"
    shutil.copytree(project, root)
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("TRIGGER_HLS_PROJECTS", str(root / "hls_projects"))
    try:
        assert run_cli("synth", "tinyae", "tinylatent", "tinyvae", "tinycomp") == 0
    finally:
        mp.undo()
    return root


def load(root, name, what="metrics.json"):
    return json.loads((root / "models" / name / what).read_text())


@pytest.mark.parametrize("name", ["tinyae", "tinylatent", "tinyvae", "tinycomp"])
def test_csim_equals_quantized_keras(synthesised, name):
    csim = load(synthesised, name)["csim"]
    assert csim["exact_fraction"] == 1.0 and csim["max_lsb_diff"] == 0 and csim["events"] >= 600


def test_anomaly_metrics_for_every_signal(synthesised):
    report = load(synthesised, "tinyae")
    for which in ("float", "quantized", "csim"):
        signals = report["metrics"][which]["signals"]
        assert set(signals) == {"sigA", "sigB"}
        for entry in signals.values():
            assert 0 <= entry["tpr"] <= 1 and entry["tpr_err"] >= 0 and 0 <= entry["auc"] <= 1
            assert entry["tpr_at_fpr_0.001"]["note"]  # says whether it is the requested or the smallest FPR
    assert report["metrics"]["csim"] == report["metrics"]["quantized"]
    assert "tpr_rel" in report["backends"]["Vitis"]["metric_drops"]
    for plot in ("scores.png", "roc.png", "operating_point.png"):  # the last from training, on the full measuring half
        assert (synthesised / "models/tinyae/plots" / plot).is_file(), plot


def test_threshold_is_a_score_value_at_the_target_rate(synthesised):
    threshold = load(synthesised, "tinyae", "trained/threshold.json")
    score_type = load(synthesised, "tinyae")["csim"]["output_type"]
    width, integer = map(int, re.match(r"fixed<(\d+),(-?\d+)>", score_type).groups())
    assert threshold["value"] * 2.0 ** (width - integer) == threshold["raw"]
    # set on one half of the held-out background, measured on the other: only the setting half is bound by the target
    assert threshold["fpr_on_setting_half"] <= threshold["fpr_target"] == 0.05
    assert abs(threshold["setting_events"] - threshold["background_events"]) <= 1
    assert threshold["fpr_achieved"] == pytest.approx(0.05, abs=4 * threshold["fpr_achieved_err"] + 0.01)


def test_exported_threshold_constant_equals_stored(synthesised):
    header = (synthesised / "hls_projects/tinyae/Vitis/firmware/tinyae_threshold.h").read_text()
    constant = float(re.search(r"TINYAE_THRESHOLD = ([^;]+);", header).group(1))
    assert constant == load(synthesised, "tinyae", "trained/threshold.json")["value"]


def test_firmware_trigger_bit_equals_keras_decision(synthesised, tmp_path):
    """Compile the exported decision function and apply it to the csim scores: same bits as Keras on every event."""
    from trigger.models import predict
    from trigger.spec import load_spec
    from trigger.trained import Trained

    project = synthesised / "hls_projects/tinyae/Vitis"
    source = ('#include <cstdio>\n#include "tinyae_threshold.h"\n'
              "int main() { double s; while (std::scanf(\"%lf\", &s) == 1) { result_t v = s; "
              "std::printf(\"%d\\n\", tinyae_trigger_bit(v) ? 1 : 0); } return 0; }\n")
    csim = (project / "tb_data/tb_output_predictions.dat").read_text()
    fired = np.array(run_with_firmware_headers(project, source, csim, tmp_path).split(), int)

    trained = Trained.load(load_spec(synthesised / "models/tinyae"))
    keras_scores = predict(trained.task.firmware_model(trained), trained.x).ravel()
    keras_fired = (keras_scores > load(synthesised, "tinyae", "trained/threshold.json")["value"]).astype(int)
    assert len(fired) == len(keras_fired) == 1000
    np.testing.assert_array_equal(fired, keras_fired)
    assert 0 < fired.sum() < len(fired)  # the comparison is not vacuous


def test_vae_firmware_is_its_mu_head_and_sum_of_squares(synthesised, tmp_path):
    """Nothing of the decoder or the sigma head is on chip; the csim score is sum mu_j^2 of the quantized encoder,
    exactly, and the numpy emulator of the converted graph gives the same bits."""
    from trigger.emulate import Emulator
    from trigger.firmware import FirmwareProject
    from trigger.models import encoder, predict
    from trigger.spec import load_spec
    from trigger.trained import Trained

    trained = Trained.load(load_spec(synthesised / "models/tinyvae"))
    head = trained.task.firmware_model(trained)
    assert [l.name for l in head.layers] == ["inputs", "dense_1", "relu_1", "latent", "latent_q", "squared", "score"]
    assert "log_sigma" in [l.name for l in trained.model.layers]  # trained with it, not shipped
    project = FirmwareProject.of(trained, "Vitis", tmp_path / "hls")
    csim = project.predict(trained.x).ravel()
    mu = predict(encoder(trained.model), trained.x)
    np.testing.assert_array_equal(csim, (mu**2).sum(axis=1))
    np.testing.assert_array_equal(Emulator(project.graph)(trained.x).ravel(), csim)
    assert len(np.unique(csim)) > 50  # mu is not collapsed to a constant
    report = load(synthesised, "tinyvae")
    assert report["backends"]["Vitis"]["headline"]["metric"] == "mean TPR"
    assert trained.spec.anomaly.score == "mu2"  # the VAE default


def test_compression_residuals_reported(synthesised):
    report = load(synthesised, "tinycomp")
    for which in ("float", "quantized", "csim"):
        assert set(report["metrics"][which]["residuals"]) == {"m", "pt", "eta", "phi"}
        for r in report["metrics"][which]["residuals"].values():
            assert set(r) == {"mean", "rms", "median_abs"}
    assert report["csim"]["output_type"]  # the firmware output is the 3-number latent
    assert (synthesised / "models/tinycomp/plots/residuals.png").is_file()
    # the headline says what it is: the mean over the variables of each one's median |residual|
    headline = report["backends"]["Vitis"]["headline"]
    medians = [r["median_abs"] for r in report["metrics"]["csim"]["residuals"].values()]
    assert headline["metric"] == "mean median |rel. residual|" and headline["csim"] == pytest.approx(np.mean(medians))
    assert headline["csim"] != pytest.approx(np.median(medians))  # the label's old reading would be another number


def test_background_rates_from_the_emulator_equal_the_csim(synthesised, tmp_path, monkeypatch):
    """`trigger rates` on an independent 60k-event sample: every number equals what the csim's
    own scores of all those events give (the emulator is only faster, never different)."""
    from trigger.firmware import FirmwareProject
    from trigger.spec import load_spec
    from trigger.tasks import rates
    from trigger.trained import Trained

    big = tmp_path / "big.root"
    columns = synthetic_events(60000, seed=1)
    write_tree(big, "t", columns)
    monkeypatch.chdir(synthesised)
    monkeypatch.setenv("TRIGGER_HLS_PROJECTS", str(synthesised / "hls_projects"))
    assert run_cli("rates", "tinyae", "--files", str(big)) == 0
    report = load(synthesised, "tinyae", "background_rates.json")
    background = np.isin(columns["proc"], [0, 1])
    assert report["background_events"] == int(background.sum()) and report["csim_cross_check"]["bit_exact"]

    trained = Trained.load(load_spec(synthesised / "models" / "tinyae"))
    x = trained.preprocessing.apply(np.stack([columns[f"f{i}"] for i in range(8)], axis=1).astype(np.float64))
    csim = FirmwareProject.of(trained, "Vitis", tmp_path / "hls").predict(x).ravel()
    bkg, w = csim[background], np.asarray(columns["w"], np.float64)[background]
    shipped = report["shipped_threshold"]
    assert (shipped["fpr"], shipped["fpr_err"]) == rates.fpr_at(bkg, w, shipped["value"])
    point = next(p for p in report["operating_points"] if p["fpr"] == 1e-3)
    assert point["measurable"] and point["threshold"] == rates.threshold_for(bkg, w, 1e-3)
    assert point["tpr"]["sigA"]["tpr"] == rates.tpr_at(csim[columns["proc"] == 2], point["threshold"])[0]
    assert not next(p for p in report["operating_points"] if p["fpr"] == 1e-6)["measurable"]
    assert (synthesised / "models/tinyae/plots/background_rate.png").is_file()

    # the float reference through the same events: its pass counts paired with the firmware's, per signal
    floats = trained.task.float_reference(trained, x).ravel()
    t_float = report["shipped_float_threshold"]["value"]
    for k, proc in (("sigA", 2), ("sigB", 3)):
        fired, fired_float = csim[columns["proc"] == proc] > shipped["value"], floats[columns["proc"] == proc] > t_float
        paired = report["float_vs_firmware_at_shipped"][k]
        assert (paired["pass_reference"], paired["pass_other"]) == (fired_float.sum(), fired.sum())
        assert (paired["only_reference"], paired["only_other"]) == ((fired_float & ~fired).sum(), (fired & ~fired_float).sum())
    # and at equal rate: the float threshold that gives the firmware bit's FPR on this sample
    equal = report["float_vs_firmware_at_equal_rate"]
    assert equal["fpr"] == shipped["fpr"] and equal["float_threshold"] == rates.threshold_for(floats[background], w, shipped["fpr"])
    # each trigger at the target rate: threshold from one half of the background, rate measured on the other
    at = report["at_target_rate"]["triggers"]["firmware"]
    even, odd = np.flatnonzero(background)[0::2], np.flatnonzero(background)[1::2]
    w_all = np.asarray(columns["w"], np.float64)
    assert at["value"] == rates.threshold_for(csim[even], w_all[even], 0.05)
    assert at["fpr"] == rates.fpr_at(csim[odd], w_all[odd], at["value"])[0]

    # a selected stream under its own name: only the events passing the selection, the default report untouched
    assert run_cli("rates", "tinyae", "--files", str(big), "--selection", "f1 > 0", "--name", "f1pos") == 0
    stream = load(synthesised, "tinyae", "background_rates_f1pos.json")
    assert stream["selection"] == "f1 > 0" and stream["background_events"] == int((background & (columns["f1"] > 0)).sum())
    assert load(synthesised, "tinyae", "background_rates.json") == report
    assert (synthesised / "models/tinyae/plots/background_rate_f1pos.png").is_file()


def test_background_rates_need_an_anomaly_model(synthesised, monkeypatch, capsys):
    monkeypatch.chdir(synthesised)
    assert run_cli("rates", "tinycomp") == 2
    assert capsys.readouterr().err.strip() == "error: tinycomp: background rates are for anomaly models (this one is compression)"


def test_background_rates_name_must_fit_a_file_name(synthesised, monkeypatch, capsys):
    monkeypatch.chdir(synthesised)
    assert run_cli("rates", "tinyae", "--name", "../x") == 2
    assert capsys.readouterr().err.strip() == ("error: --name '../x': use letters, digits, '_' or '-' (it becomes part "
                                               "of a file name)")
