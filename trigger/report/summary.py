"""The tables `make synth` ends with, from metrics.json: one row per model and backend with every
figure's source, then the RTL twin's figures beside the estimate. The README carries the same
text for the committed models (between the summary markers; tests check it is current)."""

import re
from pathlib import Path

from trigger.atomic import write_text
from trigger.errors import TriggerError

SOURCE_TAG = {"vivado": "vivado", "rtl": "rtl", "estimate": "est"}
HEADER = ["model", "backend", "events", "csim exact", "max LSB", "metric", "float", "csim",
          "latency", "cycles", "II", "LUT", "FF", "DSP", "BRAM", "budget"]
RTL_HEADER = ["model", "RTL vs csim", "latency (rtl)", "estimate", "II", "LUT (rtl)", "estimate", "FF (rtl)", "estimate",
              "CARRY", "DSP", "BRAM", "path (est.)"]


def _fig(figures: dict, name: str, unit: str = "") -> str:
    fig = figures.get(name)
    return f"{fig['value']:g}{unit} ({SOURCE_TAG[fig['source']]})" if fig else "-"


def rows(report: dict) -> list[list[str]]:
    out = []
    for backend, b in report.get("backends", {}).items():
        csim, figs, headline = b["csim"], b["figures"], b["headline"]
        out.append([
            report["model"], backend, str(csim["events"]), f"{100 * csim['exact_fraction']:.2f}%", str(csim["max_lsb_diff"]),
            headline["metric"], f"{headline['float']:.4f}", f"{headline['csim']:.4f}",
            _fig(figs, "latency_ns", " ns"), _fig(figs, "latency_cycles"), _fig(figs, "ii_cycles"),
            _fig(figs, "lut"), _fig(figs, "ff"), _fig(figs, "dsp"), _fig(figs, "bram"),
            {True: "PASS", False: "FAIL", None: "none"}[b["budget"]["pass"]],
        ])
    return out


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


def _grid(header: list[str], body: list[list[str]], note: str) -> str:
    widths = [max(len(str(c)) for c in col) for col in zip(header, *body)]
    line = "  ".join("{:<%d}" % w for w in widths)
    text = [line.format(*header), line.format(*("-" * w for w in widths))] + [line.format(*r) for r in body]
    return "\n".join([t.rstrip() for t in text] + [note])


def rtl_table(reports: list[dict]) -> str:
    """The RTL twin's measured figures beside how far the analytic estimate is from them."""
    body = [r for r in map(rtl_rows, reports) if r]
    if not body:
        return "no RTL twin results (run `make rtl`)"
    return _grid(RTL_HEADER, body, "RTL twin (da4ml Verilog): latency/II from Icarus simulation, resources from yosys "
                 "synth_xilinx (source rtl); estimate = the analytic figure of trigger/figures.py (estimate / rtl); "
                 "path = pre-route timing estimate (yosys ltp), not a measurement")


def input_lines(report: dict) -> list[str]:
    """Inputs beyond the input type on the test sample (clipped under input.saturation: clip), and what the selection
    kept: only for the models that have either."""
    lines = []
    clipped = {k: n for k, n in report.get("input", {}).get("clipped", {}).items() if n}
    if clipped:
        lines.append(f"{report['model']}: inputs clipped on the {report['events']} test events: "
                     + ", ".join(f"{k} {n}" for k, n in clipped.items()))
    data = report.get("data") or {}
    if data.get("selection"):
        e = data["events"]
        lines.append(f"{report['model']}: data.selection {data['selection']!r}: {e['selected']} of {e['entries']} events pass")
    return lines


def table(reports: list[dict]) -> str:
    text = _grid(HEADER, [r for report in reports for r in rows(report)],
                 "sources: vivado = csynth report, rtl = RTL twin simulation/synthesis, est = analytic estimate "
                 "(trigger/figures.py); budget none = no budget.yml")
    if notes := [line for report in reports for line in input_lines(report)]:
        text += "\n" + "\n".join(notes)
    return f"{text}\n\n{rtl_table(reports)}" if any(map(rtl_rows, reports)) else text


def bench_table(rows: list[dict]) -> str:
    """`make bench`: the emulator's speed-up over the csim, per model, and whether every event agreed."""
    return _grid(["model", "events", "csim [s]", "emulator [s]", "us/event csim", "us/event emu", "speed-up", "bit-exact"], [
        [r["model"], str(r["events"]), f"{r['csim_s']:.3f}", f"{r['emulator_s']:.4f}", f"{1e6 * r['csim_s'] / r['events']:.2f}",
         f"{1e6 * r['emulator_s'] / r['events']:.3f}", f"{r['ratio']:.0f}x",
         "yes" if r["exact"] else f"NO ({r['differing_events']} events)"] for r in rows],
        "csim = hls4ml ModelGraph.predict (compiled C simulation); emulator = trigger.emulate (numpy); best of several "
        "runs, same events")


def _block(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- {name}:begin -->\n)(.*?)(<!-- {name}:end -->)", re.S)


def readme_block(readme: Path, name: str = "summary") -> str:
    """The generated text between README's `<!-- name:begin -->` and `<!-- name:end -->` markers."""
    match = _block(name).search(Path(readme).read_text())
    if match is None:
        raise TriggerError(f"{readme}: no <!-- {name}:begin --> ... <!-- {name}:end --> block; add the two markers")
    return match.group(2)


def update_readme(readme: Path, blocks: dict[str, str]) -> None:
    """Rewrite README's generated blocks, e.g. {'summary': '```\n<table>\n```\n'} (`trigger summary --readme`)."""
    text = Path(readme).read_text()
    for name, content in blocks.items():
        readme_block(readme, name)  # the markers must exist
        text = _block(name).sub(lambda m: m.group(1) + content + m.group(3), text)
    write_text(Path(readme), text)


def code_block(text: str) -> str:
    return f"```\n{text}\n```\n"
