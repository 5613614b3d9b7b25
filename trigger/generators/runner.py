"""Run a built-in generator at scale: chunks (process x seed) on Dask, cached by settings.

- The plan is a pure function of (generator, settings, seed): one ROOT file per chunk,
  named `<process>-<index>.root`, with a Pythia seed derived from (seed, process, index).
- Chunks run on a dask.distributed LocalCluster (one single-threaded worker per core) or
  on an existing cluster (`scheduler="tcp://host:port"`; its workers must import
  `trigger` and see the output directory).
- Each chunk file is written atomically, so a killed run leaves only complete chunks and
  the next run generates exactly the missing ones. The reader merges the chunks.
- The cache directory is `<data root>/<generator>-<key>`, key = hash of the generator
  name, its settings, the seed, the physics version and the package versions.
"""

import dataclasses
import hashlib
import json
import os
import time
from collections import Counter
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import numpy as np

from trigger.atomic import write_text
from trigger.cluster import Interrupted, dask_client
from trigger.generators.card import write_card
from trigger.generators.pythia import Timing, weight_per_event
from trigger.rootio import write_tree

PHYSICS_VERSION = 2  # bump when generator code changes what it writes
VERSIONED_PACKAGES = ("pythia8mc", "fastjet", "numpy", "awkward")


@dataclass(frozen=True)
class Chunk:
    process: str
    process_index: int
    index: int
    seed: int
    events: int

    @property
    def filename(self) -> str:
        return f"{self.process}-{self.index:04d}.root"


def data_root() -> Path:
    return Path(os.environ.get("TRIGGER_DATA", "data"))


def cache_key(cfg, seed: int) -> str:
    settings = dataclasses.asdict(cfg)
    settings.pop("workers")  # how fast, not what
    blob = {
        "generator": cfg.name,
        "settings": settings,
        "seed": seed,
        "physics_version": PHYSICS_VERSION,
        "versions": {p: metadata.version(p) for p in VERSIONED_PACKAGES},
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:12]


def dataset_dir(cfg, seed: int, root: Path | None = None) -> Path:
    return (root or data_root()) / f"{cfg.name}-{cache_key(cfg, seed)}"


def chunk_plan(cfg, seed: int) -> list[Chunk]:
    plan = []
    for p, process in enumerate(cfg.process_names()):
        total = cfg.events_for(process)
        for i in range(-(-total // cfg.chunk_events)):
            digest = hashlib.sha256(f"{seed}/{process}/{i}".encode()).digest()
            chunk_seed = int.from_bytes(digest[:4], "little") % 900_000_000 + 1
            plan.append(Chunk(process, p, i, chunk_seed, min(cfg.chunk_events, total - i * cfg.chunk_events)))
    return plan


def generate(cfg, seed: int, root: Path | None = None, progress: bool = True, scheduler: str | None = None,
             card: bool = True) -> list[Path]:
    """Make sure every chunk exists (generating the missing ones); return the files in plan order."""
    directory = dataset_dir(cfg, seed, root)
    directory.mkdir(parents=True, exist_ok=True)
    plan = chunk_plan(cfg, seed)
    files = [directory / c.filename for c in plan]
    todo = [c for c, f in zip(plan, files) if not f.exists()]
    settings = json.dumps({"seed": seed, **dataclasses.asdict(cfg)}, indent=1) + "\n"
    # a complete dataset is only read: scan trials on several workers ask for it at once, and one's cleaning
    # must not remove another's half-written settings file
    if todo or not (directory / "settings.json").is_file() or (directory / "settings.json").read_text() != settings:
        for stale in directory.glob(".*.tmp"):
            stale.unlink(missing_ok=True)
        write_text(directory / "settings.json", settings)
    if todo:
        started = time.time()
        workers = cfg.workers or os.cpu_count() or 1
        _run(cfg, todo, plan, directory, workers, scheduler, progress)
        _log_run(directory, len(todo), time.time() - started, workers, scheduler)
    if card and not (directory / "card.md").exists():
        write_card(cfg, seed, directory, plan)
    return files


def _run(cfg, todo: list[Chunk], plan: list[Chunk], directory: Path, workers: int, scheduler: str | None, progress: bool) -> None:
    from dask.distributed import as_completed
    from tqdm import tqdm

    chunks_per_process = Counter(c.process for c in plan)
    total = sum(c.events for c in plan)
    bar = tqdm(total=total, initial=total - sum(c.events for c in todo), unit="ev", disable=not progress,
               desc=f"{cfg.name} -> {directory}")
    with dask_client(scheduler, workers) as client:
        futures = [client.submit(make_chunk_file, cfg, c, chunks_per_process[c.process], str(directory / c.filename),
                                 key=f"{directory.name}/{c.filename}", pure=False) for c in todo]
        try:
            for future in as_completed(futures):
                bar.update(future.result())
        except KeyboardInterrupt:
            client.cancel(futures)
            complete = sum((directory / c.filename).exists() for c in plan)
            raise Interrupted(f"interrupted: {complete}/{len(plan)} chunks complete in {directory}; rerun to resume") from None
        finally:
            bar.close()


def make_chunk_file(cfg, chunk: Chunk, chunks_of_process: int, path: str) -> int:
    """Worker task: generate one chunk and write it atomically; returns its event count."""
    # Pythia and FastJet print banners from C++; keep worker stdout clean for the progress bar.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    columns, meta = cfg.make_chunk(chunk.process, chunk.seed, chunk.events)
    rows = np.arange(chunk.events, dtype=np.int64)
    columns["event"] = (np.int64(chunk.process_index) << 40) | (np.int64(chunk.index) << 20) | rows
    if meta.get("sigma_pb"):
        timing = Timing(**meta["timing"])
        columns["weight"] = np.full(chunk.events, weight_per_event(meta["sigma_pb"], timing, chunks_of_process), np.float64)
    meta.update({"generator": cfg.name, "chunk": dataclasses.asdict(chunk), "chunks_of_process": chunks_of_process})
    write_tree(Path(path), cfg.TREE, columns, meta)
    return chunk.events


def _log_run(directory: Path, chunks: int, seconds: float, workers: int, scheduler: str | None) -> None:
    log = directory / "runs.json"
    runs = json.loads(log.read_text()) if log.exists() else []
    runs.append({"date": time.strftime("%Y-%m-%d %H:%M:%S"), "chunks": chunks, "wall_seconds": round(seconds, 1),
                 "workers": workers, "scheduler": scheduler or "LocalCluster"})
    write_text(log, json.dumps(runs, indent=1) + "\n")
    (directory / "card.md").unlink(missing_ok=True)  # the card describes complete runs only
