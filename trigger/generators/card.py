"""Dataset card: card.md + PNGs next to the chunks, written once the dataset is complete.

Generic part (here): yields, cross sections, filter efficiencies, the weighted mixture,
generation rates against Pythia's own next() rate, and the run log. Generator part (its
class): `CARD_BRANCHES`, `card_plots(data, directory)` and `sanity(data)`, the physics
checks that the tests assert too. A plan: chunks with `process`, `filename`, `events`.
"""

import json
from pathlib import Path

import awkward as ak
import numpy as np

from trigger.atomic import write_text
from trigger.plots import figure, save
from trigger.rootio import open_root, read_metadata

FOUR_VECTOR = ("px", "py", "pz", "e")  # four-vectors are stored as <name>_px, <name>_py, <name>_pz, <name>_e columns


def load_by_process(directory: Path, plan: list, tree: str, branches: list[str]) -> dict[str, dict]:
    """Branches of every chunk, concatenated per process (awkward arrays)."""
    parts: dict[str, list] = {}
    for c in plan:
        with open_root(directory / c.filename) as f:
            parts.setdefault(c.process, []).append(f[tree].arrays(branches, library="ak"))
    return {p: {b: ak.concatenate([a[b] for a in arrays]) for b in branches} for p, arrays in parts.items()}


def summarise(directory: Path, plan: list) -> dict[str, dict]:
    """Per process: events, chunks, sigma, filter efficiency, summed weight, rates."""
    out: dict[str, dict] = {}
    for c in plan:
        meta = read_metadata(directory / c.filename)
        s = out.setdefault(c.process, {"events": 0, "chunks": 0, "generated": 0, "passed": 0, "selected": 0,
                                       "seconds_generate": 0.0, "seconds_extract": 0.0, "seconds_raw": 0.0,
                                       "sigma_pb": [], "signal": meta.get("signal", False)})
        t = meta["timing"]
        s["events"] += c.events
        s["chunks"] += 1
        for key in ("generated", "selected", "seconds_generate", "seconds_extract"):
            s[key] += t[key]
        s["passed"] += t.get("passed", t["selected"])
        if t.get("seconds_per_raw_next"):
            s["seconds_raw"] += t["seconds_per_raw_next"] * t["generated"]
        if meta.get("sigma_pb"):
            s["sigma_pb"].append(meta["sigma_pb"])
    for s in out.values():
        s["sigma_pb"] = float(np.mean(s["sigma_pb"])) if s["sigma_pb"] else None
        s["efficiency"] = s["passed"] / s["generated"] if s["generated"] else None
        s["sigma_x_eff_pb"] = s["sigma_pb"] * s["efficiency"] if s["sigma_pb"] else None
        busy = s["seconds_generate"] + s["seconds_extract"]
        s["rate_selected"] = s["selected"] / busy if busy else None  # per core
        s["rate_generated"] = s["generated"] / busy if busy else None
        s["rate_raw_next"] = s["generated"] / s["seconds_raw"] if s["seconds_raw"] else None
        s["overhead"] = busy / s["seconds_raw"] if s["seconds_raw"] else None
        s["extraction_overhead"] = s["seconds_extract"] / s["seconds_raw"] if s["seconds_raw"] else None
    return out


