"""The expression language of a spec's data keys (features, labels, targets, weights, selection).

An expression is a Python-syntax formula over branch names, parsed with `ast` and evaluated
on numpy/awkward arrays; nothing else of Python is reachable. What it allows:
- arithmetic: `+ - * / **`, unary `-`;
- comparisons: `< <= > >= == !=` (chains such as `0 < x < 5` too), giving 1 (true) or 0;
- logic: `&`, `|`, `~` and `and`, `or`, `not`. Operands are read as booleans (non-zero =
  true). `&` and `|` bind tighter than comparisons in Python, so `a > 1 & b > 2` would mean
  `a > (1 & b) > 2`; that form is an error: write `(a > 1) & (b > 2)` or `a > 1 and b > 2`;
- functions: those of FUNCTIONS (numpy's, element-wise), `where(condition, a, b)`, and the
  per-event reductions over a collection's objects `count(...)`, `any(...)`, `all(...)`, `sum(...)`.
"""

import ast
import operator

import awkward as ak
import numpy as np

from trigger.errors import TriggerError

FUNCTIONS = {
    name: getattr(np, name)
    for name in (
        "sqrt", "log", "log10", "exp", "abs", "hypot", "arctan2", "sin", "cos", "tan",
        "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "minimum", "maximum", "isfinite",
    )
}  # fmt: skip
REDUCTIONS = {  # over the objects of each event (axis 1): a jagged value -> one value per event
    "count": lambda v: ak.sum(_truth(v), axis=1), "any": lambda v: ak.any(_truth(v), axis=1),
    "all": lambda v: ak.all(_truth(v), axis=1), "sum": lambda v: ak.sum(v, axis=1),
}
ALL_FUNCTIONS = [*FUNCTIONS, "where", *REDUCTIONS]
BINARY = {
    ast.Add: np.add, ast.Sub: np.subtract, ast.Mult: np.multiply, ast.Div: np.divide, ast.Pow: np.power,
    ast.BitAnd: lambda a, b: np.logical_and(_truth(a), _truth(b)),
    ast.BitOr: lambda a, b: np.logical_or(_truth(a), _truth(b)),
}  # fmt: skip
COMPARE = {ast.Lt: operator.lt, ast.LtE: operator.le, ast.Gt: operator.gt, ast.GtE: operator.ge,
           ast.Eq: operator.eq, ast.NotEq: operator.ne}
ALLOWED = (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.Call, ast.Constant, ast.Name, ast.Load, ast.USub,
           ast.UAdd, ast.Invert, ast.Not, ast.And, ast.Or, *BINARY, *COMPARE)


def parse(expr: str, key: str) -> tuple[ast.expr, set[str]]:
    """(the parsed expression, the branch names it reads); errors name the spec `key`."""
    try:
        node = ast.parse(str(expr).strip(), mode="eval").body
    except SyntaxError:
        raise TriggerError(f"{key}: cannot parse expression {expr!r}; see README 'Your own ROOT files' for the syntax") from None
    names: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            if not isinstance(sub.func, ast.Name) or sub.func.id not in ALL_FUNCTIONS:
                raise TriggerError(f"{key}: unknown function in {expr!r}; allowed: {', '.join(ALL_FUNCTIONS)}")
            wanted = 3 if sub.func.id == "where" else 1 if sub.func.id in REDUCTIONS else None
            if wanted is not None and (len(sub.args) != wanted or sub.keywords):
                raise TriggerError(f"{key}: {sub.func.id}() takes {wanted} argument(s) in {expr!r}")
        elif isinstance(sub, ast.Name) and sub.id not in ALL_FUNCTIONS:
            names.add(sub.id)
        elif isinstance(sub, ast.Compare) and any(_bitwise(n) for n in (sub.left, *sub.comparators)):
            raise TriggerError(f"{key}: {expr!r} mixes & or | with a comparison without parentheses (Python reads "
                               f"`a > 1 & b > 2` as `a > (1 & b) > 2`); write `(a > 1) & (b > 2)` or use and/or")
        elif not isinstance(sub, ALLOWED):
            raise TriggerError(f"{key}: unsupported syntax {type(sub).__name__} in {expr!r}; use operators, comparisons, "
                               f"and/or/not, where(c, a, b) and the listed functions")
    return node, names


def evaluate(node: ast.expr, arrays: dict):
    """The value of a parsed expression on `arrays` (branch name -> numpy or awkward array)."""
    if isinstance(node, ast.Name):
        return arrays[node.id]
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.UnaryOp):
        value = evaluate(node.operand, arrays)
        if isinstance(node.op, (ast.Invert, ast.Not)):
            return np.logical_not(_truth(value))
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        return BINARY[type(node.op)](evaluate(node.left, arrays), evaluate(node.right, arrays))
    if isinstance(node, ast.BoolOp):
        combine = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
        result = _truth(evaluate(node.values[0], arrays))
        for value in node.values[1:]:
            result = combine(result, _truth(evaluate(value, arrays)))
        return result
    if isinstance(node, ast.Compare):
        left, result = evaluate(node.left, arrays), None
        for op, right_node in zip(node.ops, node.comparators):
            right = evaluate(right_node, arrays)
            step = COMPARE[type(op)](left, right)
            result = step if result is None else np.logical_and(result, step)
            left = right
        return result
    name, args = node.func.id, [evaluate(a, arrays) for a in node.args]
    if name == "where":
        condition = _truth(args[0])
        jagged = any(isinstance(a, ak.Array) for a in args)
        return ak.where(condition, args[1], args[2]) if jagged else np.where(condition, args[1], args[2])
    if name in REDUCTIONS:
        if not (isinstance(args[0], ak.Array) and args[0].ndim > 1):
            raise TriggerError(f"{name}(...) needs a per-object (jagged) value such as Jet_pt > 30")
        return REDUCTIONS[name](args[0])
    return FUNCTIONS[name](*args)


def _truth(value):
    """Non-zero is true (branches of flags are often integers)."""
    return value != 0 if not _is_bool(value) else value


def _is_bool(value) -> bool:
    if isinstance(value, ak.Array):
        return "bool" in str(ak.type(value))
    return np.asarray(value).dtype == bool


def _bitwise(node: ast.expr) -> bool:
    return isinstance(node, ast.BinOp) and isinstance(node.op, (ast.BitAnd, ast.BitOr))
