"""The anomaly triggers side by side with the cut baselines, at the same rate.

One row per anomaly model (its firmware score, bit-exact with csim, on the measuring half of
the held-out background and every held-out signal event: trained/training.json), then one row
per cut baseline (trigger/tasks/baselines.py, on the same halves, from the first model). Latency
and LUT come from the RTL twin (source rtl); a baseline is a comparator on a value the L1 already
computes, so it has no core of its own here.
"""

import json
import math
from pathlib import Path

from trigger.errors import TriggerError


def _load(model_dir: Path) -> tuple[dict, dict]:
    path = model_dir / "trained" / "training.json"
    try:
        point = json.loads(path.read_text())["operating_point"]
    except (FileNotFoundError, KeyError) as exc:
        raise TriggerError(f"{path}: no anomaly operating point ({exc}); train the model (`trigger train "
                           f"{model_dir}`)") from None
    metrics = model_dir / "metrics.json"
    return point, json.loads(metrics.read_text()) if metrics.is_file() else {}


def measured_on_halves(model_dir: Path) -> bool:
    """Whether the model's operating point was measured on the half of the background that did not set its threshold
    (older trainings set and measured it on the same events and have no row here until retrained)."""
    return "background" in _load(model_dir)[0]


def _tpr(entry: dict) -> str:
    """Three decimals, or as many as the error's first digit needs (a TPR of 0.0022 ± 0.0007 is not 0.002 ± 0.001)."""
    err = entry["tpr_err"]
    decimals = max(3, -math.floor(math.log10(err))) if err > 0 else 3
    return f"{entry['tpr']:.{decimals}f} ± {err:.{decimals}f}"


def _rtl(metrics: dict, name: str) -> str:
    figure = (metrics.get("rtl") or {}).get("figures", {}).get(name)
    return "-" if figure is None else f"{figure['value']:g}{' ns' if name == 'latency_ns' else ''} ({figure['source']})"


def rows(model_dirs: list[Path]) -> tuple[list[str], list[list[str]]]:
    return _rows([(d, *_load(d)) for d in model_dirs])


def _rows(loaded: list[tuple[Path, dict, dict]]) -> tuple[list[str], list[list[str]]]:
    signals = list(loaded[0][1]["quantized"])
    header = ["trigger", *signals, "mean TPR", "rate [kHz]", "latency", "LUT", "DSP"]
    body = []
    for directory, point, metrics in loaded:
        per_signal = point["quantized"]
        mean = sum(per_signal[s]["tpr"] for s in signals) / len(signals)
        body.append([directory.name, *(_tpr(per_signal[s]) for s in signals), f"{mean:.3f}",
                     f"{point['background']['rate_khz']:.1f}", _rtl(metrics, "latency_ns"), _rtl(metrics, "lut"),
                     _rtl(metrics, "dsp")])
    crossing_mhz = loaded[0][1]["target"]["crossing_rate_mhz"]
    for name, b in loaded[0][1].get("baselines", {}).items():
        mean = sum(b["signals"][s]["tpr"] for s in signals) / len(signals)
        body.append([f"cut: {b['cut']}", *(_tpr(b["signals"][s]) for s in signals), f"{mean:.3f}",
                     f"{b['fpr'] * crossing_mhz * 1e3:.1f}", "-", "-", "-"])
    return header, body


def markdown(model_dirs: list[Path]) -> str:
    loaded = [(d, *_load(d)) for d in model_dirs]
    header, body = _rows(loaded)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in body]
    target = loaded[0][1]["target"]
    lines.append("")
    lines.append(f"TPR per signal ± binomial error at the {target['rate_khz']:g} kHz operating point (FPR "
                 f"{target['fpr']:.2g}): each threshold is set on one half of the held-out background and the rate and "
                 f"TPRs are measured on the other half; anomaly rows = the firmware score (bit-exact with csim); "
                 f"latency/LUT/DSP from the RTL twin (source rtl); cut rows: trigger/tasks/baselines.py.")
    return "\n".join(lines)


