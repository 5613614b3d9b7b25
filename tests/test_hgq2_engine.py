"""The HGQ2 engine (model.engine: hgq2): a classifier with learned bit widths, trained and synthesised through the
same CLI, run in an HGQ2 process that the CLI starts itself.

Kept true: csim equals the HGQ2 model at 0 LSB on every test event, the project's fixed-point graph (emulator) equals
the csim and the RTL twin's da4ml trace equals the emulator; the twin in Icarus, the bench and the bundle (its RTL
core's Verilog testbench, its emulator library loaded as CMSSW does) pass as for a QKeras model; the same spec and seed give the same bytes; what HGQ2
does not do (other tasks and kinds, QKeras's fixed widths, tfmot pruning) is a one-line error naming the key."""

import json
import shutil

import pytest
import yaml
from conftest import cms_consumer, make_project, run_cli, run_cli_in, run_cms_consumer, tiny_spec

from trigger.errors import TriggerError
from trigger.hgq2_env import run
from trigger.spec import load_spec, spec_from_dict


def hgq2_spec(**model) -> dict:
    return tiny_spec(model={"hidden": [8, 8], "engine": "hgq2", **model},
                     train={"epochs": 4, "float_epochs": 3, "batch_size": 128})


def _set(**changes):
    """A change to the raw hgq2 spec: top-level keys replaced, `model`/`train` keys merged."""
    def change(raw):
        for key, value in changes.items():
            raw[key] = {**raw[key], **value} if key in ("model", "train") else value
    return change


@pytest.mark.parametrize("change, key", [
    (_set(task="compression", model={"kind": "autoencoder"}), "'model.engine' hgq2 is for tasks classification and regression"),
    (_set(train={"sparsity": 0.3}), "'train.sparsity' does not apply to model.engine hgq2"),
    (_set(train={"pruning_end_epoch": 3}), "'train.pruning_end_epoch' does not apply"),
    (_set(model={"weight_bits": 8}), "'model.weight_bits' does not apply to model.engine hgq2"),
    (_set(model={"layers": {"dense_1": {"weight_bits": 8}}}), "'model.layers' does not apply"),
    (_set(model={"hgq": {"beta": 1e-6, "beta_start": 1e-5}}), "'model.hgq.beta_start' must be between"),
    (_set(model={"hgq": {"init_weight_bits": 0}}), "'model.hgq.init_weight_bits' must be >= 1"),
    (_set(model={"hgq": {"beta_ramp_epochs": 4}}), "'model.hgq.beta_ramp_epochs' must be between 1 and train.epochs - 1"),
    (_set(model={"engine": "qkeras", "hgq": {"beta": 1e-4}}), "'model.hgq' is a setting of model.engine hgq2"),
    (_set(model={"engine": "hgq3"}), "'model.engine' must be one of"),
])
def test_what_hgq2_does_not_do_is_a_one_line_error(change, key):
    raw = hgq2_spec()
    change(raw)
    with pytest.raises(TriggerError) as info:
        spec_from_dict(raw, "models/tiny/spec.yml")
    message = str(info.value)
    assert "\n" not in message and message.startswith("models/tiny/spec.yml: ") and key in message, message


def test_defaults_and_the_qkeras_spec_unchanged():
    spec = spec_from_dict(hgq2_spec(), "s")
    assert (spec.model.engine, spec.model.hgq.beta, spec.model.hgq.init_weight_bits) == ("hgq2", 1e-5, 8)
    assert spec_from_dict(tiny_spec(), "s").model.engine == "qkeras"


def test_an_hgq2_model_is_not_built_or_loaded_outside_its_process(tmp_path):
    from trigger.engines import engine_of

    spec = spec_from_dict(hgq2_spec(), "models/tiny/spec.yml")
    for call in (lambda e: e.build(7, 3, quantized=True), lambda e: e.custom_objects()):
        with pytest.raises(TriggerError, match=r"model.engine hgq2 runs in an HGQ2 process only"):
            call(engine_of(spec))


