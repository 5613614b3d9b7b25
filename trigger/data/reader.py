"""The generic reader: a spec's branch mapping -> flat float64 columns, from any TTree.

What a user's ROOT file can look like, and what the mapping says:
- flat branches:            `met: MET_pt`, or expressions: `pt: "hypot(px, py)"`;
- NanoAOD-style collections (`Jet_pt[nJet]`) and tutorial-style ones (`Jet_Px`, `Jet_Py`
  with a count branch `NJet`): `jet: {fields: {pt: Jet_pt, eta: Jet_eta}, count: 6,
  sort_by: pt}`. Objects are sorted by `sort_by` (largest first), then padded with `pad`
  or truncated to `count` slots, giving inputs jet0_pt, jet0_eta, jet1_pt, ...
  `counter:` names a count branch when the arrays are fixed-size with fewer valid entries.
- `selection` (data.selection): an expression per event; only events where it is non-zero are
  read further, and every file's yield is kept (Part).
- `missing` (data.missing): sentinel values (-999, ...) that mean "no value": a flat feature gets
  0, an object with the sentinel in a declared field leaves its slot empty (padded).
Expressions: trigger/data/expressions.py.
Every error names the file, the tree and the branch (or spec key) and says what to do.
"""

from dataclasses import dataclass, field
from pathlib import Path

import awkward as ak
import numpy as np

from trigger.data import expressions
from trigger.errors import TriggerError
from trigger.rootio import open_root
from trigger.spec import CollectionSpec, feature_names  # noqa: F401 (feature_names: the spec's naming rule, re-exported)

Mapping = dict[str, "str | CollectionSpec"]


@dataclass
class Part:
    """What one file gave: its columns for the selected events, and how many entries it had and passed."""

    path: Path
    entries: int  # entries of the tree
    entry: np.ndarray  # tree entry number of each selected event
    columns: dict[str, np.ndarray]
    missing: dict[str, int] = field(default_factory=dict)  # sentinel values emptied, per data.missing key

    @property
    def selected(self) -> int:
        return len(self.entry)


def read_columns(files: list[Path], tree: str, mapping: Mapping, what: str = "data.features",
                 selection: str | None = None, missing: dict[str, float] | None = None) -> dict[str, np.ndarray]:
    """Evaluate `mapping` on `tree` of every file (events passing `selection`); concatenated NaN/Inf-free float64
    columns."""
    parts = read_parts(files, tree, mapping, what, selection, missing)
    return {name: np.concatenate([p.columns[name] for p in parts]) for name in parts[0].columns}


def read_parts(files: list[Path], tree: str, mapping: Mapping, what: str = "data.features",
               selection: str | None = None, missing: dict[str, float] | None = None) -> list[Part]:
    """Per file: the mapping on the events that pass `selection` (applied before anything else), with the values
    declared in `missing` ({feature or collection[.field]: sentinel}) emptied; a NaN/Inf is an error naming the
    file and the tree entry."""
    if not files:
        raise TriggerError(f"no ROOT files given for {what}; set data.files in the spec")
    plans = {name: _plan(name, feature, what, missing or {}) for name, feature in mapping.items()}
    cut = None
    if selection:
        node, branches = expressions.parse(selection, "data.selection")
        cut = _Plan("selection", "data.selection", {"selection": node}, branches, None, {})
    parts = [_read_file(Path(path), tree, plans, cut) for path in files]
    for part in parts:
        for name, values in part.columns.items():
            bad = ~np.isfinite(values)
            if bad.any():
                raise TriggerError(
                    f"{part.path}: {what}.{name}: {int(bad.sum())} NaN/Inf values (first at entry "
                    f"{int(part.entry[np.argmax(bad)])} of tree '{tree}'); clean the input or drop those events with "
                    f"data.selection (e.g. isfinite(...))"
                )
    return parts


