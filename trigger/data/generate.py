"""Run a built-in generator in parallel chunks, cached under a key of its settings.

Each chunk (one class, one seed) is written as its own ROOT file, atomically; the reader
merges them. A killed run therefore leaves only complete chunks, and rerunning resumes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from importlib import metadata
from multiprocessing import get_context
from pathlib import Path

from trigger.atomic import write_text
from trigger.errors import TriggerError
from trigger.spec import JetGenerator

TREE = "events"
PHYSICS_VERSION = 1  # bump when generator code changes what it writes
VERSIONED_PACKAGES = ("pythia8mc", "fastjet", "numpy")


def data_root() -> Path:
    return Path(os.environ.get("TRIGGER_DATA", "data"))


def cache_key(cfg: JetGenerator, seed: int) -> str:
    settings = dataclasses.asdict(cfg)
    settings.pop("workers")  # how fast, not what
    blob = {
        "settings": settings,
        "seed": seed,
        "physics_version": PHYSICS_VERSION,
        "versions": {p: metadata.version(p) for p in VERSIONED_PACKAGES},
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:12]


def chunk_plan(cfg: JetGenerator, seed: int) -> list[tuple[str, int, int, int]]:
    """(class, chunk index, Pythia seed, jets) for every chunk; seeds are a pure function of the inputs."""
    plan = []
    for c, cls in enumerate(cfg.classes):
        n_chunks = -(-cfg.jets_per_class // cfg.chunk_jets)
        for i in range(n_chunks):
            jets = min(cfg.chunk_jets, cfg.jets_per_class - i * cfg.chunk_jets)
            digest = hashlib.sha256(f"{seed}/{cls}/{i}".encode()).digest()
            plan.append((cls, i, int.from_bytes(digest[:4], "little") % 900_000_000 + 1, jets))
    return plan


def generate(cfg: JetGenerator, seed: int, root: Path | None = None, progress: bool = True) -> list[Path]:
    """Make sure every chunk of this dataset exists; return the chunk files (classes in order)."""
    from tqdm import tqdm

    directory = (root or data_root()) / f"{cfg.name}-{cache_key(cfg, seed)}"
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob(".*.tmp"):
        stale.unlink()
    plan = chunk_plan(cfg, seed)
    files = [directory / f"{cls}-{i:04d}.root" for cls, i, _, _ in plan]
    todo = [(p, f) for p, f in zip(plan, files) if not f.exists()]
    write_text(directory / "settings.json", json.dumps({"seed": seed, **dataclasses.asdict(cfg)}, indent=1))
    if not todo:
        return files

    workers = cfg.workers or os.cpu_count() or 1
    done_jets = sum(p[3] for p, f in zip(plan, files) if f.exists())
    bar = tqdm(total=sum(p[3] for p in plan), initial=done_jets, unit="jet", desc=f"{cfg.name} → {directory}", disable=not progress)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"), initializer=_quiet_worker)
    try:
        pending = {pool.submit(_make_chunk, cfg, cls, chunk_seed, jets, str(f)): jets for (cls, _, chunk_seed, jets), f in todo}
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for fut in finished:
                fut.result()
                bar.update(pending.pop(fut))
    except KeyboardInterrupt:
        pool.shutdown(wait=False, cancel_futures=True)
        complete = sum(f.exists() for f in files)
        raise TriggerError(f"interrupted: {complete}/{len(files)} chunks complete in {directory}; rerun to resume") from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return files


def _quiet_worker() -> None:
    from trigger.data.jets import silence_native_stdout

    silence_native_stdout()


def _make_chunk(cfg: JetGenerator, cls: str, seed: int, jets: int, path: str) -> None:
    import numpy as np

    from trigger.data.jets import generate_jets, pythia_settings
    from trigger.data.rootio import write_tree

    columns = generate_jets(cfg, cls, seed, jets)
    columns = {k: v.astype(np.float32) for k, v in columns.items()}
    columns["label"] = np.full(jets, cfg.classes.index(cls), dtype=np.int32)
    meta = {"class": cls, "seed": seed, "classes": cfg.classes, "pythia": pythia_settings(cfg, cls, seed)}
    write_tree(Path(path), TREE, columns, meta)
