"""Bad input: one-line error naming the problem, non-zero exit, nothing (half-)written."""

import numpy as np
import pytest
import yaml

from conftest import make_project, run_cli, tiny_spec, tree_listing
from trigger.data.rootio import write_tree


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


def test_interrupted_synth_keeps_previous_project(tiny_project, monkeypatch, capsys):
    assert run_cli("synth", "models/tiny") == 0
    before = outputs(tiny_project)
    import hls4ml.model.graph

    def interrupted_compile(self):
        self.write()  # a half-written project exists at this point...
        raise KeyboardInterrupt  # ...when the user hits Ctrl-C

    monkeypatch.setattr(hls4ml.model.graph.ModelGraph, "compile", interrupted_compile)
    capsys.readouterr()
    assert run_cli("synth", "models/tiny") == 130
    assert "interrupted" in capsys.readouterr().err
    assert outputs(tiny_project) == before
    assert not [p for p in (tiny_project / "hls_projects/tiny").iterdir() if p.name.startswith(".")]


def test_interrupted_training_keeps_previous_model(tiny_project, monkeypatch, capsys):
    before = outputs(tiny_project)
    import trigger.train

    real_save = trigger.train.save_test_sample

    def interrupted_save(*args, **kwargs):
        real_save(*args, **kwargs)  # some new files already exist in the staging directory...
        raise KeyboardInterrupt  # ...when the user hits Ctrl-C

    monkeypatch.setattr(trigger.train, "save_test_sample", interrupted_save)
    assert run_cli("train", "models/tiny") == 130
    assert "interrupted" in capsys.readouterr().err
    assert outputs(tiny_project) == before
    assert [p.name for p in (tiny_project / "models/tiny").iterdir() if p.name.startswith(".")] == []
