"""The HGQ2 process: where HGQ2 models are built, trained and converted, apart from QKeras.

QKeras needs Keras 2 (tf_keras), and every trigger process points `keras` at it (trigger/keras2.py).
HGQ2 needs Keras 3, and its wheel ships a top-level `qkeras` package of its own. The two therefore
never share a process or a site-packages: the Makefile installs HGQ2 (requirements-hgq2.lock) into an
overlay directory, .venv/hgq2, without dependencies (Keras 3, TensorFlow, hls4ml and da4ml are the
venv's own, pinned in requirements.lock), and only a process started here has it on its path, with
Keras 3 as `keras`. What crosses between the two is files, never objects.
"""

import os
import subprocess
import sys
from pathlib import Path

from trigger.errors import TriggerError

OVERLAY = Path(sys.prefix) / "hgq2"


def inside() -> bool:
    """True in an HGQ2 process (one started here)."""
    return os.environ.get("TRIGGER_KERAS") == "3"


def environment() -> dict[str, str]:
    """os.environ for an HGQ2 process: the overlay first on the path, Keras 3 with the TensorFlow backend."""
    if not (OVERLAY / "hgq").is_dir():
        raise TriggerError(f"{OVERLAY}: HGQ2 is not installed; run `make setup` (it installs requirements-hgq2.lock there)")
    env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    env["PYTHONPATH"] = os.pathsep.join([str(OVERLAY), *filter(None, [os.environ.get("PYTHONPATH")])])
    env["KERAS_BACKEND"] = "tensorflow"
    env["TRIGGER_KERAS"] = "3"  # trigger/keras2.py: Keras 3 here, no tf_keras
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    env.setdefault("CUDA_VISIBLE_DEVICES", "")
    env.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # identical float results run to run, as in trigger/keras2.py
    # One thread each: with more, two trainings of the same spec and seed were seen to differ by one float32 ulp in
    # one learned bit width (a reduction's order), which breaks same spec + seed => same bytes.
    env.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    env.setdefault("TF_NUM_INTEROP_THREADS", "1")
    return env


def run(args: list[str], cwd: Path | None = None, what: str = "HGQ2 process") -> subprocess.CompletedProcess:
    """`python <args>` in an HGQ2 process; a failure is one line naming `what` and the last line it printed."""
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=environment(), capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise TriggerError(f"{what} failed (exit {proc.returncode}): {last}")
    return proc


def relay(args: list[str], cwd: Path | None = None) -> int:
    """`python <args>` in an HGQ2 process, its output streamed as it comes (it prints its own errors); its exit code."""
    return subprocess.run([sys.executable, *args], cwd=cwd, env=environment()).returncode
