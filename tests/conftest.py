"""Shared fixtures: a tiny synthetic 'user ROOT file' project, trained once per session."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.parent.name for p in (REPO / "models").glob("*/spec.yml"))  # every committed model

TINY_BUDGET = {
    "latency_ns": 200, "latency_cycles": 40, "ii_cycles": 1, "dsp": 0, "lut": 100000, "ff": 100000, "bram": 0,
    "max_metric_drop": {"accuracy": 0.5, "auc": 0.5},
}  # fmt: skip


def tiny_spec(**overrides) -> dict:
    spec = {
        "name": "tiny",
        "task": "classification",
        "seed": 7,
        "data": {
            "files": ["../../events.root"],
            "tree": "t",
            "features": {f"f{i}": f"f{i}" for i in range(6)} | {"ratio": "f0 * 2 + hypot(f1, f2)"},
            "label": {"branch": "cls", "classes": ["a", "b", "c"]},
        },
        "model": {"hidden": [8, 8]},
        "train": {"epochs": 4, "float_epochs": 4, "pruning_start_epoch": 1, "pruning_end_epoch": 3, "batch_size": 128},
        "firmware": {"backends": ["Vitis"]},
        "verify": {"events": 400},
    }
    for key, value in overrides.items():
        spec[key] = value
    return spec


def write_tiny_data(path: Path, n: int = 2400, seed: int = 0) -> None:
    from trigger.rootio import write_tree

    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    cols = {f"f{i}": ((rng.normal(0, 1, n) + 1.5 * (y == i % 3)) * 10.0 ** (i % 3 - 1)).astype(np.float32) for i in range(6)}
    cols["cls"] = y.astype(np.int32)
    write_tree(path, "t", cols)


def make_project(root: Path, spec: dict | None = None) -> Path:
    """A self-contained project tree: events.root, models/tiny/{spec,budget}.yml."""
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "events.root").exists():
        write_tiny_data(root / "events.root")
    model = root / "models" / "tiny"
    model.mkdir(parents=True, exist_ok=True)
    (model / "spec.yml").write_text(yaml.safe_dump(spec or tiny_spec(), sort_keys=False))
    (model / "budget.yml").write_text(yaml.safe_dump(TINY_BUDGET))
    return model


@pytest.fixture(autouse=True)
def isolated_outputs(tmp_path, monkeypatch):
    """No test writes into the repository's data/ or hls_projects/."""
    monkeypatch.setenv("TRIGGER_HLS_PROJECTS", str(tmp_path / "hls_projects"))
    monkeypatch.setenv("TRIGGER_DATA", str(tmp_path / "data"))


@pytest.fixture(scope="session")
def trained_tiny(tmp_path_factory) -> Path:
    """A tiny model trained once; tests copy it before changing anything."""
    from trigger.spec import load_spec
    from trigger.train import train

    root = tmp_path_factory.mktemp("trained_tiny")
    model = make_project(root)
    train(load_spec(model / "spec.yml"), progress=False)
    return root


@pytest.fixture(scope="session")
def trained_tiny_other(tmp_path_factory) -> Path:
    """Another tiny model under the same name (so the same top function, layer and weight names), with other
    weights: what must not get mixed up with the first when both are loaded into one process."""
    from trigger.spec import load_spec
    from trigger.train import train

    root = tmp_path_factory.mktemp("trained_tiny_other")
    model = make_project(root, tiny_spec(seed=8, model={"hidden": [6]}))
    train(load_spec(model / "spec.yml"), progress=False)
    return root


@pytest.fixture
def tiny_project(trained_tiny, tmp_path, monkeypatch) -> Path:
    """A private copy of the trained tiny project, as the working directory."""
    root = tmp_path / "project"
    shutil.copytree(trained_tiny, root)
    monkeypatch.chdir(root)
    monkeypatch.setenv("TRIGGER_HLS_PROJECTS", str(root / "hls_projects"))
    return root


def tree_listing(*roots: Path) -> dict[str, bytes]:
    """Every file under the roots with its content: to prove nothing was (half-)written."""
    out = {}
    for root in roots:
        if root.exists():
            for p in sorted(root.rglob("*")):
                if p.is_file():
                    out[str(p)] = p.read_bytes()
    return out


def run_with_firmware_headers(project: Path, source: str, stdin: str, workdir: Path) -> str:
    """Compile a small C++ program against an HLS project's headers, feed it stdin, return its stdout."""
    import subprocess

    program, binary = workdir / "program.cpp", workdir / "program"
    program.write_text(source)
    subprocess.run(["g++", "-std=c++14", "-O1", f"-I{project / 'firmware'}", f"-I{project / 'firmware/ap_types'}",
                    str(program), "-o", str(binary)], check=True)
    return subprocess.run([str(binary)], input=stdin, capture_output=True, text=True, check=True).stdout


CMS_HEADER = REPO / "tests" / "cms"  # the consumer's own copy of the CMS interface (not the bundle's)


def cms_consumer(bundles: list[Path], build: Path) -> Path:
    """The bundles' cms_consumer.cpp compiled as a CMSSW module would be: against tests/cms (its own copy of
    hls4ml/emulator.h, with the loader out of line as upstream has it), never the bundle's header."""
    from trigger.bundle import consumer

    return consumer(bundles, build, CMS_HEADER, (CMS_HEADER / "hls4ml" / "emulator.cc",))


def run_cms_consumer(binary: Path, *runs: tuple[Path, str, Path, Path]):
    from trigger.bundle import run_consumer

    return run_consumer(binary, list(runs))


def run_cli(*args: str) -> int:
    from trigger.cli import main

    return main(list(args))


def run_cli_in(root: Path, *args: str) -> None:
    """A CLI verb that must succeed, run in `root` with its projects under root/hls_projects."""
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    mp.setenv("TRIGGER_HLS_PROJECTS", str(root / "hls_projects"))
    try:
        assert run_cli(*args) == 0
    finally:
        mp.undo()


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

def pytest_xdist_make_scheduler(config, log):
    """`make test` runs on every core (`-n auto --dist loadscope`): a module's tests share one worker, so a module
    fixture is built once; test_shipped_model is split by shipped model, each synthesised once on its worker."""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class ByModuleAndShippedModel(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module, _, test = nodeid.partition("::")
            if module.endswith("test_shipped_model.py") and "[" in test:
                return module + test[test.index("["):]
            return module

    return ByModuleAndShippedModel(config, log)

