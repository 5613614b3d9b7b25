"""`trigger scan`: Optuna asks, Dask trains and converts, the records land in models/<name>/scan/.

- The sampler (NSGA-II or TPE, seeded) is driven by ask/tell over three objectives: the task
  metric on the validation split, LUT and latency (da4ml, source `estimate`).
- Trials run in rounds of `population` on a LocalCluster (or a cluster by address); a round is
  told in trial order once all of it is back, so the trials asked depend on the seed only.
- Each finished trial is written at once and atomically (scan/trials/<label>.json). A scan that
  is started again replays the recorded trials into the sampler without running them, so a
  killed scan resumes where it stopped: none is lost, none runs twice. A changed spec or
  scan.yml is a different scan, refused until scan/ is moved away.
- A failing trial is a record with its one-line reason; the scan goes on.
- A design the sampler asks again (NSGA-II's mutations can repeat one) is not run again: its
  record is the earlier trial's, marked `same_as` (training is seeded, so it would be identical).
"""

import hashlib
import os
import time
from pathlib import Path

import yaml

from trigger.atomic import read_json, write_json, write_text
from trigger.cluster import Interrupted, dask_client
from trigger.data import data_files
from trigger.errors import NothingWithinBudget, TriggerError
from trigger.firmware import projects_root
from trigger.report import load_budget
from trigger.scan import front
from trigger.scan.space import ScanConfig, apply, ignored, load_scan, rebase_files
from trigger.scan.trial import run_trial
from trigger.spec import Spec, read_yaml
from trigger.tasks import task_of

SCAN_DIR = "scan"
# One thread per trial: the workers already use every core.
WORKER_ENV = {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1", "OMP_NUM_THREADS": "1"}


def scan_dir(spec: Spec) -> Path:
    return spec.model_dir / SCAN_DIR


def _records(directory: Path) -> dict[str, dict]:
    return {p.stem: read_json(p) for p in sorted(directory.glob("*.json"))} if directory.is_dir() else {}


def load_records(spec: Spec) -> tuple[list[dict], list[dict]]:
    """(trials, references) recorded so far, in label order."""
    out = scan_dir(spec)
    return list(_records(out / "trials").values()), list(_records(out / "references").values())


def scan_limits(spec: Spec, config: ScanConfig) -> dict | None:
    """budget.yml as the scan applies it: without max_metric_drop when the trials shorten the float reference
    (their drops would flatter them; the pick's full flow checks the drops)."""
    limits = load_budget(spec.model_dir / "budget.yml", task_of(spec).drop_names)
    if limits and not config.drops_comparable:
        limits = {k: v for k, v in limits.items() if k != "max_metric_drop"}
    return limits


def _identity(spec: Spec, config: ScanConfig) -> dict:
    return {"spec_sha256": hashlib.sha256(spec.path.read_bytes()).hexdigest(), "scan_sha256": config.fingerprint}


def _reshipped(spec: Spec, config: ScanConfig, recorded: dict) -> bool:
    """The spec is its scan's pick copied back (the same scan.yml, the pick's settings): it differs from the spec the
    trials were recorded for only in knobs every trial sets, so each trial is the same design on either, and the scan
    goes on (or, finished, runs nothing). Scanning *around* the new spec is a new scan.yml."""
    picked = scan_dir(spec) / "pick" / "spec.yml"
    return (recorded.get("scan_sha256") == config.fingerprint and picked.is_file()
            and rebase_files(read_yaml(picked), picked.parent, spec.model_dir) == read_yaml(spec.path))


def _sampler(config: ScanConfig):
    import optuna

    if config.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=config.seed, multivariate=True)
    return optuna.samplers.NSGAIISampler(population_size=config.population, seed=config.seed)