def write_card(cfg, seed: int, directory: Path, plan: list) -> Path:
    stats = summarise(directory, plan)
    data = load_by_process(directory, plan, cfg.TREE, cfg.CARD_BRANCHES)
    plots = cfg.card_plots(data, directory)
    checks = cfg.sanity(data)
    runs = json.loads((directory / "runs.json").read_text()) if (directory / "runs.json").exists() else []
    lines = [f"# Dataset card: {cfg.name} (`{directory.name}`)", "",
             f"Generator `{cfg.name}` (trigger/generators/{cfg.name}.py has the physics definitions), seed {seed}, "
             f"{sum(c.events for c in plan)} events in {len(plan)} chunk files, tree `{cfg.TREE}`. "
             "Settings: `settings.json`.", "", "## Yields", "",
             "| process | events | chunks | sigma [pb] | filter eff. | sigma x eff [pb] | mixture |",
             "|---|---|---|---|---|---|---|"]
    background = {p: s for p, s in stats.items() if not s["signal"] and s["sigma_x_eff_pb"]}
    total_bkg = sum(s["sigma_x_eff_pb"] for s in background.values())
    for process, s in stats.items():
        mix = f"{100 * s['sigma_x_eff_pb'] / total_bkg:.1f}%" if process in background and len(background) > 1 else "-"
        lines.append(f"| {process}{' (signal)' if s['signal'] else ''} | {s['events']} | {s['chunks']} | {_g(s['sigma_pb'])} | "
                     f"{_g(s['efficiency'])} | {_g(s['sigma_x_eff_pb'])} | {mix} |")
    lines += ["", "Cross sections are Pythia's estimates for the generated process (forced decays included); "
              "`weight` (pb/event) sums to sigma x efficiency per process.", "",
              "## Generation rate (per core)", "",
              "| process | raw pythia.next() [ev/s] | pipeline [generated ev/s] | kept [ev/s] | pipeline / raw next() time | extraction / raw next() time |",
              "|---|---|---|---|---|---|"]
    for process, s in stats.items():
        lines.append(f"| {process} | {_g(s['rate_raw_next'])} | {_g(s['rate_generated'])} | {_g(s['rate_selected'])} | "
                     f"{_g(s['overhead'])} | {_g(s['extraction_overhead'])} |")
    lines += ["", "Raw next(): Pythia's `next()` alone on calibration events of each chunk. Pipeline: `nextBatch` "
              "(next() + conversion to awkward arrays) plus our extraction (clustering, reconstruction, selection). "
              "Goal: pipeline / raw next() <= 1.3.", "", "## Runs", "", "| date | chunks | wall [s] | workers | scheduler |", "|---|---|---|---|---|"]
    lines += [f"| {r['date']} | {r['chunks']} | {r['wall_seconds']} | {r['workers']} | {r['scheduler']} |" for r in runs]
    lines += ["", "## Sanity checks", "", "| check | value | expectation |", "|---|---|---|"]
    lines += [f"| {name} | {_g(value)} | {expect} |" for name, (value, expect) in checks.items()]
    lines += ["", "## Distributions", ""]
    lines += [f"![{caption}]({name})" for caption, name in plots]
    path = directory / "card.md"
    write_text(path, "\n".join(lines) + "\n")
    write_text(directory / "card.json", json.dumps({"yields": stats, "sanity": {k: v[0] for k, v in checks.items()}}, indent=1, default=float) + "\n")
    return path


def _g(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def histograms(path: Path, data: dict[str, dict], panels: list[tuple]) -> Path:
    """One panel per (branch-or-callable, x label, bins, log-y flag); one normalised line per process."""
    cols = 3
    rows = -(-len(panels) // cols)
    fig, axes = figure(rows, cols, size=(5 * cols, 3.6 * rows))
    for ax, (what, label, bins, logy) in zip(axes, panels):
        for i, (process, columns) in enumerate(data.items()):
            values = what(columns) if callable(what) else columns[what]
            values = np.asarray(ak.to_numpy(ak.flatten(values, axis=None)), dtype=np.float64)
            if len(values):
                ax.hist(values, bins=bins, histtype="step", density=True, color=f"C{i % 10}", label=process)
        ax.set(xlabel=label, ylabel="normalised", yscale="log" if logy else "linear")
        ax.grid(alpha=0.3)
    for ax in axes[len(panels):]:
        ax.axis("off")
    axes[0].legend(fontsize=7)
    return save(fig, path)


def invariant_mass(columns: dict, *names: str) -> np.ndarray:
    """Mass of the sum of four-vectors stored as <name>_px/_py/_pz/_e columns."""
    comps = [sum(np.asarray(columns[f"{n}_{c}"], np.float64) for n in names) for c in FOUR_VECTOR]
    return np.sqrt(np.maximum(comps[3] ** 2 - comps[0] ** 2 - comps[1] ** 2 - comps[2] ** 2, 0.0))


def merged(data: dict[str, dict], processes=None) -> dict:
    """All (or some) processes' columns concatenated."""
    chosen = [c for p, c in data.items() if processes is None or p in processes]
    return {b: ak.concatenate([c[b] for c in chosen]) for b in chosen[0]}
