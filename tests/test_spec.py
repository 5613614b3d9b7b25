"""The task spec: shipped specs load; unknown, missing and mistyped keys fail with their names."""

import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, make_project, run_cli, tiny_spec
from trigger.errors import TriggerError
from trigger.spec import load_spec, spec_from_dict


@pytest.mark.parametrize("path", sorted((REPO / "models").glob("*/spec.yml")), ids=lambda p: p.parent.name)
def test_shipped_specs_load(path):
    spec = load_spec(path)
    assert spec.name == path.parent.name
    assert spec.data.features


def test_unknown_key_is_named():
    raw = tiny_spec(model={"hidden": [8], "hiden": [4]})
    with pytest.raises(TriggerError, match=r"unknown key 'model\.hiden'"):
        spec_from_dict(raw)


def test_missing_key_is_named():
    raw = tiny_spec()
    del raw["data"]["features"]
    with pytest.raises(TriggerError, match=r"missing required key 'data\.features'"):
        spec_from_dict(raw)


def test_task_specific_keys_are_required():
    raw = tiny_spec()
    del raw["data"]["label"]
    with pytest.raises(TriggerError, match=r"task 'classification' needs 'data\.label'"):
        spec_from_dict(raw)
    with pytest.raises(TriggerError, match=r"task 'anomaly' needs an 'anomaly' block"):
        spec_from_dict(tiny_spec(task="anomaly", model={"kind": "autoencoder"}))


@pytest.mark.parametrize("kind, score, message", [
    ("autoencoder", "mu2", "'anomaly.score' 'mu2' is not a score of model.kind autoencoder (it has: reconstruction, latent)"),
    ("vae", "reconstruction", "'anomaly.score' 'reconstruction' is not a score of model.kind vae (it has: mu2); only "
                              "the encoder's mu goes on chip for a vae"),
    ("mlp", None, "task 'anomaly' needs model.kind: autoencoder or vae"),
])
def test_anomaly_score_follows_the_model_kind(kind, score, message):
    anomaly = {"target": {"fpr": 0.1}} | ({"score": score} if score else {})
    with pytest.raises(TriggerError, match=re.escape(message)):
        spec_from_dict(tiny_spec(task="anomaly", model={"kind": kind}, anomaly=anomaly))
    with pytest.raises(TriggerError, match=re.escape("'model.loss_weights' is a setting of model.kind vae (this model "
                                                     "is autoencoder)")):
        spec_from_dict(tiny_spec(task="anomaly", model={"kind": "autoencoder", "loss_weights": "inverse_variance"},
                                 anomaly={"target": {"fpr": 0.1}}))
    default = spec_from_dict(tiny_spec(task="anomaly", model={"kind": "autoencoder"}, anomaly={"target": {"fpr": 0.1}}))
    assert default.anomaly.score == "reconstruction"


def test_wrong_type_is_named():
    with pytest.raises(TriggerError, match=r"'train\.epochs' must be int"):
        spec_from_dict(tiny_spec(train={"epochs": "ten"}))


def test_bad_choice_is_named():
    with pytest.raises(TriggerError, match=r"'firmware\.backends\[0\]' must be one of"):
        spec_from_dict(tiny_spec(firmware={"backends": ["Quartus"]}))


def test_bad_precision_is_named():
    with pytest.raises(TriggerError, match=r"input\.precision"):
        spec_from_dict(tiny_spec(input={"precision": "float"}))


def test_emulator_name_default_and_form():
    assert spec_from_dict(tiny_spec(name="jet_tagger")).emulator_name == "JetTagger_v1"
    assert spec_from_dict(tiny_spec(firmware={"emulator_name": "L1TJetTagger_v3"})).emulator_name == "L1TJetTagger_v3"
    for bad in ("JetTagger", "JetTagger_v", "2Jet_v1", "jet-tagger_v1"):
        with pytest.raises(TriggerError, match=r"'firmware\.emulator_name' = .* must look like <Model>_v<N>"):
            spec_from_dict(tiny_spec(firmware={"emulator_name": bad}))


def test_unknown_key_cli_exit_and_one_line(tmp_path, capsys):
    spec = tiny_spec()
    spec["firmware"]["clock_mhz"] = 200
    model = make_project(tmp_path, spec)
    assert run_cli("train", str(model / "spec.yml")) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "firmware.clock_mhz" in err


def test_console_script_exit_code(tmp_path):
    """The installed `trigger` entry point turns a user mistake into a one-line error + non-zero exit."""
    model = make_project(tmp_path, tiny_spec(extra_key=1))
    proc = subprocess.run([sys.executable, "-m", "trigger.cli", "train", str(model)], capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()]
    assert "unknown key 'extra_key'" in proc.stderr


def test_spec_roundtrip_through_yaml(tmp_path):
    model = make_project(tmp_path)
    spec = load_spec(model)
    assert spec_from_dict(yaml.safe_load(yaml.safe_dump(spec.to_dict()))).to_dict() == spec.to_dict()


@pytest.mark.parametrize("latent, expected", [({}, "quantized_bits(8,2,0,alpha=1)"),
                                              ({"latent_bits": 8, "latent_integer": 0}, "quantized_bits(8,0,0,alpha=1)")])
def test_vae_mu_has_its_own_type(latent, expected):
    """model.latent_bits/latent_integer set mu's type (a vae's mu is small: the hidden layers' type would round it to 0)."""
    from trigger.models import build_model

    from trigger.spec import ModelSpec

    m = ModelSpec(kind="vae", hidden=[4], latent=2, activation_bits=8, activation_integer=2, **latent)
    model = build_model(m, "ap_fixed<16,6>", 5, 5, quantized=True)
    assert str(model.get_layer("latent_q").quantizer) == expected


@pytest.mark.parametrize("layers, message", [
    ({"dense_3": {"weight_bits": 4}}, "'model.layers.dense_3': no such Dense layer in this model (it has: dense_1, "
                                      "dense_2, logits)"),
    ({"dense_1": {"weight_bit": 4}}, "'model.layers.dense_1.weight_bit' is not a per-layer setting"),
    ({"logits": {"bias_bits": 0}}, "'model.layers.logits.bias_bits' must be >= 1, got 0"),
])
def test_bad_per_layer_bits_are_named(layers, message):
    with pytest.raises(TriggerError, match=re.escape(message)):
        spec_from_dict(tiny_spec(model={"hidden": [8, 8], "layers": layers}))


def test_per_layer_bits_reach_the_quantizers():
    """model.layers: one Dense layer (and the ReLU after it) gets its own bits; the others keep the model's."""
    import trigger.keras2  # noqa: F401  (Keras 2 before QKeras)
    from trigger.models import build_model

    spec = spec_from_dict(tiny_spec(model={"hidden": [8, 8], "weight_bits": 6, "activation_bits": 6,
                                           "layers": {"dense_1": {"weight_bits": 3, "activation_bits": 9}}}))
    model = build_model(spec.model, spec.input.precision, 7, 3, quantized=True)
    kernel = {name: model.get_layer(name).get_quantizers()[0].bits for name in ("dense_1", "dense_2", "logits")}
    assert kernel == {"dense_1": 3, "dense_2": 6, "logits": 6}
    assert [model.get_layer(name).quantizer.bits for name in ("relu_1", "relu_2")] == [9, 6]