SAMPLES_GLOB = "background_rates_*.json"  # named samples of `trigger rates --name` (independent, streams)


def _samples(model_dirs: list[Path]) -> dict[str, list[tuple[str, dict]]]:
    """{sample name: [(model, report)]} over every named `trigger rates` report of the models."""
    out: dict[str, list[tuple[str, dict]]] = {}
    for d in model_dirs:
        for path in sorted(d.glob(SAMPLES_GLOB)):
            out.setdefault(path.stem.removeprefix("background_rates_"), []).append((d.name, json.loads(path.read_text())))
    return out


def _change(c: dict) -> str:
    counts = f"{c['pass_reference']}→{c['pass_other']}"
    if c["relative_change"] is None:
        return f"- ({counts})"
    return f"{100 * c['relative_change']:+.1f}% ± {100 * c['relative_change_err']:.1f}% ({counts})"


def samples_markdown(model_dirs: list[Path]) -> str:
    """Each named sample (`trigger rates --name`): every trigger at the target rate on that sample (threshold from one
    half of its background, rate on the other), then the shipped bits there and the paired float -> firmware change."""
    samples = _samples(model_dirs)
    if not samples:
        return ""
    first = next(iter(samples.values()))[0][1]
    signals = list(first["signal_events"])
    header = ["sample", "trigger", *signals, "mean TPR", "rate [kHz]"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for sample, reports in samples.items():
        triggers = [(model, r["at_target_rate"]["triggers"]["firmware"]) for model, r in reports]
        triggers += [(f"cut: {t['cut']}", t) for t in reports[0][1]["at_target_rate"]["triggers"].values() if "cut" in t]
        for name, t in triggers:
            mean = sum(t["tpr"][s]["tpr"] for s in signals) / len(signals)
            lines.append(f"| {sample} | {name} | " + " | ".join(_tpr(t["tpr"][s]) for s in signals)
                         + f" | {mean:.3f} | {t['rate_khz']:.1f} ± {t['rate_khz_err']:.1f} |")
    lines += ["", "| sample | model | shipped bit [kHz] | float at | " + " | ".join(f"float → firmware, {s}" for s in signals)
              + " |", "|" + "---|" * (4 + len(signals))]
    for sample, reports in samples.items():
        for model, r in reports:
            s, equal = r["shipped_threshold"], r["float_vs_firmware_at_equal_rate"]
            rate = f"{s['rate_khz']:.1f} ± {s['rate_khz_err']:.1f}"
            for where, changes in (("its shipped threshold", r["float_vs_firmware_at_shipped"]),
                                   ("the firmware's rate", equal["signals"])):
                lines.append(f"| {sample} | {model} | {rate} | {where} | "
                             + " | ".join(_change(changes[k]) for k in signals) + " |")
    lines.append("")
    for sample, reports in samples.items():
        r = reports[0][1]
        mixture = ", ".join(f"{k} {v:.3f}" for k, v in r["background_mixture"].items())
        lines.append(f"- {sample}: {r['sample']}" + (f", selection `{r['selection']}`" if r["selection"] else "")
                     + f"; {r['background_events']} background events (N_eff {r['background_effective_events']:.0f}), "
                     f"weighted mixture {mixture}; signal events " + ", ".join(f"{k} {v}" for k, v in r["signal_events"].items()))
    lines.append("")
    lines.append("Top table: each trigger at the target rate of that sample, its threshold set on one half of the sample's "
                 "background and the rate measured on the other. Bottom table: the shipped firmware bit (threshold from "
                 "training) on the sample, and the paired change in signal events passing from the float model to the "
                 "firmware, with the float model at its own shipped threshold or at the firmware bit's rate on this "
                 "sample: % ± McNemar error (pass counts float→firmware).")
    return "\n".join(lines)
