"""Bad input: one-line error naming the problem, non-zero exit, nothing (half-)written."""

import numpy as np
import pytest
import yaml

from conftest import make_project, run_cli, tiny_spec, tree_listing
from trigger.rootio import write_tree


def outputs(root):
    return tree_listing(root / "models", root / "hls_projects")


def assert_clean_failure(capsys, root, before, code, *needles):
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code not in (0, None)
    assert err.startswith("error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, err
    assert "Traceback" not in captured.err + captured.out
    assert outputs(root) == before


def fresh(tmp_path, monkeypatch, spec=None):
    model = make_project(tmp_path, spec)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TRIGGER_HLS_PROJECTS", str(tmp_path / "hls_projects"))
    return model


def test_missing_root_file(tmp_path, monkeypatch, capsys):
    spec = tiny_spec()
    spec["data"]["files"] = ["../../missing.root"]
    fresh(tmp_path, monkeypatch, spec)
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("train", "models/tiny"), "missing.root: ROOT file not found")


def test_corrupt_root_file(tmp_path, monkeypatch, capsys):
    fresh(tmp_path, monkeypatch)
    (tmp_path / "events.root").write_bytes(b"this is not ROOT" * 40)
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("train", "models/tiny"), "events.root: not a readable ROOT file")


def test_missing_branch(tmp_path, monkeypatch, capsys):
    spec = tiny_spec()
    spec["data"]["features"]["f9"] = "f9"
    fresh(tmp_path, monkeypatch, spec)
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("train", "models/tiny"), "no branch 'f9'", "data.features.f9")


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_in_inputs(tmp_path, monkeypatch, capsys, bad):
    fresh(tmp_path, monkeypatch)
    values = np.ones(50, np.float32)
    values[17] = bad
    cols = {f"f{i}": values.copy() if i == 3 else np.ones(50, np.float32) for i in range(6)}
    write_tree(tmp_path / "events.root", "t", cols | {"cls": np.zeros(50, np.int32)})
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("train", "models/tiny"), "data.features.f3", "NaN/Inf", "entry 17")


def test_unknown_spec_key(tmp_path, monkeypatch, capsys):
    fresh(tmp_path, monkeypatch, tiny_spec(verify={"events": 10, "tolerance": 1}))
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("synth", "models/tiny"), "unknown key 'verify.tolerance'")


def edit_test_sample(project, edit) -> None:
    sample = project / "models/tiny/trained/test_sample.npz"
    with np.load(sample) as f:
        parts = dict(f)
    parts["x"] = edit(parts["x"])
    np.savez(sample, **parts)


def test_wrong_number_of_features_in_sample(tiny_project, capsys):
    edit_test_sample(tiny_project, lambda x: x[:, :6])
    before = outputs(tiny_project)
    assert_clean_failure(capsys, tiny_project, before, run_cli("synth", "models/tiny"),
                         "has 6 features, the model expects 7")


def test_spec_features_differ_from_trained_model(tiny_project, capsys):
    spec_path = tiny_project / "models/tiny/spec.yml"
    raw = yaml.safe_load(spec_path.read_text())
    del raw["data"]["features"]["ratio"]
    spec_path.write_text(yaml.safe_dump(raw))
    before = outputs(tiny_project)
    assert_clean_failure(capsys, tiny_project, before, run_cli("synth", "models/tiny"), "retrain")


def test_inputs_saturating_the_input_type(tiny_project, capsys):
    def outlier(x):
        x[5, 2] = 1e9
        return x

    edit_test_sample(tiny_project, outlier)
    before = outputs(tiny_project)
    assert_clean_failure(capsys, tiny_project, before, run_cli("synth", "models/tiny"),
                         "saturate ap_fixed<16,6>", "feature 'f2'")


def test_gxx_missing(tiny_project, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    before = outputs(tiny_project)
    code = run_cli("synth", "models/tiny")
    assert code == 3
    assert_clean_failure(capsys, tiny_project, before, code, "g++ not found on PATH")


@pytest.mark.slow
def test_interrupted_synth_keeps_previous_project(tiny_project, monkeypatch, capsys):
    assert run_cli("synth", "models/tiny") == 0
    before = outputs(tiny_project)
    import hls4ml.model.graph

    real_write = hls4ml.model.graph.ModelGraph.write

    def interrupted_write(self):
        real_write(self)  # a half-written project exists at this point...
        raise KeyboardInterrupt  # ...when the user hits Ctrl-C, before the csim is compiled

    monkeypatch.setattr(hls4ml.model.graph.ModelGraph, "write", interrupted_write)
    capsys.readouterr()
    assert run_cli("synth", "models/tiny") == 130
    assert "interrupted" in capsys.readouterr().err
    assert outputs(tiny_project) == before
    assert not [p for p in (tiny_project / "hls_projects/tiny").iterdir() if p.name.startswith(".")]


def test_interrupted_training_keeps_previous_model(tiny_project, monkeypatch, capsys):
    before = outputs(tiny_project)
    import trigger.trained

    real_save = trigger.trained.save_model

    def interrupted_save(model, directory, stem):
        real_save(model, directory, stem)  # some new files already exist in the staging directory...
        if stem == "float_model":
            raise KeyboardInterrupt  # ...when the user hits Ctrl-C

    monkeypatch.setattr(trigger.trained, "save_model", interrupted_save)
    assert run_cli("train", "models/tiny") == 130
    assert "interrupted" in capsys.readouterr().err
    assert outputs(tiny_project) == before
    assert [p.name for p in (tiny_project / "models/tiny").iterdir() if p.name.startswith(".")] == []


def test_oversized_test_sample_is_a_one_line_error(tiny_project, monkeypatch, capsys):
    """The committed test sample must stay <= 1 MiB; going over is the user's verify.events, not a traceback."""
    import trigger.trained

    monkeypatch.setattr(trigger.trained, "TEST_SAMPLE_LIMIT", 2000)  # the tiny sample is ~10 kB
    before = outputs(tiny_project)
    assert_clean_failure(capsys, tiny_project, before, run_cli("train", "models/tiny"),
                         "models/tiny/spec.yml: the test sample of verify.events = 400 events is", "lower verify.events")


@pytest.mark.parametrize("limits, needles", [
    ({"lut": "many"}, ["budget.yml: 'lut' must be a number, got 'many'"]),
    ({"lut": True}, ["'lut' must be a number, got True"]),
    ({"max_metric_drop": {"r2": 0.1}}, ["'max_metric_drop.r2' is not a metric of this task (it has: accuracy, auc)"]),
    ({"max_metric_drop": {"accuracy": "small"}}, ["'max_metric_drop.accuracy' must be a number"]),
    ({"max_metric_drop": [0.1]}, ["'max_metric_drop' must be a mapping"]),
])
def test_budget_is_validated_before_any_csim(tiny_project, monkeypatch, capsys, limits, needles):
    """A bad budget.yml stops `trigger synth` at once: no hls4ml conversion, no project written."""
    import hls4ml.converters

    monkeypatch.setattr(hls4ml.converters, "convert_from_keras_model", lambda *a, **k: pytest.fail("converted anyway"))
    (tiny_project / "models/tiny/budget.yml").write_text(yaml.safe_dump(limits))
    before = outputs(tiny_project)
    assert_clean_failure(capsys, tiny_project, before, run_cli("synth", "models/tiny"), *needles)
