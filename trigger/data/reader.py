"""The generic reader: a spec's branch mapping -> flat float64 columns, from any TTree.

What a user's ROOT file can look like, and what the mapping says:
- flat branches:            `met: MET_pt`, or expressions: `pt: "hypot(px, py)"`;
- NanoAOD-style collections (`Jet_pt[nJet]`) and tutorial-style ones (`Jet_Px`, `Jet_Py`
  with a count branch `NJet`): `jet: {fields: {pt: Jet_pt, eta: Jet_eta}, count: 6,
  sort_by: pt}`. Objects are sorted by `sort_by` (largest first), then padded with `pad`
  or truncated to `count` slots, giving inputs jet0_pt, jet0_eta, jet1_pt, ...
  `counter:` names a count branch when the arrays are fixed-size with fewer valid entries.
Every error names the file, the tree and the branch (or spec key) and says what to do.
"""

import ast
from pathlib import Path

import awkward as ak
import numpy as np

from trigger.errors import TriggerError
from trigger.rootio import open_root
from trigger.spec import CollectionSpec, feature_names  # noqa: F401 (feature_names: the spec's naming rule, re-exported)

FUNCTIONS = {
    name: getattr(np, name)
    for name in (
        "sqrt", "log", "log10", "exp", "abs", "hypot", "arctan2", "sin", "cos", "tan",
        "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "minimum", "maximum",
    )
}  # fmt: skip
BINARY = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply,
    ast.Div: np.divide, ast.Pow: np.power,
}  # fmt: skip

Mapping = dict[str, "str | CollectionSpec"]


