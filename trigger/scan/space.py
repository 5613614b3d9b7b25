"""What a scan searches: models/<name>/scan.yml, checked against the model's spec before any trial runs.

    trials: 40                 # optimiser trials (the references below come on top)
    sampler: nsga2             # or tpe (both Optuna's, seeded)
    population: 8              # trials asked per round; a round is told to the sampler in trial order
    seed: 0
    fixed: {train.epochs: 30}                # overrides of every trial and reference, kept in the pick (optional)
    trials_only: {train.float_epochs: 1}     # overrides of the trials only, not written into the pick: settings
                                             # that cannot change the metric or cost (the float reference's training;
                                             # then budget.yml's max_metric_drop is left to the pick's full flow)
    space:                                   # any spec key, dotted
      model.weight_bits: {choices: [4, 6, 8]}
      model.hidden: {choices: [[64, 32, 32], [32, 16, 16]]}
      train.sparsity: {low: 0.5, high: 0.9, step: 0.05}
      train.learning_rate: {low: 0.001, high: 0.01, log: true}
    references:                              # measured like a trial, marked on the front, never told to the sampler
      shipped: {}
      tutorial: {model.weight_bits: 6, train.sparsity: 0.75}
    pick:
      tolerance: 0.003         # --pick: the fewest LUTs within this of the best metric on the front, within budget
      floor: 0.97              # optional: and reaching this metric (a physics goal the tolerance alone could miss)

Rounds are synchronous, so the same scan.yml, spec and seed ask the same trials in the same order on any
number of workers, and a resumed scan asks exactly what the killed one would have.
"""

import copy
import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trigger.errors import TriggerError
from trigger.spec import Spec, other_engines_keys, read_yaml, spec_from_dict

SCAN_FILE = "scan.yml"
SAMPLERS = ("nsga2", "tpe")


@dataclass
class Knob:
    key: str  # dotted spec key
    choices: list | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def integer(self) -> bool:
        return all(isinstance(v, int) and not isinstance(v, bool) for v in (self.low, self.high, self.step or 1))

    def distribution(self):
        """Optuna's distribution; list-valued choices are offered by their JSON text (Optuna keeps scalars only)."""
        import optuna.distributions as d

        if self.choices is not None:
            return d.CategoricalDistribution([_encode(c) for c in self.choices])
        if self.integer:
            return d.IntDistribution(self.low, self.high, log=self.log, step=self.step or 1)
        return d.FloatDistribution(self.low, self.high, log=self.log, step=self.step)

    def value(self, sampled):
        """The spec value of what the sampler returned."""
        if self.choices is not None:
            return self.choices[[_encode(c) for c in self.choices].index(sampled)]
        return sampled if self.integer else round(float(sampled), 12)

    def values(self) -> list:
        """A few values that span the knob (validated against the spec at load time)."""
        return list(self.choices) if self.choices is not None else [self.low, self.high]


@dataclass
class ScanConfig:
    path: Path
    trials: int
    sampler: str
    population: int
    seed: int
    space: list[Knob]
    fixed: dict[str, Any] = field(default_factory=dict)
    references: dict[str, dict[str, Any]] = field(default_factory=dict)
    tolerance: float = 0.0
    floor: float | None = None  # the validation metric a pick must reach (>= it, or <= for a lower-is-better metric)
    trials_only: dict[str, Any] = field(default_factory=dict)

    @property
    def trial_overrides(self) -> dict[str, Any]:
        """What every trial and reference runs with on top of its knobs."""
        return self.fixed | self.trials_only

    @property
    def drops_comparable(self) -> bool:
        """A trial's float -> csim drops mean what the budget means only against the spec's own float reference."""
        return not any(key.startswith("train.float") for key in self.trials_only)

    @property
    def fingerprint(self) -> str:
        """What the trials depend on besides the spec: a changed scan.yml is a different scan, except for its `pick`
        rule (and comments), which only chooses among the recorded trials."""
        raw = dict(read_yaml(self.path) or {})
        raw.pop("pick", None)
        return hashlib.sha256(json.dumps(raw, sort_keys=True).encode()).hexdigest()