def scan(spec: Spec, trials: int | None = None, workers: int | None = None, scheduler: str | None = None,
         progress: bool = True, log=print) -> dict:
    """Run (or resume) the scan of `spec` up to `trials` optimiser trials; returns the scan.json record."""
    import optuna
    from dask.distributed import as_completed
    from tqdm import tqdm

    config = load_scan(spec)
    task = task_of(spec)
    limits = scan_limits(spec, config)
    total = trials or config.trials
    out = scan_dir(spec)
    state = read_json(out / "scan.json") or {"runs": []}
    identity = _identity(spec, config)
    if state.get("identity", identity) != identity and not _reshipped(spec, config, state["identity"]):
        raise TriggerError(f"{out}: recorded for another spec.yml or scan.yml (the trials would not match); move "
                           f"{out} away to start a new scan, or restore the files")
    data_files(spec, progress=progress, scheduler=scheduler)  # the data exist before any worker reads them
    done = _records(out / "trials")
    references = _records(out / "references")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(directions=["maximize" if task.higher_is_better else "minimize", "minimize", "minimize"],
                                sampler=_sampler(config))
    distributions = {k.key: k.distribution() for k in config.space}
    workdir = str(projects_root() / spec.name / SCAN_DIR)
    workers = workers or os.cpu_count() or 1
    started, ran = time.time(), 0

    def record(r: dict, where: str) -> None:
        nonlocal ran
        write_json(out / where / f"{r['trial']}.json", r)
        (references if where == "references" else done)[r["trial"]] = r
        ran += "same_as" not in r  # a repeated design costs nothing: trials per hour count only what ran
        bar.update(1)
        best = front.running_best(list(done.values()), limits)
        if best is not None:
            bar.set_postfix_str(f"best within budget: {best['trial']} {best['metric']['value']:.4f}, "
                                f"{front.cost(best, 'lut')} LUT", refresh=True)
        if r["state"] == "failed":
            bar.write(f"{r['trial']} failed: {r['reason']}")

    base = str(spec.path.resolve())
    bar = None
    try:
        with dask_client(scheduler, workers, WORKER_ENV) as client:
            bar = tqdm(total=total + len(config.references), disable=not progress, unit="trial", desc=f"scan {spec.name}",
                       initial=sum(label in done for label in _labels(total)) + sum(n in references for n in config.references))
            pending_refs = [(name, overrides) for name, overrides in config.references.items() if name not in references]
            number = 0
            while number < total:
                batch = [study.ask(distributions) for _ in range(min(config.population, total - number))]
                jobs, repeats = [], {}
                for t in batch:
                    label, params = f"t{t.number:04d}", {k.key: k.value(t.params[k.key]) for k in config.space}
                    if label in done and done[label]["params"] != params:
                        raise TriggerError(f"{out / 'trials' / label}.json: recorded with {done[label]['params']}, the "
                                           f"sampler now asks {params}; move {out} away to start a new scan")
                    if label in done:
                        continue
                    # the sampler may ask a design it has already had (or one that differs only in knobs its engine
                    # ignores): training is seeded, so it is the same trial
                    design = _design(params)
                    earlier = next((r["trial"] for r in done.values() if _design(r["params"]) == design and "same_as" not in r),
                                   next((j[0] for j in jobs if _design(j[1]) == design), None))
                    if earlier is not None:
                        repeats[label] = (earlier, params)
                    else:
                        jobs.append((label, params, "trials"))
                jobs += [(name, overrides, "references") for name, overrides in pending_refs]
                pending_refs = []
                futures = {client.submit(run_trial, base, label, config.trial_overrides | params, workdir, pure=False,
                                         key=f"{spec.name}-scan-{label}"): (label, params, where)
                           for label, params, where in jobs}
                for future in as_completed(futures):
                    label, params, where = futures[future]
                    record(future.result() | _asked(label, params), where)
                for label, (earlier, params) in repeats.items():
                    record(done[earlier] | _asked(label, params) | {"same_as": earlier}, "trials")
                for t in batch:
                    r = done[f"t{t.number:04d}"]
                    if r["state"] == "complete":
                        study.tell(t, [r["metric"]["value"], front.cost(r, "lut"), front.cost(r, "latency_ns")])
                    else:
                        study.tell(t, state=optuna.trial.TrialState.FAIL)
                number += len(batch)
    except KeyboardInterrupt:
        raise Interrupted(f"interrupted: {len(done)}/{total} trials recorded in {out / 'trials'}; rerun to resume") from None
    finally:
        if bar is not None:
            bar.close()
        if ran:  # a run that recorded nothing leaves scan/ as it was
            state["runs"].append({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "trials_run": ran,
                                  "wall_seconds": round(time.time() - started, 1), "workers": workers,
                                  "scheduler": scheduler or "LocalCluster"})
            state["identity"] = identity
            write_json(out / "scan.json", state)
    write_report(spec, config, limits)
    log(f"{spec.name}: {len(front.complete(list(done.values())))}/{len(done)} trials complete -> {out}")
    return state


def _asked(label: str, params: dict) -> dict:
    """What a record keeps of its ask: the label, every knob the sampler set (a resume replays them) and those its
    engine ignores."""
    return {"trial": label, "params": params} | ({"ignored": ignored(params)} if ignored(params) else {})


def _design(params: dict) -> dict:
    """The knobs that make the design: those its engine reads."""
    return {k: v for k, v in params.items() if k not in ignored(params)}


def _labels(total: int) -> list[str]:
    return [f"t{i:04d}" for i in range(total)]


