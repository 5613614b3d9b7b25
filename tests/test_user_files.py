"""Users' own ROOT files: selection and yields, expressions, robust input scaling, sentinels, weights,
duplicates, the trained-input fingerprint and the optional budget. Every file here is written by the test."""

import json

import awkward as ak
import numpy as np
import pytest
import uproot
import yaml

from conftest import make_project, run_cli, tiny_spec, tree_listing
from trigger.data import Source, fit_preprocessing, load_dataset
from trigger.data.reader import read_columns, read_parts
from trigger.errors import TriggerError
from trigger.rootio import write_tree
from trigger.spec import spec_from_dict
from trigger.tasks import rates, task_of


def one_line_error(capsys, code: int, *needles: str) -> str:
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert "Traceback" not in captured.err + captured.out
    for needle in needles:
        assert needle in err, err
    return err


def met_file(path, n: int = 2000, seed: int = 0, **extra):
    """A flat 'dimuon-like' file: met_pt ~ 100 GeV, two more features, a weight."""
    rng = np.random.default_rng(seed)
    cols = {"met_pt": rng.exponential(100.0, n), "mu_pt": rng.exponential(30.0, n) + 3.0,
            "mu_eta": rng.uniform(-2.4, 2.4, n), "nmu": rng.integers(0, 4, n).astype(np.int32),
            "nele": rng.integers(0, 3, n).astype(np.int32), "w": rng.uniform(0.5, 1.5, n)}
    cols.update(extra)
    write_tree(path, "Events", cols)
    return path


def spec_for(tmp_path, task="compression", **data):
    raw = {"name": "user", "task": task, "model": {"kind": "autoencoder"},
           "data": {"files": ["*.root"], "tree": "Events",
                    "features": {"met_pt": "met_pt", "mu_pt": "mu_pt", "mu_eta": "mu_eta"}} | data}
    if task == "anomaly":
        raw["anomaly"] = {"weight_branch": "w", "target": {"fpr": 0.01}}
    spec = spec_from_dict(raw)
    spec.path = tmp_path / "spec.yml"
    return spec


def dataset(spec):
    return load_dataset(spec, task_of(spec), progress=False)


# ----------------------------------------------------------------------------- defects
def test_string_branch_is_a_one_line_error(tmp_path):
    path = tmp_path / "s.root"
    with uproot.recreate(path) as f:
        f.mktree("Events", {"x": "float64", "name": "string"})
        f["Events"].extend({"x": np.arange(3.0), "name": ak.Array(["a", "bb", "c"])})
    with pytest.raises(TriggerError, match=r"s\.root: tree 'Events' branch 'name' holds text \(char\*\), needed by "
                                           r"data\.features\.n; map numeric branches only"):
        read_columns([path], "Events", {"n": "name"})


def test_string_label_through_the_cli(tmp_path, monkeypatch, capsys):
    model = make_project(tmp_path, tiny_spec())
    with uproot.recreate(tmp_path / "events.root") as f:
        f.mktree("t", {**{f"f{i}": "float32" for i in range(6)}, "cls": "string"})
        f["t"].extend({**{f"f{i}": np.ones(10, np.float32) for i in range(6)}, "cls": ak.Array(["q"] * 10)})
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, run_cli("train", str(model)), "events.root: tree 't' branch 'cls' holds text", "data.label")


def test_one_outlier_no_longer_moves_the_shift(tmp_path):
    """1e9 in one event: the shift of met_pt stays that of its bulk (7 here, ~100 GeV); the outlier saturates, which
    is an error under input.saturation: error and a count under clip."""
    met = np.random.default_rng(0).exponential(100.0, 2000)
    clean = fit_preprocessing(met[:, None], ["met_pt"], spec_for(tmp_path)).shifts[0]
    met[7] = 1e9
    spec = spec_for(tmp_path)
    pre = fit_preprocessing(met[:, None], ["met_pt"], spec)
    assert pre.shifts[0] == clean <= 10
    with pytest.raises(TriggerError, match=r"1 of 2000 values of feature 'met_pt' saturate ap_fixed<16,6> \(\|x\| up "
                                           r"to 1e\+09 .*data\.missing\.met_pt.*input\.saturation: clip"):
        pre.apply(met[:, None], "training set")
    pre.saturation = "clip"
    assert pre.clipped(met[:, None]) == {"met_pt": 1}
    x = pre.apply(met[:, None])
    assert x[7, 0] == 32 - 2**-10 and (x[:, 0] > 0).mean() > 0.99  # the other events keep their values