def test_an_error_in_the_hgq2_process_is_its_one_line(tmp_path, capfd):
    """The CLI relays the HGQ2 process's own one-line error and exit code."""
    model = make_project(tmp_path, hgq2_spec())
    (tmp_path / "events.root").unlink()
    assert run_cli("train", str(model)) == 2
    errors = [line for line in capfd.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "events.root" in errors[0], errors


PROBE = """
import json, sys
import numpy as np
from trigger.emulate import Emulator
from trigger.fixed import cast
from trigger.engines import engine_of
from trigger.firmware import FirmwareProject, project_dir, read_test_vectors
from trigger.models import predict
from trigger.rtl.twin import trace
from trigger.spec import load_spec
from trigger.trained import Trained
from trigger.verify import first_divergence

spec = load_spec(sys.argv[1])
trained = Trained.load(spec)
x, csim = read_test_vectors(project_dir(spec, "Vitis"), spec.name)
keras_out = predict(trained.model, x)
layers = engine_of(spec).layer_outputs(trained.model, x)  # what the harness holds each csim layer against
with FirmwareProject.scratch(lambda d: FirmwareProject.of(trained, "Vitis", d)) as project:
    graph, csim_layers, types, port = project.graph, project.trace(x), project.layer_types, project.input_type
emulated = Emulator(graph)(x)
traced = trace(graph, 3).predict(x)
print(json.dumps({"events": len(x), "x_is_the_sample_on_the_port": bool(np.array_equal(x, cast(trained.x, port))),
                  "x_narrowed": bool(not np.array_equal(x, trained.x)),
                  "keras_eq_csim": bool(np.array_equal(keras_out, csim)),
                  "keras_on_the_sample_eq_csim": bool(np.array_equal(predict(trained.model, trained.x), csim)), "emulator_eq_csim": bool(np.array_equal(emulated, csim)),
                  "trace_eq_emulator": bool(np.array_equal(traced, emulated)), "ops": sorted({s.op for s in graph.steps}),
                  "first_diverging": first_divergence(layers.values, csim_layers, types, narrowed=layers.narrowed),
                  "first_diverging_unnarrowed": first_divergence(layers.values, csim_layers, types)[0],
                  "layers_unmatched": sorted(set(csim_layers) - set(layers.values))}))
"""


@pytest.mark.slow
def test_hgq2_classifier_trains_and_synthesises_bit_exact(tmp_path, monkeypatch):
    root = tmp_path / "a"
    model = make_project(root, hgq2_spec(hgq={"beta_ramp_epochs": 2}))
    run_cli_in(root, "train", "models/tiny")
    first = {p.name: p.read_bytes() for p in sorted((model / "trained").iterdir())}
    run_cli_in(root, "synth", "models/tiny")

    report = json.loads((model / "metrics.json").read_text())
    assert report["csim"]["exact_fraction"] == 1.0 and report["csim"]["max_lsb_diff"] == 0 and report["events"] == 400
    assert report["provenance"]["versions"]["hgq2"] == "0.2.0" and "qkeras" not in report["provenance"]["versions"]
    assert report["overflow"]["dense_1_iq"]["clip_in_keras"] is True  # a quantizer wraps in Keras as in firmware
    # the layers hls4ml narrowed to the bits the next quantizer reads drop only bits Keras drops too: no false alarm
    assert report["overflow"]["dense_1"]["narrowed"] is True
    assert [name for name, e in report["overflow"].items() if e["saturated"] and not e["clip_in_keras"]] == []
    training = json.loads((model / "trained" / "training.json").read_text())
    assert "train.sparsity does not apply" in training["sparsity"]["method"] and training["sparsity"]["ebops"] > 0
    beta = training["history"]["quantized"]["beta"]  # ramped over 2 of the 4 epochs, then held at model.hgq.beta
    assert beta[0] < beta[1] < beta[2] == beta[3] == pytest.approx(1e-5), beta
    architecture = json.loads((model / "trained" / "model.json").read_text(), parse_constant=pytest.fail)  # strict JSON
    assert architecture["config"]["layers"][1]["class_name"] == "QDense"

    (tmp_path / "probe.py").write_text(PROBE)
    monkeypatch.setenv("TRIGGER_HLS_PROJECTS", str(root / "hls_projects"))  # where run_cli_in wrote the project
    out = json.loads(run(["probe.py", str(model / "spec.yml")], cwd=tmp_path, what="the HGQ2 probe").stdout.splitlines()[-1])
    # the vectors hold the sample as the port holds it (only the bits the first quantizer reads, fewer than the spec's
    # input grid): the HGQ2 model gives the same on either
    assert out["events"] == 400 and out["x_is_the_sample_on_the_port"] and out["x_narrowed"]
    assert out["keras_eq_csim"] and out["keras_on_the_sample_eq_csim"], "csim == the HGQ2 model at 0 LSB on every event"
    assert "quantize" in out["ops"] and out["emulator_eq_csim"] and out["trace_eq_emulator"]
    # the csim reference names hls4ml's layers (dense_1_iq, dense_1, dense_1_relu, ...); each csim layer holds it cast
    # into the layer's type (hls4ml keeps only the bits the next quantizer reads: not equal to Keras in between)
    assert out["first_diverging"] == [None, None] and out["layers_unmatched"] == [], out
    assert out["first_diverging_unnarrowed"] is not None, "narrowing is real: the cast is what makes the layers match"

    # after training, the QKeras models' path: the RTL twin in Icarus, the bench, and the bundle as its consumers use it
    run_cli_in(root, "rtl", "models/tiny")
    twin = json.loads((model / "rtl.json").read_text())
    assert twin["simulation"]["exact_fraction"] == 1.0 and twin["figures"]["lut"]["source"] == "rtl"
    run_cli_in(root, "bench", "models/tiny", "--events", "100")
    run_cli_in(root, "export", "models/tiny", "--rtl-events", "50")
    bundle = root / "hls_projects" / "tiny" / "bundle"
    assert "RTL core testbench (Icarus): PASS: tb_tiny: 100/100 results bit-exact" in (bundle / "README.md").read_text()
    vectors = bundle / "vectors"
    ok = run_cms_consumer(cms_consumer([bundle], tmp_path / "consumer"),
                          (bundle / "emulator", "Tiny_v1", vectors / "tiny_inputs.hex", vectors / "tiny_outputs.hex"))
    assert ok.returncode == 0 and ok.stdout.startswith("PASS: Tiny_v1: 400/400 events bit-exact"), ok.stdout + ok.stderr

    # the same spec and seed: the same bytes, trained afresh elsewhere
    other = tmp_path / "b"
    shutil.copytree(root / "models", other / "models", ignore=shutil.ignore_patterns("trained", "plots", "metrics.json"))
    shutil.copyfile(root / "events.root", other / "events.root")
    run_cli_in(other, "train", "models/tiny")
    again = {p.name: p.read_bytes() for p in sorted((other / "models" / "tiny" / "trained").iterdir())}
    assert sorted(again) == sorted(first)
    assert [name for name in first if first[name] != again[name]] == []
    assert yaml.safe_load(first["spec.yml"])["model"]["engine"] == "hgq2"


@pytest.mark.slow
def test_engine_and_beta_are_scan_knobs_on_one_front(tmp_path):
    """model.engine and beta as knobs: a QKeras and an HGQ2 design (seed 0 asks one of each) on one front, each
    trial keeping the knobs of its engine (the other's are recorded as ignored); the HGQ2 trial runs in the HGQ2
    process its Dask worker starts; both complete at 0 LSB on the validation split with their da4ml cost."""
    model = make_project(tmp_path, hgq2_spec())
    space = {"model.engine": {"choices": ["hgq2", "qkeras"]}, "model.hgq.beta": {"low": 1e-6, "high": 1e-3, "log": True},
             "model.weight_bits": {"choices": [4, 6]}}
    (model / "scan.yml").write_text(yaml.safe_dump({"trials": 2, "population": 2, "seed": 0, "space": space}))
    run_cli_in(tmp_path, "scan", "models/tiny", "--workers", "2")
    trials = {t["params"]["model.engine"]: t for t in (json.loads(p.read_text())
                                                       for p in sorted((model / "scan" / "trials").glob("t*.json")))}
    assert sorted(trials) == ["hgq2", "qkeras"]
    assert trials["hgq2"]["ignored"] == ["model.weight_bits"] and trials["qkeras"]["ignored"] == ["model.hgq.beta"]
    for t in trials.values():
        assert t["state"] == "complete", t.get("reason")
        assert t["csim"]["max_lsb_diff"] == 0 and t["metric"]["split"] == "validation"
        assert t["cost"]["lut"]["source"] == "estimate" and t["cost"]["lut"]["value"] > 0
    from trigger.scan import front  # the front tables name a trial by the knobs its engine read

    assert front._knobs(trials["qkeras"]) == f"model.engine=qkeras, model.weight_bits={trials['qkeras']['params']['model.weight_bits']}"
    assert front._knobs(trials["hgq2"]) == f"model.engine=hgq2, model.hgq.beta={trials['hgq2']['params']['model.hgq.beta']}"
    run_cli_in(tmp_path, "scan", "models/tiny", "--pick")
    picked = yaml.safe_load((model / "scan" / "pick" / "spec.yml").read_text())
    engine = picked["model"]["engine"]
    assert ("hgq" in picked["model"]) == (engine == "hgq2") and ("weight_bits" in picked["model"]) == (engine == "qkeras")
    load_spec(model / "scan" / "pick" / "spec.yml")  # a valid spec of its engine


@pytest.mark.slow
def test_hgq2_regressor_is_bit_exact_into_its_output_precision(tmp_path, monkeypatch):
    """The regression MLP on HGQ2: the outputs rounded and saturated into regression.output_precision by a fixed
    quantizer (a layer of its own in hls4ml), csim equal to the HGQ2 model at 0 LSB, R^2 measured in GeV."""
    from test_regression import toy_spec, write_model

    spec = toy_spec() | {"name": "tinytop_hgq", "model": {"hidden": [16, 16], "engine": "hgq2", "hgq": {"beta": 1e-6}},
                         "train": {"epochs": 8, "float_epochs": 8, "batch_size": 128}}
    model = write_model(tmp_path, spec)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIGGER_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("TRIGGER_HLS_PROJECTS", str(tmp_path / "hls_projects"))
    assert run_cli("train", "tinytop_hgq") == 0 and run_cli("synth", "tinytop_hgq") == 0
    report = json.loads((model / "metrics.json").read_text())
    assert report["csim"]["exact_fraction"] == 1.0 and report["csim"]["max_lsb_diff"] == 0
    assert report["csim"]["output_type"] == "fixed<18,6>", "the firmware output is regression.output_precision"
    assert report["overflow"]["outputs_q"]["clip_in_keras"] is True  # saturates in Keras as in firmware
    assert report["metrics"]["csim"] == report["metrics"]["quantized"]
    assert report["metrics"]["csim"]["components"]["top_px"]["r2"] > 0.9  # px = b + lepton + MET in the toy
