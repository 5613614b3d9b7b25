"""Anomaly-trigger rates on a large background sample, computed with the bit-exact emulator.

A false-positive rate is measurable only down to about 1 / N_eff, so small FPRs (low L1
rates) need 10^5 - 10^7 background events. hls4ml's csim costs ~50 us an event there, the
numpy emulator (trigger/emulate.py) well under 1 us. The csim stays the reference of
record: a subset of the sample goes through it first and must agree bit for bit, or no
rate is reported. Conventions (FPR, thresholds, uncertainties) are those of rates.py.
"""

import re
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from trigger import plots
from trigger.atomic import write_json
from trigger.data import load_dataset, split
from trigger.emulate import Emulator
from trigger.errors import TriggerError
from trigger.firmware import FirmwareProject
from trigger.tasks import Anomaly, baselines, rates
from trigger.trained import Trained

FPRS = (1e-3, 1e-4, 1e-5, 1e-6)
CSIM_EVENTS = 2000
REPORT_STEM = "background_rates"  # <stem>.json, or <stem>_<name>.json for a named sample
REPORT = f"{REPORT_STEM}.json"


def run(trained: Trained, files: list[Path] | None = None, csim_events: int = CSIM_EVENTS, selection: str | None = None,
        name: str = "", log=print) -> dict:
    """Scores of every event of `files` (default: the held-out test split of the spec's data) that passes `selection`
    (and data.selection), what the shipped trigger bit and its float reference do there, each trigger (firmware, float,
    cut baselines) at the target rate on this sample, and the threshold for each FPR the sample can measure. `name`
    labels the report (background_rates_<name>.json), e.g. a stream."""
    spec, task = trained.spec, trained.task
    if not isinstance(task, Anomaly):
        raise TriggerError(f"{spec.name}: background rates are for anomaly models (this one is {spec.task})")
    if name and not re.fullmatch(r"[A-Za-z0-9_-]+", name):
        raise TriggerError(f"--name {name!r}: use letters, digits, '_' or '-' (it becomes part of a file name)")
    reading = spec if selection is None else replace(spec, data=replace(spec.data, selection=_both(spec.data.selection, selection)))
    data = load_dataset(reading, task, files, progress=False)
    if not files:
        data = split(data, spec, task).test
    source = _describe_files(files) if files else "held-out test split of the spec's dataset"
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
    floats = task.float_reference(trained, x)

    signal_names = spec.anomaly.signals
    bkg, w, signals = rates.split_scores(scores, data.y, data.w, data.classes, signal_names)
    f_bkg, _, f_signals = rates.split_scores(floats, data.y, data.w, data.classes, signal_names)
    target = spec.anomaly.target
    khz = target.crossing_rate_mhz * 1000.0
    n_eff = rates.effective_events(w)
    shipped, shipped_float = task.threshold(trained), task.threshold(trained, "float")
    report = {
        "model": spec.name,
        "sample": source,
        "selection": selection,
        "background_events": int(len(bkg)),
        "background_effective_events": n_eff,
        "signal_events": {k: int(len(v)) for k, v in signals.items()},
        "background_mixture": _mixture(data, signal_names),
        "smallest_measurable_fpr": 1.0 / n_eff,
        "scores_from": "trigger.emulate (bit-exact with the csim; checked on the first events); float: the float model",
        "csim_cross_check": check,
        "emulator_seconds": round(emulator_s, 3),
        "shipped_threshold": _at(shipped, bkg, w, signals, khz) | {"fpr_target": target.false_positive_rate},
        "shipped_float_threshold": _at(shipped_float, f_bkg, w, f_signals, khz),
        "float_vs_firmware_at_shipped": {k: rates.paired_change(f_signals[k], signals[k], shipped_float, shipped)
                                         for k in signals},
        "float_vs_firmware_at_equal_rate": _equal_rate(shipped, bkg, f_bkg, w, signals, f_signals),
        "at_target_rate": _at_target(data, {"firmware": scores, "float": floats}, task, khz),
        "operating_points": [_point(fpr, bkg, w, signals, n_eff, khz)
                             for fpr in sorted({target.false_positive_rate, *FPRS}, reverse=True)],
    }
    suffix = f"_{name}" if name else ""
    write_json(spec.model_dir / f"{REPORT_STEM}{suffix}.json", report)
    _plot(spec.model_dir / "plots" / f"background_rate{suffix}.png", bkg, w, khz, shipped, spec.name, len(bkg))
    return report


def _equal_rate(shipped: float, bkg, f_bkg, w, signals: dict, f_signals: dict) -> dict:
    """The float model at the rate the shipped firmware bit has on this sample: its threshold is set on this sample's
    background to the firmware's FPR there, so the paired signal counts compare efficiencies, not two rates. (A firmware
    score takes discrete values and the two thresholds come from a coarse weighted tail, so at their shipped thresholds
    the two triggers can fire on backgrounds that differ by more than the efficiency difference in question.)"""
    fpr = rates.fpr_at(bkg, w, shipped)[0]
    t_float = rates.threshold_for(f_bkg, w, fpr)
    return {"fpr": fpr, "float_threshold": t_float, "float_fpr": rates.fpr_at(f_bkg, w, t_float)[0],
            "signals": {k: rates.paired_change(f_signals[k], signals[k], t_float, shipped) for k in signals}}


def _mixture(data, signal_names: list[str]) -> dict[str, float]:
    """Weighted share of each background process in this sample (what the stream is made of)."""
    w = np.ones(len(data.y)) if data.w is None else np.asarray(data.w, np.float64)
    names = [c for c in data.classes if c not in signal_names]
    total = sum(w[data.y == data.classes.index(c)].sum() for c in names)
    return {c: float(w[data.y == data.classes.index(c)].sum() / total) for c in names}