def test_sentinels_are_empty_slots(tmp_path):
    """data.missing: -999 in a flat feature becomes 0; an object with -999 in a field leaves its slot empty."""
    met = np.array([10.0, -999.0, 30.0])
    jets = ak.zip({"pt": ak.Array([[50.0, -999.0, 20.0], [], [-999.0]]), "eta": ak.Array([[1.0, 0.5, -1.0], [], [2.0]])})
    write_tree(tmp_path / "nano.root", "Events", {"MET_pt": met, "Jet": jets})
    mapping = {"met": "MET_pt", "jet": {"fields": {"pt": "Jet_pt", "eta": "Jet_eta"}, "count": 2, "sort_by": "pt"}}
    spec = spec_from_dict({"name": "n", "task": "compression", "model": {"kind": "autoencoder"},
                           "data": {"files": ["nano.root"], "tree": "Events", "features": mapping,
                                    "missing": {"met": -999, "jet.pt": -999}}})
    parts = read_parts([tmp_path / "nano.root"], "Events", spec.data.features, missing=spec.data.missing)
    cols = parts[0].columns
    np.testing.assert_array_equal(cols["met"], [10, 0, 30])
    np.testing.assert_array_equal(cols["jet0_pt"], [50, 0, 0])
    np.testing.assert_array_equal(cols["jet1_pt"], [20, 0, 0])  # the -999 jet is gone, the 20 GeV one moves up
    np.testing.assert_array_equal(cols["jet1_eta"], [-1.0, 0, 0])
    assert parts[0].missing == {"met": 1, "jet": 2}


def test_feature_that_rounds_to_zero_is_an_error(tmp_path):
    x = np.random.default_rng(1).normal(0, 1e-4, (500, 1))
    spec = spec_for(tmp_path)
    spec.input.shifts = {"met_pt": 0}
    with pytest.raises(TriggerError, match=r"feature 'met_pt' rounds to 0 in ap_fixed<16,6> for \d+ of its 500 "
                                           r"non-zero values .*lower input\.shifts\.met_pt"):
        fit_preprocessing(x, ["met_pt"], spec)


def test_negative_weights_are_an_error_unless_allowed(tmp_path):
    met_file(tmp_path / "a.root")
    w = np.random.default_rng(3).uniform(0.5, 1.5, 2000)
    w[[4, 9]] = -0.7
    met_file(tmp_path / "b.root", seed=1, w=w)
    with pytest.raises(TriggerError, match=r"b\.root: anomaly\.weight_branch 'w': 2 negative weights \(first -0\.7 at "
                                           r"entry 4 of tree 'Events'\); set data\.negative_weights: allow"):
        dataset(spec_for(tmp_path, "anomaly"))
    data = dataset(spec_for(tmp_path, "anomaly", negative_weights="allow"))
    assert data.report["weights"]["negative"] == 2 and data.report["weights"]["convention"] == "signed"


@pytest.mark.parametrize("weights, message", [
    (np.zeros(2000), "every weight is 0"),
    (np.full(2000, -1.0), "the weights sum to -2000 (<= 0)"),
])
def test_all_zero_or_non_positive_weights(tmp_path, weights, message):
    met_file(tmp_path / "a.root", w=weights)
    with pytest.raises(TriggerError, match=message.replace("(", r"\(").replace(")", r"\)")):
        dataset(spec_for(tmp_path, "anomaly", negative_weights="allow"))


def test_nan_weight_names_file_and_entry(tmp_path):
    met_file(tmp_path / "a.root")
    w = np.ones(2000)
    w[11] = np.nan
    met_file(tmp_path / "b.root", seed=1, w=w)
    with pytest.raises(TriggerError, match=r"b\.root: anomaly\.weight_branch: 1 NaN/Inf values \(first at entry 11"):
        dataset(spec_for(tmp_path, "anomaly"))