def _encode(choice):
    return choice if isinstance(choice, (str, int, float, bool)) or choice is None else json.dumps(choice)


def load_scan(spec: Spec) -> ScanConfig:
    """scan.yml next to the spec, every key and value checked; errors name scan.yml and the key."""
    path = spec.model_dir / SCAN_FILE
    raw = read_yaml(path, f"scan file (write {SCAN_FILE} next to the spec; see trigger/scan/space.py)") or {}
    if not isinstance(raw, dict):
        raise TriggerError(f"{path}: must be a mapping")
    allowed = {"trials", "sampler", "population", "seed", "space", "fixed", "trials_only", "references", "pick"}
    if unknown := sorted(set(raw) - allowed):
        raise TriggerError(f"{path}: unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})")
    trials, population, seed = (_count(raw, path, key, default) for key, default in
                                (("trials", 20), ("population", 8), ("seed", 0)))
    sampler = raw.get("sampler", "nsga2")
    if sampler not in SAMPLERS:
        raise TriggerError(f"{path}: 'sampler' must be one of {list(SAMPLERS)}, got {sampler!r}")
    space = [_knob(path, key, value) for key, value in _mapping(raw, path, "space").items()]
    if not space:
        raise TriggerError(f"{path}: 'space' is empty; give at least one spec key with its choices or range")
    fixed, trials_only = _mapping(raw, path, "fixed"), _mapping(raw, path, "trials_only")
    references = {str(k): v or {} for k, v in _mapping(raw, path, "references").items()}
    for name, overrides in references.items():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name):  # it names the reference's HLS project and C++ symbols
            raise TriggerError(f"{path}: 'references.{name}': a reference name is letters, digits and _, starting with a "
                               f"letter (it names the HLS project); e.g. {re.sub(r'[^A-Za-z0-9_]', '_', name)!r}")
        if not isinstance(overrides, dict):
            raise TriggerError(f"{path}: 'references.{name}' must be a mapping of spec key: value")
    pick = _mapping(raw, path, "pick")
    if unknown := sorted(set(pick) - {"tolerance", "floor"}):
        raise TriggerError(f"{path}: unknown key 'pick.{unknown[0]}' (allowed: floor, tolerance)")
    tolerance, floor = pick.get("tolerance", 0.0), pick.get("floor")
    if not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool) or tolerance < 0:
        raise TriggerError(f"{path}: 'pick.tolerance' must be a number >= 0, got {tolerance!r}")
    if floor is not None and (not isinstance(floor, (int, float)) or isinstance(floor, bool)):
        raise TriggerError(f"{path}: 'pick.floor' must be a number (the metric a pick must reach), got {floor!r}")
    config = ScanConfig(path, trials, sampler, population, seed, space, fixed, references, float(tolerance),
                        None if floor is None else float(floor), trials_only)
    _check_against_spec(config, spec)
    return config


def _count(raw: dict, path: Path, key: str, default: int) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "seed" else 1):
        raise TriggerError(f"{path}: '{key}' must be a {'non-negative' if key == 'seed' else 'positive'} integer, got {value!r}")
    return value


def _mapping(raw: dict, path: Path, key: str) -> dict:
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise TriggerError(f"{path}: '{key}' must be a mapping, got {type(value).__name__}")
    return value