def _both(a: str | None, b: str) -> str:
    return b if a is None else f"({a}) and ({b})"


def _describe_files(files: list[Path]) -> str:
    """The files, or for many of them their folders and count (a report names its sample, it does not list 200 files)."""
    if len(files) <= 4:
        return ", ".join(map(str, files))
    folders = sorted({str(Path(f).parent) for f in files})
    return f"{len(files)} files in {', '.join(folders)}"


def _tprs(signals: dict, threshold: float) -> dict:
    return {k: dict(zip(("tpr", "tpr_err"), rates.tpr_at(s, threshold))) for k, s in signals.items()}


def _at(threshold: float, bkg, w, signals: dict, khz: float) -> dict:
    fpr, err = rates.fpr_at(bkg, w, threshold)
    return {"value": threshold, "fpr": fpr, "fpr_err": err, "rate_khz": fpr * khz, "rate_khz_err": err * khz,
            "tpr": _tprs(signals, threshold)}


def _at_target(data, scores: dict, task: Anomaly, khz: float) -> dict:
    """Every trigger at the target FPR of this sample's own background: threshold set on one half (even positions),
    rate measured on the other, TPR on every signal event (the training's halves, Anomaly.halves).
    Also the paired float -> firmware change at these thresholds."""
    fpr = task.a.target.false_positive_rate
    values = dict(scores) | (baselines.scores(data.x, data.features) if baselines.available(data.features) else {})
    setting, measuring = task.halves(data)
    out: dict = {"fpr": fpr, "rate_khz": fpr * khz, "method": "threshold set on one half of this sample's background "
                 "(even positions), rate measured on the other half, TPR on every signal event", "triggers": {}}
    chosen = {}
    for name, v in values.items():
        (b_set, w_set, _), (bkg, w_bkg, sig) = task.split_halves(v, data, setting, measuring)
        t = rates.threshold_for(b_set, w_set, fpr)
        chosen[name] = (t, sig)
        entry = _at(t, bkg, w_bkg, sig, khz) | {"effective_events": rates.effective_events(w_bkg)}
        # where a typical signal event sits in the background: the weighted background fraction above its median
        entry["background_above_signal_median"] = {k: rates.fpr_at(bkg, w_bkg, float(np.median(s)))[0] if len(s) else None
                                                   for k, s in sig.items()}
        if name in baselines.DESCRIPTIONS:
            entry |= {"description": baselines.DESCRIPTIONS[name], "cut": baselines.cut(name, t)}
        out["triggers"][name] = entry
    (t_f, f_sig), (t_q, q_sig) = chosen["float"], chosen["firmware"]
    out["float_vs_firmware"] = {k: rates.paired_change(f_sig[k], q_sig[k], t_f, t_q) for k in q_sig}
    return out


def describe(report: dict) -> str:
    """The report as a person reads it: the shipped bit and its float reference, every trigger at the target rate on
    this sample (with the paired float -> firmware change), then each operating point."""
    s, f = report["shipped_threshold"], report["shipped_float_threshold"]
    lines = [f"  shipped threshold {s['value']:g}: FPR {s['fpr']:.3g} ± {s['fpr_err']:.2g} = {s['rate_khz']:.3g} ± "
             f"{s['rate_khz_err']:.2g} kHz on {report['background_events']} background events "
             f"(N_eff {report['background_effective_events']:.0f}); float reference at its threshold: "
             f"{f['rate_khz']:.3g} ± {f['rate_khz_err']:.2g} kHz"]
    lines += [f"    {k}: TPR {_pm(s['tpr'][k])} (float {_pm(f['tpr'][k])}); {_change(c)}"
              for k, c in report["float_vs_firmware_at_shipped"].items()]
    equal = report["float_vs_firmware_at_equal_rate"]
    lines.append(f"  float at the firmware's FPR here ({equal['fpr']:.3g}; float {equal['float_fpr']:.3g}):")
    lines += [f"    {k}: {_change(c)}" for k, c in equal["signals"].items()]
    target = report["at_target_rate"]
    lines.append(f"  at {target['rate_khz']:g} kHz on this sample ({target['method']}):")
    for name, t in target["triggers"].items():
        tprs = ", ".join(f"{k} {_pm(v)}" for k, v in t["tpr"].items())
        lines.append(f"    {t.get('cut', name)}: {t['rate_khz']:.3g} ± {t['rate_khz_err']:.2g} kHz; {tprs}")
    lines += [f"    float -> firmware, {k}: {_change(c)}" for k, c in target["float_vs_firmware"].items()]
    for p in report["operating_points"]:
        if p["measurable"]:
            tprs = ", ".join(f"{k} {v['tpr']:.3f}" for k, v in p["tpr"].items())
            lines.append(f"  FPR {p['fpr']:g} ({p['rate_khz']:g} kHz): threshold {p['threshold']:g}; TPR {tprs}")
        else:
            lines.append(f"  FPR {p['fpr']:g}: not measurable with this sample (smallest {report['smallest_measurable_fpr']:.2g})")
    return "\n".join(lines)


def _pm(entry: dict) -> str:
    return f"{entry['tpr']:.4f} ± {entry['tpr_err']:.4f}"


def _change(c: dict) -> str:
    """A paired float -> firmware comparison in one phrase."""
    counts = (f"{c['pass_reference']} -> {c['pass_other']} of {c['events']} pass ({c['only_reference']} float only, "
              f"{c['only_other']} firmware only)")
    if c["relative_change"] is None:
        return f"float -> firmware: {counts}; no relative change (float passes none)"
    return f"float -> firmware {100 * c['relative_change']:+.2f}% ± {100 * c['relative_change_err']:.2f}% ({counts})"


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
                  "tpr": _tprs(signals, t)}
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