def test_signed_weights_give_a_threshold_within_the_target():
    """With negative weights the fraction above a threshold is not monotonic; no threshold above the chosen one
    may exceed the target, and FPR / N_eff are those of the signed sum."""
    scores = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    weights = np.array([10.0, 10.0, 1.0, -1.0, 1.0, 1.0])  # above 3: 1 / 22; above 4: 2 / 22; above 5: 1 / 22
    t = rates.threshold_for(scores, weights, 1.5 / 22)
    assert t == 5.0  # 3 would pass the target, but the higher threshold 4 exceeds it
    assert rates.fpr_at(scores, weights, t)[0] == pytest.approx(1 / 22)
    assert rates.effective_events(weights) == pytest.approx(22**2 / 204)
    with pytest.raises(TriggerError, match="background weights sum to -1"):
        rates.threshold_for(scores[:2], np.array([-1.0, 0.0]), 0.1)


def test_nan_in_the_second_file_names_that_file_and_its_entry(tmp_path):
    met_file(tmp_path / "a.root")
    met = np.full(2000, 50.0)
    met[5] = np.nan
    met_file(tmp_path / "b.root", seed=1, met_pt=met)
    with pytest.raises(TriggerError, match=r"b\.root: data\.features\.met_pt: 1 NaN/Inf values \(first at entry 5 of "
                                           r"tree 'Events'\)"):
        dataset(spec_for(tmp_path))


def test_changed_input_precision_is_caught_before_csim(tiny_project, capsys):
    spec_path = tiny_project / "models/tiny/spec.yml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["input"] = {"precision": "ap_fixed<12,4>"}
    spec_path.write_text(yaml.safe_dump(raw))
    before = tree_listing(tiny_project / "models", tiny_project / "hls_projects")
    one_line_error(capsys, run_cli("synth", "models/tiny"),
                   "models/tiny/trained: the spec changed the firmware input since training (input.precision: trained "
                   "with 'ap_fixed<16,6>', the spec says 'ap_fixed<12,4>')", "retrain (`trigger train tiny`)")
    assert tree_listing(tiny_project / "models", tiny_project / "hls_projects") == before


@pytest.mark.parametrize("key, value, message", [
    ("selection", "f0 > 0", "data.selection: trained with None, the spec says 'f0 > 0'"),
    ("features", {f"f{i}": f"f{i}" for i in range(6)} | {"ratio": "f0 * 4 + hypot(f1, f2)"},
     "data.features.ratio: trained with 'f0 * 2 + hypot(f1, f2)', the spec says 'f0 * 4 + hypot(f1, f2)'"),
])
def test_changed_selection_or_expression_is_caught(tiny_project, capsys, key, value, message):
    """Same feature names, different events or a different expression: the firmware input is not the trained one."""
    spec_path = tiny_project / "models/tiny/spec.yml"
    raw = yaml.safe_load(spec_path.read_text())
    raw["data"][key] = value
    spec_path.write_text(yaml.safe_dump(raw))
    one_line_error(capsys, run_cli("synth", "models/tiny"), message)


def test_budget_for_another_task_fails_before_training(tiny_project, capsys, monkeypatch):
    import trigger.train

    monkeypatch.setattr(trigger.train, "train", lambda *a, **k: pytest.fail("trained anyway"))
    (tiny_project / "models/tiny/budget.yml").write_text(yaml.safe_dump({"max_metric_drop": {"tpr_rel": 0.1}}))
    for verb in ("train", "synth"):
        one_line_error(capsys, run_cli(verb, "models/tiny"), "models/tiny/budget.yml: 'max_metric_drop.tpr_rel' is not a "
                       "metric of this task (it has: accuracy, auc)")


# ----------------------------------------------------------------------------- selection and expressions
def test_selection_yields_per_file_and_drops_events_before_anything_else(tmp_path):
    met = np.full(2000, 50.0)
    met[:10] = np.nan  # rejected by the selection: never seen
    met_file(tmp_path / "a.root", nmu=np.r_[np.zeros(10), np.full(1990, 2)].astype(np.int32),
             nele=np.r_[np.zeros(10), np.ones(1990)].astype(np.int32), met_pt=met)
    met_file(tmp_path / "b.root", seed=1)
    spec = spec_for(tmp_path, selection="nmu + nele >= 2 and not (mu_eta > 2)")
    data = dataset(spec)
    report = data.report
    b = uproot.open(tmp_path / "b.root")["Events"].arrays(["nmu", "nele", "mu_eta"], library="np")
    expected_b = int(((b["nmu"] + b["nele"] >= 2) & ~(b["mu_eta"] > 2)).sum())
    a = report["files"][0]
    assert (a["entries"], report["files"][1]["entries"]) == (2000, 2000)
    assert report["files"][1]["selected"] == expected_b
    assert a["selected"] == len(data.x) - expected_b < 1990
    assert report["events"] == {"entries": 4000, "selected": len(data.x)}


