"""The package's shape: every import in trigger/ (function-local ones included) points downward in
the README's module map, packages are contiguous layers of it, and a package is entered only
through the public names its __init__ declares. No exceptions are listed here."""

import ast
import importlib
import re
from pathlib import Path

from conftest import REPO

PACKAGE = REPO / "trigger"
MAP_ROW = re.compile(r"^\|\s*`(trigger/[\w/]+\.py)`\s*\|", re.M)


def module_map() -> list[str]:
    """Dotted module names in the README module map's order (bottom layer first)."""
    text = (REPO / "README.md").read_text()
    return [path[:-3].replace("/", ".").removesuffix(".__init__") for path in MAP_ROW.findall(text)]


def modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def package_of(module: str) -> str:
    """The top-level unit a module belongs to: trigger.tasks.anomaly -> trigger.tasks; trigger.spec -> trigger.spec."""
    return ".".join(module.split(".")[:2])


def imports(path: Path, known: set[str]) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of trigger's own modules, anywhere in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "trigger"]
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "trigger":
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                out.append((sub, None, node.lineno) if sub in known else (node.module, alias.name, node.lineno))
    return out


def test_every_module_is_in_the_readme_map_once():
    order = module_map()
    assert len(order) == len(set(order)), "a module is listed twice in the README module map"
    assert sorted(order) == sorted(modules()), "README module map and trigger/ differ"


def test_packages_are_contiguous_layers():
    order = [package_of(m) for m in module_map() if m != "trigger"]
    runs = [unit for i, unit in enumerate(order) if i == 0 or order[i - 1] != unit]
    assert len(runs) == len(set(runs)), f"a package is split in the module map: {runs}"


def test_imports_point_only_downward():
    order = {name: i for i, name in enumerate(module_map())}
    known = set(modules())
    upward = []
    for name, path in modules().items():
        for target, _, line in imports(path, known):
            if target != name and order[target] >= order[name]:
                upward.append(f"{path.relative_to(REPO)}:{line} imports {target}")
    assert not upward, "imports that point up (or in a circle):\n" + "\n".join(upward)


def test_packages_are_entered_through_their_public_names():
    known = set(modules())
    packages = {m for m, p in modules().items() if p.name == "__init__.py" and m != "trigger"}
    for package in packages:
        assert isinstance(importlib.import_module(package).__all__, list), f"{package} declares no __all__"
    leaks = []
    for name, path in modules().items():
        for target, imported, line in imports(path, known):
            unit = package_of(target)
            if unit not in packages or unit == package_of(name):
                continue
            public = importlib.import_module(unit).__all__
            if imported is not None:  # from trigger.P import name: a declared name, not one of a submodule
                ok = target == unit and imported in public
            else:  # a submodule itself: declared as public
                ok = target == unit or target.removeprefix(unit + ".") in public
            if not ok:
                leaks.append(f"{path.relative_to(REPO)}:{line} imports {target}{'.' + imported if imported else ''}")
    assert not leaks, "imports past a package's public names:\n" + "\n".join(leaks)


def test_one_place_converts_a_model():
    """hls4ml's converter and config builder are called in FirmwareProject only: one firmware path."""
    for call in ("convert_from_keras_model", "config_from_keras_model"):
        users = sorted(str(p.relative_to(REPO)) for p in PACKAGE.rglob("*.py") if call in p.read_text())
        assert users == ["trigger/firmware/project.py"], (call, users)
