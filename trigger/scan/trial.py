"""One design of a scan, on a Dask worker: the spec with the trial's knobs, trained, converted through
the one firmware path, checked at 0 LSB and costed.

- The trial is a model directory of its own (<hls projects>/<name>/scan/<label>/) holding the spec
  with its knobs, `verify.split: validation` (the test split stays for the final report, so the
  scan never tunes on it) and the first backend only; it is removed when the record is made.
- csim runs on the validation sample; a trial that is not 0 LSB against its quantized model
  is recorded as failed with the layer and size of the difference, and never used.
- Cost: da4ml's LUT and FF model and its pipeline depth at the clock (trigger.rtl.da4ml_cost),
  and the analytic estimate (trigger.figures), each labelled with its source.
- Any error becomes the record's one-line reason; the scan goes on.
- An HGQ2 trial (model.engine hgq2, from the spec or a knob) runs in an HGQ2 process that the worker starts
  (`python -m trigger.scan.trial`, trigger/hgq2_env.py); its record comes back as JSON on the last line.
"""

import json
import shutil
import sys
import time
import warnings
from pathlib import Path

import yaml

from trigger import hgq2_env
from trigger.engines import ENGINES
from trigger.errors import TriggerError
from trigger.firmware import projects_root
from trigger.keras2 import keras
from trigger.rtl import da4ml_cost
from trigger.scan.space import apply, rebase_files
from trigger.spec import load_spec, read_yaml
from trigger.synth import synth
from trigger.tasks import task_of
from trigger.train import train


def trial_spec(base: Path, label: str, overrides: dict, directory: Path) -> Path:
    """Write the trial's spec into `directory` (a model folder named after the trial) and return its path."""
    raw = read_yaml(base)
    raw = apply(raw, overrides)
    backends = raw.get("firmware", {}).get("backends") or ["Vitis"]
    raw = apply(raw, {"name": f"{raw['name']}_{label}", "verify.split": "validation", "firmware.backends": backends[:1]})
    raw = rebase_files(raw, base.parent, directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "spec.yml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def run_trial(base: str, label: str, overrides: dict, workdir: str) -> dict:
    """Worker task: the trial's record (never raises for a bad design: the reason is recorded)."""
    engine = apply(read_yaml(Path(base)), overrides).get("model", {}).get("engine", "qkeras")
    if engine in ENGINES and ENGINES[engine].hgq2_process and not hgq2_env.inside():
        return _in_hgq2_process(base, label, overrides, workdir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a worker's library warnings would only scramble the progress bar
        return _measure(base, label, overrides, workdir)


def _in_hgq2_process(base: str, label: str, overrides: dict, workdir: str) -> dict:
    started = time.time()
    try:
        proc = hgq2_env.run(["-m", "trigger.scan.trial", base, label, json.dumps(overrides), workdir],
                            what=f"the HGQ2 process of trial {label}")
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (TriggerError, ValueError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [""])[0]
        return {"trial": label, "params": overrides, "state": "failed", "reason": first,
                "seconds": round(time.time() - started, 1)}


def _measure(base: str, label: str, overrides: dict, workdir: str) -> dict:
    started = time.time()
    directory = Path(workdir) / label
    record = {"trial": label, "params": overrides}
    name = None
    try:
        spec = load_spec(trial_spec(Path(base), label, overrides, directory))
        name = spec.name
        train(spec, progress=False, log=lambda line: None)
        report, (result,) = synth(spec, log=lambda line: None, plots=False)
        agreement = result.agreement
        if agreement.exact_fraction < 1.0:
            raise TriggerError(f"csim differs from the quantized model on {agreement.events - agreement.exact_events} of "
                               f"{agreement.events} validation events, by up to {agreement.max_lsb_diff} LSB; first "
                               f"diverging layer {agreement.first_diverging_layer} ({agreement.layer_lsb_diff} LSB)"
                               + (f"; {agreement.cause}" if agreement.cause else ""))
        if result.graph is None:
            raise TriggerError("the fixed-point graph cannot represent this project, so da4ml cannot cost it")
        measured = report["backends"][result.backend]
        headline = measured["headline"]
        record.update({
            "state": "complete",
            "metric": {"name": headline["metric"], "value": headline["csim"], "split": "validation",
                       "higher_is_better": task_of(spec).higher_is_better},
            "metric_drops": measured["metric_drops"],  # float -> csim, checked against budget.yml's max_metric_drop
            "csim": {"backend": result.backend, "events": agreement.events, "max_lsb_diff": agreement.max_lsb_diff},
            "cost": da4ml_cost(result.graph, spec.firmware.clock_period_ns),
            "estimate": result.estimate,
        })
    except TriggerError as exc:
        record.update({"state": "failed", "reason": str(exc)})
    except Exception as exc:  # a bad design may break a library deep down; record it, keep scanning
        first = (str(exc).strip().splitlines() or [""])[0]
        record.update({"state": "failed", "reason": f"{type(exc).__name__}: {first}"})
    finally:
        keras.backend.clear_session()
        shutil.rmtree(directory, ignore_errors=True)
        if name:
            shutil.rmtree(projects_root() / name, ignore_errors=True)
    record["seconds"] = round(time.time() - started, 1)
    return record


if __name__ == "__main__":  # an HGQ2 trial, started by run_trial in a worker
    print(json.dumps(run_trial(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4])))