class _Plan:
    """One mapping entry, parsed: the expressions to evaluate, the branches they need, and its sentinels."""

    def __init__(self, name: str, key: str, exprs: dict, branches: set[str], collection: CollectionSpec | None,
                 sentinels: dict[str, float]):
        self.name, self.key, self.exprs, self.branches, self.collection = name, key, exprs, branches, collection
        self.sentinels = sentinels  # field (collection) or name (flat) -> value that means "empty"


def _plan(name: str, feature, what: str, missing: dict[str, float]) -> _Plan:
    key = f"{what}.{name}"
    if isinstance(feature, CollectionSpec):
        exprs, branches = {}, set()
        for f, expr in feature.fields.items():
            exprs[f], used = expressions.parse(expr, f"{key}.fields.{f}")
            branches |= used
        if feature.counter:
            branches.add(feature.counter)
        sentinels = {f: missing[k] for f in feature.fields for k in (name, f"{name}.{f}") if k in missing}
        return _Plan(name, key, exprs, branches, feature, sentinels)
    node, branches = expressions.parse(feature, key)
    return _Plan(name, key, {name: node}, branches, None, {name: missing[name]} if name in missing else {})


def _read_file(path: Path, tree: str, plans: dict[str, _Plan], cut: _Plan | None) -> Part:
    with open_root(path) as f:
        if tree not in f:
            trees = [k.split(";")[0] for k, c in f.classnames().items() if c == "TTree"]
            raise TriggerError(f"{path}: no tree '{tree}' (trees here: {', '.join(trees) or 'none'}); fix data.tree")
        t = f[tree]
        if t.num_entries == 0:
            raise TriggerError(f"{path}: tree '{tree}' has no entries; regenerate the file or drop it from data.files")
        users = [*plans.values(), *([cut] if cut else [])]
        needed = sorted({b for plan in users for b in plan.branches})
        for branch in needed:
            if branch not in t:
                user = next(p.key for p in users if branch in p.branches)
                raise TriggerError(
                    f"{path}: tree '{tree}' has no branch '{branch}' (needed by {user}); fix the branch mapping in the spec"
                )
            _check_branch_type(t[branch], path, tree, next(p.key for p in users if branch in p.branches))
        try:
            arrays = t.arrays(needed, library="ak", how=dict)
        except Exception as exc:  # uproot raises many types for damaged baskets or unreadable types
            raise TriggerError(f"{path}: cannot read tree '{tree}' ({type(exc).__name__}: {exc}); the file is damaged or a branch type is unsupported") from None
        for branch, values in arrays.items():
            _check_numeric(values, path, tree, branch)
        entry = np.arange(t.num_entries)
        if cut is not None:
            passed = _event_values(cut, arrays, path, tree)["selection"] != 0
            arrays = {b: v[passed] for b, v in arrays.items()}
            entry = entry[passed]
        part = Part(path, int(t.num_entries), entry, {})
        for plan in plans.values():
            columns, emptied = _evaluate_plan(plan, arrays, path, tree)
            part.columns.update(columns)
            part.missing.update({k: v for k, v in emptied.items() if v})
        return part


def _check_branch_type(branch, path: Path, tree: str, user: str) -> None:
    """Text branches fail here, by their ROOT type, before any value is read (their bytes would pass as numbers)."""
    typename = str(getattr(branch, "typename", ""))
    if "string" in typename.lower() or "char*" in typename:
        raise TriggerError(f"{path}: tree '{tree}' branch '{branch.name}' holds text ({typename}), needed by {user}; "
                           f"map numeric branches only, or encode the text as integers (e.g. a process index)")


