"""metrics.json: the one schema and its one writer, for `trigger synth` and `trigger convert` alike.

Keys, in this order (contract: ../shared/DESIGN.md): model, task, events, csim and budget (the
first backend's), metrics, overflow, backends {<backend>: csim, metrics, headline, budget, figures,
estimate, graph_sha256, metric_drops, synthesis, project}, what the producer adds, and `rtl`.
A backend's figures (the best of its estimate, a csynth report and the RTL twin of the identical
graph) and its budget are derived from what it records, by one function, also after `trigger rtl`.
"""

from pathlib import Path

from trigger import figures as figs
from trigger.atomic import read_json, write_json
from trigger.report.budget import evaluate
from trigger.verify import BackendResult

FILE = "metrics.json"


def backend_entry(result: BackendResult, metrics: dict, drops: dict, headline: dict) -> dict:
    """One backend's block, before derivation (its figures so far: a csynth report's, if any)."""
    return {"csim": result.agreement.as_dict(result.backend, result.output_type), "metrics": metrics, "headline": headline,
            "budget": None, "figures": result.vivado, "estimate": result.estimate, "graph_sha256": result.graph_sha256,
            "metric_drops": drops, "synthesis": result.synthesis, "project": str(result.project)}


def derive(entry: dict, rtl: dict | None, limits: dict) -> None:
    """A backend's figures (best source per quantity) and budget verdict, from what the block records."""
    vivado = {k: v for k, v in (entry["figures"] or {}).items() if v["source"] == "vivado"}
    entry["figures"] = figs.best(entry["estimate"], figs.rtl(rtl, entry["graph_sha256"]), vivado)
    entry["budget"] = evaluate(entry["figures"], entry["metric_drops"], limits)


def assemble(model: str, task: str, events: int, metrics: dict, overflow: dict, backends: dict[str, dict], limits: dict,
             rtl: dict | None, **extra) -> dict:
    """The report: `metrics` holds the references' task metrics (float, quantized, ...); the csim's are the
    first backend's."""
    report = {"model": model, "task": task, "events": int(events), "csim": None, "metrics": metrics, "overflow": overflow,
              "budget": None, "backends": backends, **extra}
    return _derive(report, rtl, limits)


def _derive(report: dict, rtl: dict | None, limits: dict) -> dict:
    for entry in report["backends"].values():
        derive(entry, rtl, limits)
    primary = next(iter(report["backends"].values()))
    report["csim"], report["budget"] = primary["csim"], primary["budget"]
    report["metrics"]["csim"] = primary["metrics"]
    report.pop("rtl", None)
    if twin := _rtl_block(rtl, primary):
        report["rtl"] = twin
    return report


def _rtl_block(rtl: dict | None, primary: dict) -> dict | None:
    """What the RTL twin measured, beside how far the estimate is from it; only for a twin of this graph."""
    if not figs.rtl(rtl, primary["graph_sha256"]):
        return None
    estimate = primary["estimate"]
    return {
        "source": "rtl", "report": f"models/{rtl['model']}/{figs.RTL_REPORT}", "tools": rtl["tools"],
        "bit_exact_vs_csim": rtl["simulation"]["exact_fraction"] == 1.0, "events": rtl["simulation"]["events"],
        "pipeline_depth": rtl["simulation"]["pipeline_depth"], "figures": rtl["figures"], "carry": rtl["synthesis"]["carry"],
        "timing": rtl["timing"],
        "estimate_over_rtl": {k: round(estimate[k]["value"] / f["value"], 3)
                              for k, f in rtl["figures"].items() if k in estimate and f["value"]},
    }


def write(directory: Path, report: dict) -> None:
    write_json(Path(directory) / FILE, report)


def load(directory: Path) -> dict:
    return read_json(Path(directory) / FILE, f"no metrics yet; run `make synth` (or `trigger synth {Path(directory).name}`)")


def refresh(directory: Path, limits: dict) -> dict:
    """Re-derive every backend's figures and budget, and the rtl block, from metrics.json, rtl.json and the limits."""
    report = _derive(load(directory), figs.load_rtl(directory), limits)
    write(directory, report)
    return report