def _knob(path: Path, key: str, raw) -> Knob:
    where = f"{path}: 'space.{key}'"
    if not isinstance(raw, dict) or not raw:
        raise TriggerError(f"{where} must be a mapping with 'choices', or 'low' and 'high' (optional 'step', 'log')")
    if unknown := sorted(set(raw) - {"choices", "low", "high", "step", "log"}):
        raise TriggerError(f"{where}: unknown key '{unknown[0]}' (allowed: choices, low, high, step, log)")
    if "choices" in raw:
        if set(raw) != {"choices"} or not isinstance(raw["choices"], list) or not raw["choices"]:
            raise TriggerError(f"{where}: 'choices' must be a non-empty list, alone")
        return Knob(key, choices=raw["choices"])
    low, high, step, log = raw.get("low"), raw.get("high"), raw.get("step"), raw.get("log", False)
    numbers = [v for v in (low, high, step) if v is not None]
    if low is None or high is None or any(not isinstance(v, (int, float)) or isinstance(v, bool) for v in numbers):
        raise TriggerError(f"{where}: 'low' and 'high' must be numbers (or give 'choices')")
    if not low < high or (step is not None and step <= 0) or (log and (low <= 0 or step is not None)):
        raise TriggerError(f"{where}: needs low < high, a positive step, and log only with low > 0 and no step")
    return Knob(key, low=low, high=high, step=step, log=bool(log))


def apply(raw: dict, overrides: dict[str, Any]) -> dict:
    """A copy of a spec's YAML mapping with dotted keys set (sub-mappings made where missing).

    Overrides that set model.engine (a knob: one front holds designs of both engines) drop the settings only the
    other engine reads, from the spec and from the other knobs alike (`ignored` names those knobs): a spec of one
    engine that sets the other's keys is an error, so each trial keeps what applies to its engine."""
    out = copy.deepcopy(raw)
    for key, value in overrides.items():
        node, parts = out, key.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[parts[-1]] = copy.deepcopy(value)
    if "model.engine" in overrides:
        for key in other_engines_keys(overrides["model.engine"]):
            *parents, last = key.split(".")
            node = out
            for part in parents:
                node = node.get(part) if isinstance(node, dict) else None
            if isinstance(node, dict):
                node.pop(last, None)
    return out


def ignored(overrides: dict[str, Any]) -> list[str]:
    """The override keys `apply` drops: those of the engine the overrides do not choose."""
    if "model.engine" not in overrides:
        return []
    dropped = other_engines_keys(overrides["model.engine"])
    return [k for k in overrides if any(k == d or k.startswith(f"{d}.") for d in dropped)]


def rebase_files(raw: dict, source_dir: Path, target_dir: Path) -> dict:
    """The spec moved from source_dir to target_dir: its relative data.files patterns still name the same files."""
    files = (raw.get("data") or {}).get("files")
    if not files:
        return raw
    out = copy.deepcopy(raw)
    out["data"]["files"] = [p if os.path.isabs(p) else os.path.relpath(Path(source_dir).resolve() / p,
                                                                        Path(target_dir).resolve()) for p in files]
    return out


def _check_against_spec(config: ScanConfig, spec: Spec) -> None:
    """Every knob value, fixed override and reference makes a valid spec (so no trial fails on a typo)."""
    base = read_yaml(spec.path)
    engines = next(([{"model.engine": e} for e in k.values()] for k in config.space if k.key == "model.engine"), [{}])
    for knob in config.space:
        for value in knob.values():  # with an engine knob: valid with one engine at least
            tried = [apply(base, config.trial_overrides | {knob.key: value} | engine) for engine in engines]
            _valid(tried, config.path, f"space.{knob.key}", value)
    _valid(apply(base, config.fixed), config.path, "fixed", config.fixed)
    _valid(apply(base, config.trial_overrides), config.path, "trials_only", config.trials_only)
    for name, overrides in config.references.items():
        _valid(apply(base, config.trial_overrides | overrides), config.path, f"references.{name}", overrides)


def _valid(raw: dict | list[dict], path: Path, where: str, value) -> None:
    """`raw` makes a valid spec (of a list: one of them does)."""
    first = None
    for candidate in raw if isinstance(raw, list) else [raw]:
        try:
            spec_from_dict(candidate, source="spec")
            return
        except TriggerError as exc:
            first = first or exc
    raise TriggerError(f"{path}: '{where}' = {value!r} does not make a valid spec ({first}); fix scan.yml") from None