@pytest.mark.parametrize("expression, expected", [
    ("nmu + nele >= 3", lambda c: c["nmu"] + c["nele"] >= 3),
    ("(nmu >= 1) & (nele >= 1) | ~(nmu == 0)", lambda c: ((c["nmu"] >= 1) & (c["nele"] >= 1)) | (c["nmu"] != 0)),
    ("nmu == 1 or nele != 0", lambda c: (c["nmu"] == 1) | (c["nele"] != 0)),
    ("0 < mu_eta <= 1", lambda c: (0 < c["mu_eta"]) & (c["mu_eta"] <= 1)),
    ("where(nmu > 0, mu_pt, -1)", lambda c: np.where(c["nmu"] > 0, c["mu_pt"], -1)),
    ("sqrt(maximum(mu_pt**2 - met_pt**2, 0))", lambda c: np.sqrt(np.maximum(c["mu_pt"] ** 2 - c["met_pt"] ** 2, 0))),
])
def test_expression_operators(tmp_path, expression, expected):
    met_file(tmp_path / "a.root")
    cols = uproot.open(tmp_path / "a.root")["Events"].arrays(library="np")
    out = read_columns([tmp_path / "a.root"], "Events", {"v": expression})["v"]
    np.testing.assert_array_equal(out, np.asarray(expected(cols), np.float64))


def test_per_event_reductions_of_a_collection(tmp_path):
    jets = ak.zip({"pt": ak.Array([[50.0, 35.0, 20.0], [], [31.0]])})
    write_tree(tmp_path / "nano.root", "Events", {"Jet": jets})
    out = read_columns([tmp_path / "nano.root"], "Events", {"n": "count(Jet_pt > 30)", "ht": "sum(Jet_pt)",
                                                           "any": "any(Jet_pt > 40)"}, selection="count(Jet_pt > 30) >= 1")
    np.testing.assert_array_equal(out["n"], [2, 1])
    np.testing.assert_array_equal(out["ht"], [105, 31])
    np.testing.assert_array_equal(out["any"], [1, 0])


@pytest.mark.parametrize("expression, message", [
    ("nmu >= 1 & nele >= 1", "mixes & or | with a comparison without parentheses"),
    ("where(nmu > 0, mu_pt)", "where() takes 3 argument(s)"),
    ("nmu if nmu else 0", "unsupported syntax IfExp"),
    ("count(nmu > 1)", "count(...) needs a per-object (jagged) value"),
])
def test_bad_expressions(tmp_path, expression, message):
    met_file(tmp_path / "a.root")
    with pytest.raises(TriggerError, match=r"data\.features\.v: .*" + message.replace("(", r"\(").replace(")", r"\)")):
        read_columns([tmp_path / "a.root"], "Events", {"v": expression})


def test_selection_that_nothing_passes(tmp_path):
    met_file(tmp_path / "a.root")
    with pytest.raises(TriggerError, match=r"data\.selection 'met_pt < 0': no event of 1 file\(s\) passes"):
        dataset(spec_for(tmp_path, selection="met_pt < 0"))


# ----------------------------------------------------------------------------- files
def test_duplicate_files_are_an_error_unless_allowed(tmp_path):
    met_file(tmp_path / "a.root")
    met_file(tmp_path / "b.root", seed=1)
    with pytest.raises(TriggerError, match=r"a\.root: matched twice by data\.files \(also as .*a\.root\).*"
                                           r"data\.allow_duplicates: true"):
        dataset(spec_for(tmp_path, files=["*.root", "a.root"]))
    (tmp_path / "copy.root").write_bytes((tmp_path / "a.root").read_bytes())
    with pytest.raises(TriggerError, match=r"a\.root and .*copy\.root: 2000 events appear in both"):
        dataset(spec_for(tmp_path))
    assert len(dataset(spec_for(tmp_path, allow_duplicates=True)).x) == 6000


