"""ROOT file I/O: flat or NanoAOD-style TTrees written atomically, and a guarded opener.

Columns are numpy arrays (one value per event) or awkward record arrays (one record per
object: `{"Jet": ak.zip({"pt": ..., "eta": ...})}` becomes nJet, Jet_pt, Jet_eta).
TTrees (mktree + extend), not RNTuples, so every ROOT version reads them.
"""

import json
from pathlib import Path

import numpy as np

from trigger.atomic import atomic_file
from trigger.errors import TriggerError


def write_tree(path: Path, tree: str, columns: dict, metadata: dict | None = None) -> None:
    """Write one TTree; the file appears under its name only when complete."""
    import awkward as ak
    import uproot

    types = {k: (ak.type(v) if isinstance(v, ak.Array) else np.asarray(v).dtype) for k, v in columns.items()}
    with atomic_file(path) as tmp, uproot.recreate(tmp) as out:
        out.mktree(tree, types)
        out[tree].extend(columns)
        if metadata is not None:
            out["metadata"] = json.dumps(metadata, sort_keys=True)


def open_root(path: Path):
    """uproot.open with one-line errors for a missing or unreadable file."""
    import uproot

    path = Path(path)
    if not path.is_file():
        raise TriggerError(f"{path}: ROOT file not found; run `make data` or fix data.files in the spec")
    try:
        return uproot.open(path)
    except Exception as exc:
        raise TriggerError(f"{path}: not a readable ROOT file ({type(exc).__name__}); regenerate or replace it") from None


def read_metadata(path: Path) -> dict:
    with open_root(path) as f:
        return json.loads(str(f["metadata"])) if "metadata" in f else {}
