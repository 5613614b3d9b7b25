"""The budget gate: limits from budget.yml, checked against the best figures and the metric drops.

budget.yml is optional: without it the figures are reported with budget "none" (`pass`: null).
When it exists it is validated with the spec, before any work starts (the CLI loads both): every
key is a quantity of trigger.figures.QUANTITIES or `max_metric_drop`, every limit a number (or
null: no limit), and every metric drop one the task reports. Errors name the file.
"""

from pathlib import Path

from trigger.errors import TriggerError
from trigger.figures import QUANTITIES
from trigger.spec import read_yaml


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_budget(path: Path, drops: tuple[str, ...] | None = None, required: bool = False) -> dict | None:
    """Limits of `path` (None when it does not exist and is not `required`); `drops`: the metric drops the task
    reports (checked when given)."""
    path = Path(path)
    if not path.is_file():
        if not required:
            return None
        raise TriggerError(f"{path}: budget file missing; add one with limits for {', '.join(QUANTITIES)}")
    raw = read_yaml(path, "budget file") or {}
    if not isinstance(raw, dict):
        raise TriggerError(f"{path}: must be a mapping of quantity: limit")
    allowed = set(QUANTITIES) | {"max_metric_drop"}
    for key, value in raw.items():
        if key not in allowed:
            raise TriggerError(f"{path}: unknown key '{key}' (allowed: {', '.join(sorted(allowed))})")
        if key != "max_metric_drop" and value is not None and not _number(value):
            raise TriggerError(f"{path}: '{key}' must be a number, got {value!r}")
    metric_drops = raw.get("max_metric_drop") or {}
    if not isinstance(metric_drops, dict):
        raise TriggerError(f"{path}: 'max_metric_drop' must be a mapping of metric: largest allowed drop")
    for key, value in metric_drops.items():
        if not _number(value):
            raise TriggerError(f"{path}: 'max_metric_drop.{key}' must be a number, got {value!r}")
        if drops is not None and key not in drops:
            raise TriggerError(f"{path}: 'max_metric_drop.{key}' is not a metric of this task (it has: "
                               f"{', '.join(drops) or 'none'})")
    return raw


def evaluate(figures: dict[str, dict], metric_drops: dict[str, float], limits: dict | None) -> dict:
    """Every limited quantity with value, limit and source; pass only if all are within limits; no limits (no
    budget.yml): pass is None, budget "none"."""
    if limits is None:
        return {"pass": None}
    result: dict = {}
    ok = True
    for name in QUANTITIES:
        if limits.get(name) is None:
            continue
        if name not in figures:
            raise TriggerError(f"budget.yml: '{name}' has no figure to compare with; remove the limit")
        fig = figures[name]
        within = fig["value"] <= limits[name]
        result[name] = {"value": fig["value"], "limit": limits[name], "source": fig["source"], "pass": within}
        ok &= within
    for name, limit in (limits.get("max_metric_drop") or {}).items():
        if name not in metric_drops:
            raise TriggerError(f"budget.yml: 'max_metric_drop.{name}' is not a metric of this task (it has: "
                               f"{', '.join(metric_drops) or 'none'})")
        value = round(float(metric_drops[name]), 6)
        within = value <= limit
        result[f"{name}_drop"] = {"value": value, "limit": limit, "source": "csim", "pass": within}
        ok &= within
    result["pass"] = bool(ok)
    return result


def failures(budget: dict) -> list[str]:
    return [f"{name} = {fig['value']} ({fig['source']}) > limit {fig['limit']}"
            for name, fig in budget.items() if isinstance(fig, dict) and not fig.get("pass", True)]