def test_relative_files_start_at_the_spec_folder_and_messages_show_normalised_paths(tmp_path):
    (tmp_path / "models" / "m").mkdir(parents=True)
    met_file(tmp_path / "data.root")
    spec = spec_for(tmp_path, files=["../../data.root"])
    spec.path = tmp_path / "models" / "m" / "spec.yml"
    assert dataset(spec).report["files"][0]["file"] == "../../data.root"
    spec = spec_for(tmp_path, files=["../../nothing_*.root"])
    spec.path = tmp_path / "models" / "m" / "spec.yml"
    with pytest.raises(TriggerError, match=rf"matches no file \(looked for {tmp_path}/nothing_\*\.root; relative "
                                           r"patterns start at the spec's folder\)"):
        dataset(spec)


def test_spec_rules_for_the_new_keys():
    base = {"name": "s", "task": "anomaly", "model": {"kind": "autoencoder"},
            "data": {"files": ["a.root"], "features": {"a": "a"}}}
    with pytest.raises(TriggerError, match=r"'data\.missing\.b' is not a feature"):
        spec_from_dict(base | {"data": base["data"] | {"missing": {"b": -1}}, "anomaly": {"target": {"fpr": 0.1}}})
    with pytest.raises(TriggerError, match=r"'anomaly\.processes'/'anomaly\.signals' need 'anomaly\.process_branch'"):
        spec_from_dict(base | {"anomaly": {"signals": ["x"], "processes": ["b", "x"], "target": {"fpr": 0.1}}})
    with pytest.raises(TriggerError, match=r"'data\.negative_weights' must be one of \['error', 'allow'\]"):
        spec_from_dict(base | {"data": base["data"] | {"negative_weights": "yes"}, "anomaly": {"target": {"fpr": 0.1}}})
    assert spec_from_dict(base | {"anomaly": {"target": {"fpr": 0.1}}}).anomaly.processes == ["background"]


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_background_only_anomaly_trigger_end_to_end(tmp_path, monkeypatch, capsys):
    """One background-only user file, a selection, a sentinel, an outlier clipped, no budget.yml: valid JSON with the
    threshold and background rate, no signal section, budget none."""
    met = np.random.default_rng(5).exponential(100.0, 3000)
    met[:3] = -999.0
    met[3] = 1e9
    met_file(tmp_path / "bkg.root", n=3000, met_pt=met)
    spec = {"name": "user_ad", "task": "anomaly", "seed": 3,
            "data": {"files": ["../../bkg.root"], "tree": "Events", "selection": "mu_pt > 5",
                     "features": {"met_pt": "met_pt", "mu_pt": "mu_pt", "mu_eta": "mu_eta", "nmu": "nmu"},
                     "missing": {"met_pt": -999}},
            "anomaly": {"weight_branch": "w", "target": {"fpr": 0.02}, "score_weights": "uniform"},
            "input": {"saturation": "clip"},
            "model": {"kind": "autoencoder", "hidden": [8], "latent": 2},
            "train": {"epochs": 3, "float_epochs": 3, "pruning_start_epoch": 1, "pruning_end_epoch": 2, "batch_size": 256},
            "firmware": {"backends": ["Vitis"]}, "verify": {"events": 300}}
    model = make_project(tmp_path, spec)
    (model / "budget.yml").unlink()
    monkeypatch.chdir(tmp_path)
    assert run_cli("train", str(model)) == 0
    out = capsys.readouterr().out
    kept = int(((uproot.open(tmp_path / "bkg.root")["Events"]["mu_pt"].array(library="np")) > 5).sum())
    assert f"../../bkg.root: {kept} of 3000 events pass data.selection" in out
    assert "data.missing.met_pt = -999: 3 values emptied" in out
    assert "values beyond the input range, clipped: met_pt 1" in out
    assert run_cli("synth", str(model)) == 0
    text = (model / "metrics.json").read_text()
    report = json.loads(text)  # strict JSON
    assert "NaN" not in text and "Infinity" not in text
    csim = report["metrics"]["csim"]
    assert set(csim) == {"threshold", "background_fpr", "background_fpr_err", "background_events", "background_rate_khz"}
    assert 0 < csim["background_fpr"] <= 0.05 and report["budget"] == {"pass": None}
    assert report["data"]["events"] == {"entries": 3000, "selected": kept}
    assert report["backends"]["Vitis"]["headline"]["metric"] == "background FPR"
    assert report["csim"]["exact_fraction"] == 1.0
    summary = capsys.readouterr().out
    assert "background FPR" in summary and " none" in summary and "nan" not in summary.lower()
