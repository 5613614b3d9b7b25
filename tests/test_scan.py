"""`trigger scan` on a 2-worker LocalCluster: a tiny scan that is killed and resumed (no trial lost, none
run twice), a failing trial recorded without stopping the scan, the fronts, the pick, and scan.yml errors."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import make_project, run_cli, run_cli_in
from test_bad_input import assert_clean_failure, fresh, outputs

# Two input precisions: ap_fixed<6,1> saturates on the tiny data, so the trials that draw it fail (with
# seed 1 the sampler draws it twice in four trials) and the scan must go on.
SCAN = {
    "trials": 4, "population": 2, "seed": 1,
    "fixed": {"train.epochs": 3}, "trials_only": {"train.float_epochs": 2},
    "space": {"model.weight_bits": {"choices": [4, 6]}, "train.sparsity": {"low": 0.3, "high": 0.7, "step": 0.1},
              "input.precision": {"choices": ["ap_fixed<16,6>", "ap_fixed<6,1>"]}},
    "references": {"shipped": {}},
    "pick": {"tolerance": 0.02},
}  # fmt: skip


def write_scan(model: Path, scan: dict = SCAN) -> None:
    (model / "scan.yml").write_text(yaml.safe_dump(scan, sort_keys=False))


def records(model: Path) -> dict[str, bytes]:
    return {p.relative_to(model / "scan").as_posix(): p.read_bytes() for p in sorted((model / "scan").glob("*/*.json"))}


def at(raw: dict, key: str):
    """The value of a dotted spec key (`model.hgq.beta`) in a loaded spec."""
    for part in key.split("."):
        raw = raw[part]
    return raw


def start_scan(root: Path) -> subprocess.Popen:
    """`trigger scan` as a user starts it: Ctrl-C must interrupt it even where the test runner ignores SIGINT
    (an xdist worker does, and a child inherits that)."""
    env = os.environ | {"TRIGGER_HLS_PROJECTS": str(root / "hls_projects")}
    return subprocess.Popen([sys.executable, "-m", "trigger.cli", "scan", "models/tiny", "--workers", "2"], cwd=root,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


@pytest.mark.slow
def test_scan_killed_resumed_fronts_and_pick(tmp_path):
    model = make_project(tmp_path)
    write_scan(model)
    proc = start_scan(tmp_path)
    deadline = time.time() + 600
    while not list((model / "scan" / "trials").glob("t*.json")) and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGINT)  # Ctrl-C once the first trial is on disk
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err
    assert "interrupted:" in err and "rerun to resume" in err
    killed = records(model)
    assert killed and len(killed) < 5, "the scan was meant to be killed part way"
    first = json.loads((model / "scan" / "scan.json").read_text())["runs"]

    run_cli_in(tmp_path, "scan", "models/tiny", "--workers", "2")
    after = records(model)
    assert {k: after[k] for k in killed} == killed, "a finished trial was re-run or rewritten"
    assert sorted(after) == ["references/shipped.json"] + [f"trials/t{i:04d}.json" for i in range(4)], "a trial was lost"
    runs = json.loads((model / "scan" / "scan.json").read_text())["runs"]
    assert runs[: len(first)] == first and sum(r["trials_run"] for r in runs) == 5, f"a trial ran twice: {runs}"

    trials = [json.loads(after[f"trials/t{i:04d}.json"]) for i in range(4)]
    failed = [t for t in trials if t["state"] == "failed"]
    complete = [t for t in trials if t["state"] == "complete"]
    assert failed and complete, [t["state"] for t in trials]
    for t in failed:
        assert t["params"]["input.precision"] == "ap_fixed<6,1>"
        assert "saturate ap_fixed<6,1>" in t["reason"] and "\n" not in t["reason"]
    for t in complete:
        assert t["csim"]["max_lsb_diff"] == 0 and t["metric"]["split"] == "validation"
        assert set(t["metric_drops"]) == {"accuracy", "auc"}, "the float -> csim drops the budget can limit"
        assert {c["source"] for c in t["cost"].values()} == {"estimate"} and t["cost"]["lut"]["method"] == "da4ml"
        assert t["cost"]["lut"]["value"] > 0 and t["cost"]["latency_ns"]["value"] > 0
    assert not (tmp_path / "hls_projects" / "tiny" / "scan").exists() or not any((tmp_path / "hls_projects" / "tiny" / "scan").iterdir())

    # A finished scan asked again runs nothing.
    run_cli_in(tmp_path, "scan", "models/tiny", "--workers", "2")
    assert records(model) == after
    assert sum(r["trials_run"] for r in json.loads((model / "scan" / "scan.json").read_text())["runs"]) == 5

    front_md = (model / "scan" / "front.md").read_text()
    assert "reference: shipped" in front_md and "Failed trials" in front_md
    assert (model / "scan" / "pareto_lut.png").stat().st_size > 0 and (model / "scan" / "pareto_latency.png").stat().st_size > 0

    run_cli_in(tmp_path, "scan", "models/tiny", "--pick")
    from trigger.data import data_files
    from trigger.scan import front, load_records
    from trigger.scan.space import rebase_files
    from trigger.spec import load_spec

    every = complete + [json.loads(after["references/shipped.json"])]
    chosen = front.pick(every, None, SCAN["pick"]["tolerance"])
    best = max(r["metric"]["value"] for r in every)
    assert chosen["metric"]["value"] >= best - SCAN["pick"]["tolerance"]
    assert all(r["cost"]["lut"]["value"] >= chosen["cost"]["lut"]["value"] for r in every
               if r["metric"]["value"] >= best - SCAN["pick"]["tolerance"])
    picked = load_spec(model / "scan" / "pick" / "spec.yml")
    assert picked.name == "tiny" and data_files(picked, progress=False) == [tmp_path / "events.root"]
    raw = yaml.safe_load((model / "scan" / "pick" / "spec.yml").read_text())
    for key, value in (SCAN["fixed"] | chosen["params"]).items():
        assert at(raw, key) == value, key
    assert raw["train"]["float_epochs"] == 4, "trials_only settings stay out of the pick (the spec's own value)"
    assert "trials_only" in (model / "scan" / "pick" / "spec.yml").read_text().split("\nname:")[0]
    assert f"**{chosen['trial']}**" in (model / "scan" / "front.md").read_text()
    assert load_records(load_spec(model / "spec.yml"))[0] == trials

    # Re-shipped: the pick copied over the spec (its data.files back where the spec is). Every trial sets the knobs
    # the two differ in, so the scan is still this spec's: asked again, it runs nothing and picks the same design.
    reshipped = rebase_files(raw, model / "scan" / "pick", model)
    (model / "spec.yml").write_text("# re-shipped from the scan's pick\n" + yaml.safe_dump(reshipped, sort_keys=False))
    picked_before = (model / "scan" / "pick" / "spec.yml").read_bytes()
    run_cli_in(tmp_path, "scan", "models/tiny", "--workers", "2")
    assert records(model) == after
    run_cli_in(tmp_path, "scan", "models/tiny", "--pick")
    assert (model / "scan" / "pick" / "spec.yml").read_bytes() == picked_before

    # A named trial overrides the rule (the nearest miss, when nothing is within budget).
    other = next(t for t in complete + [json.loads(after["references/shipped.json"])] if t["trial"] != chosen["trial"])
    run_cli_in(tmp_path, "scan", "models/tiny", "--pick", other["trial"])
    named = (model / "scan" / "pick" / "spec.yml").read_text()
    assert f"--pick {other['trial']}` from {other['trial']}" in named and "named on the command line" in named
    assert f"**{other['trial']}**" in (model / "scan" / "front.md").read_text()
    raw = yaml.safe_load(named)
    for key, value in other["params"].items():
        assert at(raw, key) == value, key


@pytest.mark.slow
def test_scan_repeated_design_is_not_run_again(tmp_path):
    """NSGA-II may ask a design twice (here every ask is the same: one knob, one choice): the repeat, in the same
    round or a later one, is recorded as the earlier trial and does not run."""
    model = make_project(tmp_path)
    write_scan(model, {"trials": 3, "population": 2, "seed": 0, "fixed": SCAN["fixed"] | SCAN["trials_only"],
                       "space": {"model.weight_bits": {"choices": [4]}}})
    run_cli_in(tmp_path, "scan", "models/tiny", "--workers", "2")
    trials = {k: json.loads(v) for k, v in records(model).items()}
    assert sorted(trials) == [f"trials/t{i:04d}.json" for i in range(3)]
    first = trials["trials/t0000.json"]
    assert first["state"] == "complete" and "same_as" not in first
    for label in ("t0001", "t0002"):  # t0001 repeats within the first round, t0002 in the second
        repeat = trials[f"trials/{label}.json"]
        assert repeat == first | {"trial": label, "same_as": "t0000"}
    assert sum(r["trials_run"] for r in json.loads((model / "scan" / "scan.json").read_text())["runs"]) == 1
    front_rows = [line for line in (model / "scan" / "front.md").read_text().splitlines() if line.startswith("| t0")]
    assert len(front_rows) == 2 and all(row.startswith("| t0000 (asked 3×) |") for row in front_rows), front_rows


def test_pick_floor_excludes_designs_below_the_goal():
    """pick.floor: the tolerance rule runs only over designs that reach the floor (here an R²-like metric)."""
    from trigger.scan import front

    def trial(name, value, lut):
        return {"trial": name, "state": "complete", "metric": {"value": value, "higher_is_better": True},
                "cost": {"lut": {"value": lut}, "latency_ns": {"value": 50}}}

    every = [trial("big", 0.972, 27000), trial("small", 0.968, 17000)]
    assert front.pick(every, None, 0.005)["trial"] == "small"
    assert front.pick(every, None, 0.005, floor=0.97)["trial"] == "big"
    assert front.pick(every, None, 0.005, floor=0.98) is None


def test_pick_keeps_the_budget_on_metric_drops():
    """budget.yml's max_metric_drop (float -> csim) rules a trial out like a cost limit does: the smallest design
    loses too much and is not picked; a record without drops (older scans) is judged on its costs."""
    from trigger.scan import front

    def trial(name, value, lut, drop=None):
        drops = {} if drop is None else {"metric_drops": {"residual_median_abs": drop}}
        return {"trial": name, "state": "complete", "metric": {"value": value, "higher_is_better": False},
                "cost": {"lut": {"value": lut}, "latency_ns": {"value": 50}}} | drops

    limits = {"lut": 50000, "max_metric_drop": {"residual_median_abs": 0.02}}
    every = [trial("small", 0.090, 9000, drop=0.023), trial("big", 0.091, 14000, drop=0.004)]
    assert not front.within_budget(every[0], limits) and front.within_budget(every[1], limits)
    assert front.pick(every, limits, 0.005)["trial"] == "big"
    assert front.pick(every, None, 0.005)["trial"] == "small"
    assert front.within_budget(trial("old", 0.09, 9000), limits)


@pytest.mark.parametrize("change, needle", [
    ({"trails": 4}, "unknown key 'trails'"),
    ({"sampler": "grid"}, "'sampler' must be one of"),
    ({"space": {"model.weight_bitz": {"choices": [4]}}}, "'space.model.weight_bitz' = 4 does not make a valid spec"),
    ({"space": {"train.sparsity": {"low": 0.9, "high": 0.5}}}, "'space.train.sparsity': needs low < high"),
    ({"space": {"input.precision": {"choices": ["ap_fixed<4>"]}}}, "'space.input.precision' = 'ap_fixed<4>'"),
    ({"references": {"tutorial": {"train.sparsity": 1.5}}}, "'references.tutorial'"),
    ({"references": {"knee-round1": {}}}, "'references.knee-round1': a reference name is letters, digits and _"),
    ({"pick": {"tolerance": -1}}, "'pick.tolerance' must be a number >= 0"),
    ({"pick": {"floor": "high"}}, "'pick.floor' must be a number"),
    ({"pick": {"flor": 0.9}}, "unknown key 'pick.flor' (allowed: floor, tolerance)"),
])  # fmt: skip
def test_bad_scan_file(tmp_path, monkeypatch, capsys, change, needle):
    model = fresh(tmp_path, monkeypatch)
    write_scan(model, SCAN | change)
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("scan", "models/tiny"), "scan.yml", needle)


def test_scan_without_scan_file_or_trials(tmp_path, monkeypatch, capsys):
    fresh(tmp_path, monkeypatch)
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("scan", "models/tiny"), "scan.yml", "write scan.yml")
    assert_clean_failure(capsys, tmp_path, before, run_cli("scan", "models/tiny", "--pick"), "scan.yml")


def test_scan_counts_below_one_are_refused(tmp_path, monkeypatch, capsys):
    """--trials 0 once meant "scan.yml's count" (0 is falsy) and ran a whole scan."""
    model = fresh(tmp_path, monkeypatch)
    write_scan(model)
    before = outputs(tmp_path)
    for option in ("--trials", "--workers"):
        assert_clean_failure(capsys, tmp_path, before, run_cli("scan", "models/tiny", option, "0"), option,
                             "must be at least 1")


def test_scan_of_changed_spec_is_refused(tmp_path, monkeypatch, capsys):
    model = fresh(tmp_path, monkeypatch)
    write_scan(model)
    (model / "scan").mkdir()
    (model / "scan" / "scan.json").write_text(json.dumps({"runs": [], "identity": {"spec_sha256": "0", "scan_sha256": "0"}}))
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("scan", "models/tiny"), "recorded for another spec.yml or scan.yml",
                         "move")
    code = run_cli("scan", "models/tiny", "--pick")
    assert code == 1, "nothing within budget is a finding (exit 1, as `trigger check`), not a mistake (2)"
    assert_clean_failure(capsys, tmp_path, before, code, "no complete trial")
    code = run_cli("scan", "models/tiny", "--pick", "t9999")
    assert code == 2, "a trial name that is not in the scan is a mistake"
    assert_clean_failure(capsys, tmp_path, before, code, "no complete trial 't9999'", "front.md")
    # a pick of that other scan.yml, copied over the spec, does not make the trials this scan.yml's
    (model / "scan" / "pick").mkdir()
    (model / "scan" / "pick" / "spec.yml").write_text("# picked\n" + (model / "spec.yml").read_text())
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("scan", "models/tiny"), "recorded for another spec.yml", "move")


def test_scan_with_unreachable_scheduler(tmp_path, monkeypatch, capsys):
    model = fresh(tmp_path, monkeypatch)
    write_scan(model)
    before = outputs(tmp_path)
    assert_clean_failure(capsys, tmp_path, before, run_cli("scan", "models/tiny", "--scheduler", "tcp://127.0.0.1:9"),
                         "cannot reach the Dask scheduler at tcp://127.0.0.1:9")


def test_an_engine_knob_keeps_each_trial_to_its_engines_settings():
    """model.engine as a knob: the settings only the other engine reads are dropped (spec and knobs alike), and the
    knobs dropped are named; without an engine override nothing is dropped."""
    from trigger.scan.space import apply, ignored

    base = {"model": {"hidden": [8], "weight_bits": 5, "layers": {"dense_1": {"weight_bits": 6}}},
            "train": {"epochs": 3, "sparsity": 0.5, "pruning_end_epoch": 2}}
    hgq2 = {"model.engine": "hgq2", "model.hgq.beta": 1e-5, "model.weight_bits": 4}
    assert apply(base, hgq2) == {"model": {"hidden": [8], "engine": "hgq2", "hgq": {"beta": 1e-5}}, "train": {"epochs": 3}}
    assert ignored(hgq2) == ["model.weight_bits"]
    qkeras = {"model.engine": "qkeras", "model.hgq.beta": 1e-5}
    assert apply(base, qkeras) == {"model": {**base["model"], "engine": "qkeras"}, "train": base["train"]}
    assert ignored(qkeras) == ["model.hgq.beta"]
    assert apply(base, {"model.weight_bits": 4})["model"]["layers"] == base["model"]["layers"] and ignored({"model.weight_bits": 4}) == []
