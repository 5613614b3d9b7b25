"""The table `make synth` ends with: one row per model and backend, every figure with its source."""

from __future__ import annotations

SOURCE_TAG = {"vivado": "vivado", "rtl": "rtl", "estimate": "est"}


def _fig(figures: dict, name: str, unit: str = "") -> str:
    fig = figures.get(name)
    if not fig:
        return "-"
    return f"{fig['value']:g}{unit} ({SOURCE_TAG[fig['source']]})"


def rows(report: dict) -> list[list[str]]:
    out = []
    for backend, b in report.get("backends", {}).items():
        csim, figs = b["csim"], b["figures"]
        out.append([
            report["model"], backend, str(csim["events"]),
            f"{100 * csim['exact_fraction']:.2f}%", str(csim["max_lsb_diff"]),
            b["headline"]["metric"], f"{b['headline']['float']:.4f}", f"{b['headline']['csim']:.4f}",
            _fig(figs, "latency_ns", " ns"), _fig(figs, "latency_cycles"), _fig(figs, "ii_cycles"),
            _fig(figs, "lut"), _fig(figs, "ff"), _fig(figs, "dsp"), _fig(figs, "bram"),
            "PASS" if b["budget"]["pass"] else "FAIL",
        ])
    return out


HEADER = ["model", "backend", "events", "csim exact", "max LSB", "metric", "float", "csim",
          "latency", "cycles", "II", "LUT", "FF", "DSP", "BRAM", "budget"]


def table(reports: list[dict]) -> str:
    body = [r for report in reports for r in rows(report)]
    widths = [max(len(str(c)) for c in col) for col in zip(HEADER, *body)]
    line = "  ".join("{:<%d}" % w for w in widths)
    text = [line.format(*HEADER), line.format(*("-" * w for w in widths))]
    text += [line.format(*r) for r in body]
    text.append("sources: vivado = csynth report, rtl = RTL simulation/synthesis, est = analytic estimate (see trigger/budget.py)")
    return "\n".join(text)
