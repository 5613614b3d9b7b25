"""Generic ROOT I/O: write flat TTrees atomically, read columns through a branch mapping.

The reader is what makes a user's own ROOT file work like ours: the spec maps each model
input to a branch name or a simple expression of branches (e.g. `hypot(px, py)`).
"""

from __future__ import annotations

import ast
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from trigger.errors import TriggerError

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


def write_tree(path: Path, tree: str, columns: dict[str, np.ndarray], metadata: dict | None = None) -> None:
    """Write one flat TTree (readable by every ROOT version); the file appears only when complete."""
    import uproot

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with uproot.recreate(tmp) as out:
            out.mktree(tree, {k: v.dtype for k, v in columns.items()})
            out[tree].extend(columns)
            if metadata is not None:
                out["metadata"] = json.dumps(metadata, sort_keys=True)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def read_metadata(path: Path) -> dict:
    import uproot

    with _open(path) as f:
        return json.loads(str(f["metadata"])) if "metadata" in f else {}


def read_columns(files: list[Path], tree: str, mapping: dict[str, str], what: str = "data.features") -> dict[str, np.ndarray]:
    """Evaluate `mapping` (name -> branch or expression) on `tree` of every file, concatenated.

    Raises TriggerError naming the file, tree, branch or expression on any problem, and
    on NaN/Inf in the result (those cannot be represented in fixed point).
    """
    if not files:
        raise TriggerError(f"no ROOT files given for {what}; set data.files in the spec")
    parsed = {name: _parse(expr, f"{what}.{name}") for name, expr in mapping.items()}
    needed = sorted({b for _, names in parsed.values() for b in names})
    parts: list[dict[str, np.ndarray]] = []
    for path in files:
        with _open(path) as f:
            if tree not in f:
                trees = [k.split(";")[0] for k, c in f.classnames().items() if c == "TTree"]
                raise TriggerError(f"{path}: no tree '{tree}' (trees here: {', '.join(trees) or 'none'}); fix data.tree")
            t = f[tree]
            for branch in needed:
                if branch not in t:
                    user = next(n for n, (_, names) in parsed.items() if branch in names)
                    raise TriggerError(
                        f"{path}: tree '{tree}' has no branch '{branch}' (needed by {what}.{user}); "
                        f"fix the branch mapping in the spec"
                    )
            try:
                arrays = t.arrays(needed, library="np")
            except Exception as exc:  # uproot raises many types for damaged baskets
                raise TriggerError(f"{path}: cannot read tree '{tree}' ({type(exc).__name__}); the file is damaged, regenerate it") from None
            columns = {}
            for name, (node, _) in parsed.items():
                with np.errstate(all="ignore"):
                    columns[name] = np.asarray(_evaluate(node, arrays), dtype=np.float64)
            parts.append(columns)
    out = {name: np.concatenate([p[name] for p in parts]) for name in mapping}
    for name, values in out.items():
        bad = ~np.isfinite(values)
        if bad.any():
            first = int(np.argmax(bad))
            raise TriggerError(
                f"{what}.{name}: {int(bad.sum())} NaN/Inf values (first at entry {first}); "
                f"clean the input or drop those events before training"
            )
    return out


def _open(path: Path):
    import uproot

    path = Path(path)
    if not path.is_file():
        raise TriggerError(f"{path}: ROOT file not found; run `make data` or fix data.files in the spec")
    try:
        return uproot.open(path)
    except Exception as exc:
        raise TriggerError(f"{path}: not a readable ROOT file ({type(exc).__name__}); regenerate or replace it") from None


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