def read_columns(files: list[Path], tree: str, mapping: Mapping, what: str = "data.features") -> dict[str, np.ndarray]:
    """Evaluate `mapping` on `tree` of every file; concatenated, NaN/Inf-free float64 columns."""
    if not files:
        raise TriggerError(f"no ROOT files given for {what}; set data.files in the spec")
    plans = {name: _plan(name, feature, what) for name, feature in mapping.items()}
    parts = [_read_file(Path(path), tree, plans, what) for path in files]
    out = {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
    for name, values in out.items():
        bad = ~np.isfinite(values)
        if bad.any():
            raise TriggerError(
                f"{what}.{name}: {int(bad.sum())} NaN/Inf values (first at entry {int(np.argmax(bad))}); "
                f"clean the input or drop those events before training"
            )
    return out


class _Plan:
    """One mapping entry, parsed: the expressions to evaluate and the branches they need."""

    def __init__(self, name: str, key: str, exprs: dict[str, ast.expr], branches: set[str], collection: CollectionSpec | None):
        self.name, self.key, self.exprs, self.branches, self.collection = name, key, exprs, branches, collection


def _plan(name: str, feature, what: str) -> _Plan:
    key = f"{what}.{name}"
    if isinstance(feature, CollectionSpec):
        exprs, branches = {}, set()
        for field, expr in feature.fields.items():
            exprs[field], used = _parse(expr, f"{key}.fields.{field}")
            branches |= used
        if feature.counter:
            branches.add(feature.counter)
        return _Plan(name, key, exprs, branches, feature)
    node, branches = _parse(feature, key)
    return _Plan(name, key, {name: node}, branches, None)


def _read_file(path: Path, tree: str, plans: dict[str, _Plan], what: str) -> dict[str, np.ndarray]:
    with open_root(path) as f:
        if tree not in f:
            trees = [k.split(";")[0] for k, c in f.classnames().items() if c == "TTree"]
            raise TriggerError(f"{path}: no tree '{tree}' (trees here: {', '.join(trees) or 'none'}); fix data.tree")
        t = f[tree]
        if t.num_entries == 0:
            raise TriggerError(f"{path}: tree '{tree}' has no entries; regenerate the file or drop it from data.files")
        needed = sorted({b for plan in plans.values() for b in plan.branches})
        for branch in needed:
            if branch not in t:
                user = next(p.key for p in plans.values() if branch in p.branches)
                raise TriggerError(
                    f"{path}: tree '{tree}' has no branch '{branch}' (needed by {user}); fix the branch mapping in the spec"
                )
        try:
            arrays = t.arrays(needed, library="ak", how=dict)
        except Exception as exc:  # uproot raises many types for damaged baskets or unreadable types
            raise TriggerError(f"{path}: cannot read tree '{tree}' ({type(exc).__name__}: {exc}); the file is damaged or a branch type is unsupported") from None
        for branch, values in arrays.items():
            _check_numeric(values, path, tree, branch)
        columns: dict[str, np.ndarray] = {}
        for plan in plans.values():
            columns.update(_evaluate_plan(plan, arrays, path, tree))
        return columns


def _check_numeric(values, path: Path, tree: str, branch: str) -> None:
    """Numbers (int, uint, float, bool), flat or in one level of lists."""
    tp = content = ak.type(values).content
    depth = 0
    while hasattr(tp, "content") and not isinstance(tp, ak.types.NumpyType):
        if isinstance(tp, (ak.types.ListType, ak.types.RegularType)):
            depth += 1
        tp = tp.content
    kind = "".join(c for c in tp.primitive if c.isalpha()) if isinstance(tp, ak.types.NumpyType) else None
    if kind not in ("int", "uint", "float", "bool") or depth > 1:
        raise TriggerError(
            f"{path}: tree '{tree}' branch '{branch}' has type {content} (wrong type); "
            f"map numeric branches only: flat numbers or one level of per-object numbers"
        )


def _evaluate_plan(plan: _Plan, arrays, path: Path, tree: str) -> dict[str, np.ndarray]:
    values = {}
    for field, node in plan.exprs.items():
        with np.errstate(all="ignore"):
            values[field] = _evaluate(node, arrays)
    if plan.collection is None:
        value = values[plan.name]
        if _is_jagged(value):
            jagged = ", ".join(sorted(b for b in plan.branches if _is_jagged(arrays[b])))
            raise TriggerError(
                f"{path}: tree '{tree}' branch '{jagged}' is jagged (one value per object) but {plan.key} "
                f"expects one value per event; map it in a collection with count/sort_by"
            )
        return {plan.name: np.asarray(ak.to_numpy(value) if isinstance(value, ak.Array) else value, dtype=np.float64)}
    return _slots(plan, values, arrays, path, tree)


def _slots(plan: _Plan, values: dict, arrays, path: Path, tree: str) -> dict[str, np.ndarray]:
    spec = plan.collection
    for field, value in values.items():
        if not _is_jagged(value):
            raise TriggerError(
                f"{path}: tree '{tree}': {plan.key}.fields.{field} is one value per event, not per object; "
                f"use a jagged branch (e.g. Jet_pt[nJet]) or map it as a plain feature"
            )
    values = {f: ak.from_regular(v, axis=1) for f, v in values.items()}  # fixed-size arrays -> per-event lists
    if spec.counter:
        counter = ak.values_astype(arrays[spec.counter], np.int64)
        values = {f: v[ak.local_index(v, axis=1) < counter[:, np.newaxis]] for f, v in values.items()}
    if spec.sort_by:
        order = ak.argsort(values[spec.sort_by], axis=1, ascending=False, stable=True)
        values = {f: v[order] for f, v in values.items()}
    padded = {f: ak.to_numpy(ak.fill_none(ak.pad_none(v, spec.count, axis=1, clip=True), spec.pad)).astype(np.float64)
              for f, v in values.items()}
    return {f"{plan.name}{i}_{field}": padded[field][:, i] for i in range(spec.count) for field in spec.fields}


def _is_jagged(value) -> bool:
    return isinstance(value, ak.Array) and value.ndim > 1


def _parse(expr: str, key: str):
    try:
        node = ast.parse(str(expr), mode="eval").body
    except SyntaxError:
        raise TriggerError(f"{key}: cannot parse expression {expr!r}") from None
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if not isinstance(sub.func, ast.Name) or sub.func.id not in FUNCTIONS:
                raise TriggerError(f"{key}: unknown function in {expr!r}; allowed: {', '.join(FUNCTIONS)}")
        elif isinstance(sub, ast.Name) and sub.id not in FUNCTIONS:
            names.add(sub.id)
        elif not isinstance(sub, (ast.BinOp, ast.UnaryOp, ast.Constant, ast.Name, ast.Load, ast.USub, ast.UAdd, *BINARY)):
            raise TriggerError(f"{key}: unsupported syntax {type(sub).__name__} in {expr!r}")
    return node, names


def _evaluate(node, arrays):
    if isinstance(node, ast.Name):
        return arrays[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        value = _evaluate(node.operand, arrays)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return BINARY[type(node.op)](_evaluate(node.left, arrays), _evaluate(node.right, arrays))
    return FUNCTIONS[node.func.id](*(_evaluate(a, arrays) for a in node.args))
