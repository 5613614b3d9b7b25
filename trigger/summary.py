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
    rtl = rtl_table(reports)
    if not rtl.startswith("no RTL"):
        text += ["", rtl]
    return "\n".join(text)


RTL_HEADER = ["model", "RTL vs csim", "latency (rtl)", "estimate", "II", "LUT (rtl)", "estimate", "FF (rtl)", "estimate",
              "CARRY", "DSP", "BRAM", "path (est.)"]


def rtl_rows(report: dict) -> list[str] | None:
    """metrics.json has an `rtl` block only for a bit-exact twin of this very graph."""
    rtl = report.get("rtl")
    if not rtl:
        return None
    figs, ratio = rtl["figures"], rtl["estimate_over_rtl"]
    estimate = report["backends"][report["csim"]["backend"]]["estimate"]

    def beside(name: str) -> str:  # the estimate, and how far it is from the rtl figure
        return f"{estimate[name]['value']:g} ({ratio[name]:.2f}x)" if name in ratio else f"{estimate[name]['value']:g}"

    timing = rtl["timing"]
    return [
        report["model"], f"{rtl['events']} events 0 LSB",
        f"{figs['latency_cycles']['value']} = {figs['latency_ns']['value']:g} ns", beside("latency_cycles"),
        str(figs["ii_cycles"]["value"]), str(figs["lut"]["value"]), beside("lut"),
        str(figs["ff"]["value"]), beside("ff"), str(rtl["carry"]), str(figs["dsp"]["value"]), str(figs["bram"]["value"]),
        f"{timing['critical_path_ns']:g} ns {'<=' if timing['meets_clock'] else '>'} {timing['clock_period_ns']:g}",
    ]


def rtl_table(reports: list[dict]) -> str:
    """The RTL twin's measured figures beside how far the analytic estimate is from them."""
    body = [r for r in map(rtl_rows, reports) if r]
    if not body:
        return "no RTL twin results (run `make rtl`)"
    widths = [max(len(str(c)) for c in col) for col in zip(RTL_HEADER, *body)]
    line = "  ".join("{:<%d}" % w for w in widths)
    text = [line.format(*RTL_HEADER), line.format(*("-" * w for w in widths))] + [line.format(*r) for r in body]
    text.append("RTL twin (da4ml Verilog): latency/II from Icarus simulation, resources from yosys synth_xilinx (source rtl); "
                "estimate = trigger/budget.py's analytic figure (estimate / rtl); path = pre-route timing estimate "
                "(yosys ltp), not a measurement")
    return "\n".join(text)
