"""Anomaly-trigger rates on a large background sample, computed with the bit-exact emulator.

A false-positive rate is measurable only down to about 1 / N_eff, so small FPRs (low L1
rates) need 10^5 - 10^7 background events. hls4ml's csim costs ~50 us an event there, the
numpy emulator (trigger/emulate.py) well under 1 us. The csim stays the reference of
record: a subset of the sample goes through it first and must agree bit for bit, or no
rate is reported. Conventions (FPR, thresholds, uncertainties) are those of rates.py.
"""

import time
from pathlib import Path

import numpy as np

from trigger import plots
from trigger.atomic import write_json
from trigger.data import load_dataset, split
from trigger.emulate import Emulator
from trigger.errors import TriggerError
from trigger.firmware import FirmwareProject
from trigger.tasks import Anomaly, rates
from trigger.trained import Trained

FPRS = (1e-3, 1e-4, 1e-5, 1e-6)
CSIM_EVENTS = 2000
REPORT = "background_rates.json"


def run(trained: Trained, files: list[Path] | None = None, csim_events: int = CSIM_EVENTS, log=print) -> dict:
    """Scores of every event of `files` (default: the held-out test split of the spec's data), the
    threshold for each FPR the sample can measure, and what the shipped trigger bit does there."""
    spec, task = trained.spec, trained.task
    if not isinstance(task, Anomaly):
        raise TriggerError(f"{spec.name}: background rates are for anomaly models (this one is {spec.task})")
    data = load_dataset(spec, task, files, progress=False)
    if not files:
        data = split(data, spec, task).test
    source = ", ".join(map(str, files)) if files else "held-out test split of the spec's dataset"
    x = trained.preprocessing.apply(data.x, f"{spec.name} rate sample ({source})")
    backend = spec.firmware.backends[0]
    with FirmwareProject.scratch(lambda d: FirmwareProject.of(trained, backend, d)) as project:
        t0 = time.perf_counter()
        scores = Emulator(project.graph)(x)
        emulator_s = time.perf_counter() - t0
        check = _csim_check(project, x[:csim_events], scores[:csim_events])
    log(f"  {len(x)} events through the emulator in {emulator_s:.2f} s; csim cross-check on {check['events']} "
        f"events: bit-exact ({check['us_per_event']:.1f} us/event in csim, "
        f"{1e6 * emulator_s / len(x):.2f} us/event emulated)")

    bkg, w, signals = rates.split_scores(scores, data.y, data.w, data.classes, spec.anomaly.signals)
    target = spec.anomaly.target
    khz = target.crossing_rate_mhz * 1000.0
    n_eff = rates.effective_events(w)
    shipped = task.threshold(trained)
    fired, fired_err = rates.fpr_at(bkg, w, shipped)
    report = {
        "model": spec.name,
        "sample": source,
        "background_events": int(len(bkg)),
        "background_effective_events": n_eff,
        "smallest_measurable_fpr": 1.0 / n_eff,
        "scores_from": "trigger.emulate (bit-exact with the csim; checked on the first events)",
        "csim_cross_check": check,
        "emulator_seconds": round(emulator_s, 3),
        "shipped_threshold": {"value": shipped, "fpr": fired, "fpr_err": fired_err, "rate_khz": fired * khz,
                              "rate_khz_err": fired_err * khz, "fpr_target": target.false_positive_rate},
        "operating_points": [_point(fpr, bkg, w, signals, n_eff, khz)
                             for fpr in sorted({target.false_positive_rate, *FPRS}, reverse=True)],
    }
    write_json(spec.model_dir / REPORT, report)
    _plot(spec.model_dir / "plots" / "background_rate.png", bkg, w, khz, shipped, spec.name, len(bkg))
    return report


def describe(report: dict) -> str:
    """The report as a person reads it: the shipped bit's rate, then each operating point."""
    s = report["shipped_threshold"]
    lines = [f"  shipped threshold {s['value']:g}: FPR {s['fpr']:.3g} ± {s['fpr_err']:.2g} = {s['rate_khz']:.3g} ± "
             f"{s['rate_khz_err']:.2g} kHz on {report['background_events']} background events "
             f"(N_eff {report['background_effective_events']:.0f})"]
    for p in report["operating_points"]:
        if p["measurable"]:
            tprs = ", ".join(f"{k} {v['tpr']:.3f}" for k, v in p["tpr"].items())
            lines.append(f"  FPR {p['fpr']:g} ({p['rate_khz']:g} kHz): threshold {p['threshold']:g}; TPR {tprs}")
        else:
            lines.append(f"  FPR {p['fpr']:g}: not measurable with this sample (smallest {report['smallest_measurable_fpr']:.2g})")
    return "\n".join(lines)


def _csim_check(project: FirmwareProject, x: np.ndarray, emulated: np.ndarray) -> dict:
    project.compile()
    t0 = time.perf_counter()
    csim = project.predict(x)
    seconds = time.perf_counter() - t0
    differ = np.flatnonzero(np.any(csim != emulated, axis=1))
    if len(differ):
        e = int(differ[0])
        raise TriggerError(f"emulator differs from the csim on {len(differ)}/{len(x)} events (first: event {e}, "
                           f"csim {csim[e].tolist()} vs emulator {emulated[e].tolist()}); no rate is reported")
    return {"events": int(len(x)), "bit_exact": True, "us_per_event": 1e6 * seconds / max(len(x), 1)}


def _point(fpr: float, bkg, w, signals: dict, n_eff: float, khz: float) -> dict:
    entry = {"fpr": fpr, "rate_khz": fpr * khz, "measurable": fpr >= 1.0 / n_eff}
    if entry["measurable"]:
        t = rates.threshold_for(bkg, w, fpr)
        achieved, err = rates.fpr_at(bkg, w, t)
        entry |= {"threshold": t, "fpr_achieved": achieved, "fpr_err": err, "rate_khz_achieved": achieved * khz,
                  "tpr": {name: dict(zip(("tpr", "tpr_err"), rates.tpr_at(s, t))) for name, s in signals.items()}}
    return entry


def _plot(path: Path, bkg: np.ndarray, w: np.ndarray, khz: float, shipped: float, name: str, events: int) -> None:
    order = np.argsort(bkg)[::-1]
    total = w.sum()
    above = np.cumsum(w[order]) / total
    err = np.sqrt(np.cumsum(w[order] ** 2)) / total
    fig, (ax,) = plots.figure()
    ax.fill_between(bkg[order], (above - err) * khz, (above + err) * khz, alpha=0.3, step="post", label="±1σ (weights)")
    ax.step(bkg[order], above * khz, where="post", label="rate above threshold")
    ax.axvline(shipped, color="k", ls="--", label=f"shipped threshold {shipped:g}")
    ax.set(xlabel="anomaly score (firmware, emulated)", ylabel="L1 rate [kHz]", yscale="log",
           title=f"{name}: background rate, {events} events")
    ax.legend()
    plots.save(fig, path)