def write_report(spec: Spec, config: ScanConfig, limits: dict | None, chosen: dict | None = None,
                 named: bool = False) -> None:
    """scan/front.md (both fronts, references, failures, wall time and trials per hour) and the two plots."""
    out = scan_dir(spec)
    records, references = load_records(spec)
    state = read_json(out / "scan.json") or {"runs": []}
    wall = sum(r["wall_seconds"] for r in state["runs"])
    ran = sum(r["trials_run"] for r in state["runs"])
    rate = f"{ran / wall * 3600:.1f} trials per hour" if wall else "no timing yet"
    workers = sorted({str(r["workers"]) for r in state["runs"]})
    lines = [f"# Scan of {spec.name}", "",
             f"{len(records)} trials ({len(front.complete(records))} complete) and {len(references)} references; "
             f"{ran} run in {wall / 3600:.2f} h wall on {'/'.join(workers) or '?'} workers: {rate}. Metric on the "
             f"validation split; cost from da4ml (source estimate), the budget from budget.yml"
             f"{'' if config.drops_comparable else ' (its max_metric_drop left to the pick: trials_only shortens the float reference)'}.",
             ""]
    if chosen is not None:
        lines += [f"Pick ({_rule(config, named)}): **{chosen['trial']}**", ""]
    for key, title in (("lut", "LUT"), ("latency_ns", "latency")):
        lines += [f"## Front: metric against {title}", "", front.table(records, references, limits, key), ""]
        front.plot(out / f"pareto_{'lut' if key == 'lut' else 'latency'}.png", records, references, key, chosen)
    write_text(out / "front.md", "\n".join(lines))


def _rule(config: ScanConfig, named: bool = False) -> str:
    if named:
        return "named on the command line (`--pick TRIAL`), whatever budget.yml says"
    floor = "" if config.floor is None else f" and reaches {config.floor:g}"
    return (f"the fewest LUTs within budget whose validation metric is within {config.tolerance:g} of the best on the "
            f"front{floor}")


def pick(spec: Spec, trial: str | None = None, log=print) -> Path:
    """`trigger scan --pick [TRIAL]`: the chosen trial as a spec (scan/pick/spec.yml, with the budget) ready for
    `trigger train`, `synth` and `rtl`. A named trial overrides the rule: the way to ship the nearest miss when
    nothing is within budget, while the scan stays this spec's (the spec then equals its pick)."""
    config = load_scan(spec)
    limits = scan_limits(spec, config)
    records, references = load_records(spec)
    named = trial is not None
    if named:
        complete = {r["trial"]: r for r in front.complete(records + references)}
        if trial not in complete:
            raise TriggerError(f"{scan_dir(spec)}: no complete trial {trial!r} to pick; name one of its front.md rows "
                               f"(complete: {', '.join(sorted(complete)) or 'none'})")
        chosen = complete[trial]
    else:
        chosen = front.pick(records + references, limits, config.tolerance, config.floor)  # a reference may be the best
    if chosen is None:
        floor = "" if config.floor is None else f" reaching pick.floor {config.floor:g}"
        raise NothingWithinBudget(f"{scan_dir(spec)}: no complete trial within {spec.model_dir / 'budget.yml'}{floor}; run more "
                           f"trials (`trigger scan {spec.name} --trials N`), widen scan.yml, or name the trial to ship "
                           f"(`--pick TRIAL`)")
    target = scan_dir(spec) / "pick"
    raw = rebase_files(apply(read_yaml(spec.path), config.fixed | chosen["params"]), spec.model_dir, target)
    c = chosen["cost"]
    command = f"trigger scan {spec.name} --pick" + (f" {trial}" if named else "")
    header = (f"# Picked by `{command}` from {chosen['trial']}: {chosen['metric']['name']} "
              f"{chosen['metric']['value']:.4f} (validation), {c['lut']['value']} LUT and {c['latency_ns']['value']:g} ns "
              f"(estimate, da4ml).\n# Rule: {_rule(config, named)}.\n# Verify with trigger train, synth and rtl on this "
              f"folder; re-ship by copying it over {spec.path}.\n")
    if config.trials_only:
        header += f"# The trials also ran with {config.trials_only} (scan.yml trials_only), which is not written here.\n"
    write_text(target / "spec.yml", header + yaml.safe_dump(raw, sort_keys=False))
    if (spec.model_dir / "budget.yml").is_file():
        write_text(target / "budget.yml", (spec.model_dir / "budget.yml").read_text())
    write_report(spec, config, limits, chosen, named)
    log(f"{spec.name}: picked {chosen['trial']} ({', '.join(f'{k}={v}' for k, v in chosen['params'].items())}) -> "
        f"{target / 'spec.yml'}")
    return target / "spec.yml"
