"""The Pareto fronts of a scan (task metric against LUT, and against latency), the pick, and their
table and plots. Only complete trials (0 LSB) take part; every cost keeps its source label."""

from collections import Counter
from pathlib import Path

from trigger.plots import figure, save

COST_KEYS = ("lut", "ff", "latency_ns", "latency_cycles", "ii_cycles", "dsp", "bram")


def complete(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("state") == "complete"]


def _score(record: dict) -> float:
    """The metric oriented so that larger is better."""
    metric = record["metric"]
    return metric["value"] if metric["higher_is_better"] else -metric["value"]


def cost(record: dict, key: str) -> float:
    return record["cost"][key]["value"]


def pareto(records: list[dict], key: str = "lut") -> list[dict]:
    """The complete records that no other beats in both metric and `key` (ordered by `key`)."""
    done = complete(records)
    front = [r for r in done
             if not any(_score(o) >= _score(r) and cost(o, key) <= cost(r, key) and
                        (_score(o) > _score(r) or cost(o, key) < cost(r, key)) for o in done)]
    return sorted(front, key=lambda r: (cost(r, key), -_score(r), r["trial"]))


def within_budget(record: dict, limits: dict | None) -> bool:
    """Every limited cost, and every limited float -> csim metric drop the trial measured, within budget.yml."""
    if not limits:
        return True
    drops = record.get("metric_drops", {})
    return (all(limits.get(k) is None or cost(record, k) <= limits[k] for k in COST_KEYS if k in record["cost"]) and
            all(drops[k] <= v for k, v in (limits.get("max_metric_drop") or {}).items() if k in drops))


def reaches(record: dict, floor: float | None) -> bool:
    """The metric is at the floor or better (in the metric's own direction)."""
    if floor is None:
        return True
    metric = record["metric"]
    return metric["value"] >= floor if metric["higher_is_better"] else metric["value"] <= floor


def pick(records: list[dict], limits: dict | None, tolerance: float, floor: float | None = None) -> dict | None:
    """The fewest LUTs among the trials within budget (and reaching `floor`) whose metric is within `tolerance` of
    the best metric on the LUT front (ties: lower latency, then the earlier trial); None when no trial qualifies."""
    eligible = [r for r in complete(records) if within_budget(r, limits) and reaches(r, floor)]
    if not eligible:
        return None
    best = max(_score(r) for r in pareto(eligible))
    close = [r for r in eligible if _score(r) >= best - tolerance]
    return min(close, key=lambda r: (cost(r, "lut"), cost(r, "latency_ns"), r["trial"]))


def running_best(records: list[dict], limits: dict | None) -> dict | None:
    eligible = [r for r in complete(records) if within_budget(r, limits)]
    return max(eligible, key=lambda r: (_score(r), -cost(r, "lut")), default=None)


def _knobs(record: dict) -> str:
    knobs = {k: v for k, v in record["params"].items() if k not in record.get("ignored", [])}
    return ", ".join(f"{k}={v}" for k, v in knobs.items()) or "(the spec the scan started from)"


def table(records: list[dict], references: list[dict], limits: dict | None, key: str = "lut") -> str:
    """Markdown: the front on `key`, then the references, then the failed trials with their reasons."""
    if not complete(records + references):
        return "no complete trial yet"
    metric = complete(records + references)[0]["metric"]
    header = f"| trial | knobs | {metric['name']} ({metric['split']}) | LUT | FF | latency | budget |"
    lines = [header, "|---|---|---|---|---|---|---|"]

    def row(r: dict, label: str) -> str:
        c = r["cost"]
        return (f"| {label} | {_knobs(r)} | {r['metric']['value']:.4f} | {c['lut']['value']} ({c['lut']['source']}) | "
                f"{c['ff']['value']} ({c['ff']['source']}) | {c['latency_ns']['value']:g} ns ({c['latency_ns']['source']}) "
                f"| {'pass' if within_budget(r, limits) else 'over'} |")

    asked = Counter(r.get("same_as", r["trial"]) for r in records)  # a repeat is its earlier trial: listed once
    lines += [row(r, r["trial"] + (f" (asked {asked[r['trial']]}×)" if asked[r["trial"]] > 1 else ""))
              for r in pareto(records, key) if "same_as" not in r]
    lines += [row(r, f"reference: {r['trial']}") for r in complete(references)]
    failed = [r for r in records + references if r.get("state") == "failed"]
    if failed:
        lines += ["", "Failed trials (never used):", ""] + [f"- {r['trial']} ({_knobs(r)}): {r['reason']}" for r in failed]
    return "\n".join(lines)


def plot(path: Path, records: list[dict], references: list[dict], key: str, chosen: dict | None = None) -> None:
    """Every complete trial, the front as a step line, the references and the pick marked."""
    done = complete(records)
    fig, (ax,) = figure(1, 1, size=(7, 4.5))
    if done:
        ax.scatter([cost(r, key) for r in done], [r["metric"]["value"] for r in done], s=14, c="0.6", label="trials")
        front = pareto(done, key)
        ax.step([cost(r, key) for r in front], [r["metric"]["value"] for r in front], where="post", c="C0",
                marker="o", ms=5, label="Pareto front")
    for i, r in enumerate(complete(references)):
        ax.scatter([cost(r, key)], [r["metric"]["value"]], marker="*", s=160, c=f"C{i + 1}", zorder=3,
                   label=f"reference: {r['trial']}")
    if chosen is not None:
        ax.scatter([cost(chosen, key)], [chosen["metric"]["value"]], marker="s", s=90, facecolors="none",
                   edgecolors="k", zorder=4, label=f"pick: {chosen['trial']}")
    sample = (done or complete(references) or [None])[0]
    if sample is not None:
        source = sample["cost"][key]["source"] + (f", {sample['cost'][key]['method']}" if "method" in sample["cost"][key] else "")
        unit = "LUT" if key == "lut" else "latency [ns]"
        ax.set(xlabel=f"{unit} ({source})", ylabel=f"{sample['metric']['name']} ({sample['metric']['split']})")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)