def _check_numeric(values, path: Path, tree: str, branch: str) -> None:
    """Numbers (int, uint, float, bool), flat or in one level of lists; never text."""
    tp = content = ak.type(values).content
    depth, text = 0, False
    while hasattr(tp, "content") and not isinstance(tp, ak.types.NumpyType):
        text |= tp.parameters.get("__array__") in ("string", "bytestring")
        if isinstance(tp, (ak.types.ListType, ak.types.RegularType)):
            depth += 1
        tp = tp.content
    kind = "".join(c for c in tp.primitive if c.isalpha()) if isinstance(tp, ak.types.NumpyType) else None
    if text or kind not in ("int", "uint", "float", "bool") or depth > 1:
        raise TriggerError(
            f"{path}: tree '{tree}' branch '{branch}' has type {content} (wrong type); "
            f"map numeric branches only: flat numbers or one level of per-object numbers"
        )


def _event_values(plan: _Plan, arrays, path: Path, tree: str) -> dict:
    values = {}
    for f, node in plan.exprs.items():
        try:
            with np.errstate(all="ignore"):
                values[f] = expressions.evaluate(node, arrays)
        except TriggerError as exc:
            raise TriggerError(f"{path}: tree '{tree}': {plan.key}: {exc}") from None
    if plan.collection is not None:
        return values
    value = values[plan.name]
    if _is_jagged(value):
        jagged = ", ".join(sorted(b for b in plan.branches if _is_jagged(arrays[b])))
        raise TriggerError(
            f"{path}: tree '{tree}' branch '{jagged}' is jagged (one value per object) but {plan.key} "
            f"expects one value per event; map it in a collection with count/sort_by"
            + (", or reduce it with count(...), any(...), all(...) or sum(...)" if plan.name == "selection" else "")
        )
    events = len(next(iter(arrays.values())))
    flat = ak.to_numpy(value) if isinstance(value, ak.Array) else np.asarray(value)
    return {plan.name: np.broadcast_to(np.asarray(flat, dtype=np.float64), (events,)).copy()}


def _evaluate_plan(plan: _Plan, arrays, path: Path, tree: str) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """(columns, how many sentinel values were emptied per data.missing key)."""
    values = _event_values(plan, arrays, path, tree)
    if plan.collection is None:
        column = values[plan.name]
        if plan.name not in plan.sentinels:
            return values, {}
        empty = column == plan.sentinels[plan.name]
        column[empty] = 0.0
        return {plan.name: column}, {plan.name: int(empty.sum())}
    return _slots(plan, values, arrays, path, tree)


def _slots(plan: _Plan, values: dict, arrays, path: Path, tree: str) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    spec = plan.collection
    for f, value in values.items():
        if not _is_jagged(value):
            raise TriggerError(
                f"{path}: tree '{tree}': {plan.key}.fields.{f} is one value per event, not per object; "
                f"use a jagged branch (e.g. Jet_pt[nJet]) or map it as a plain feature"
            )
    values = {f: ak.from_regular(v, axis=1) for f, v in values.items()}  # fixed-size arrays -> per-event lists
    if spec.counter:
        counter = ak.values_astype(arrays[spec.counter], np.int64)
        values = {f: v[ak.local_index(v, axis=1) < counter[:, np.newaxis]] for f, v in values.items()}
    emptied = 0
    if plan.sentinels:  # an object with a sentinel value in a declared field is no object: its slot stays empty
        keep = None
        for f, sentinel in plan.sentinels.items():
            ok = values[f] != sentinel
            keep = ok if keep is None else keep & ok
        emptied = int(ak.sum(~keep))
        values = {f: v[keep] for f, v in values.items()}
    if spec.sort_by:
        order = ak.argsort(values[spec.sort_by], axis=1, ascending=False, stable=True)
        values = {f: v[order] for f, v in values.items()}
    padded = {f: ak.to_numpy(ak.fill_none(ak.pad_none(v, spec.count, axis=1, clip=True), spec.pad)).astype(np.float64)
              for f, v in values.items()}
    columns = {f"{plan.name}{i}_{f}": padded[f][:, i] for i in range(spec.count) for f in spec.fields}
    return columns, {plan.name: emptied}


def _is_jagged(value) -> bool:
    return isinstance(value, ak.Array) and value.ndim > 1
