"""Matplotlib helpers: headless backend, one look, atomic PNG writes."""

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from trigger.atomic import write_bytes  # noqa: E402

STYLES = {"float": "--", "quantized": ":", "csim": "-"}  # line style of each model flavour


def figure(rows: int = 1, cols: int = 1, size: tuple[float, float] = (6, 4.5)):
    fig, axes = plt.subplots(rows, cols, figsize=size, squeeze=False)
    return fig, axes.ravel()


def save(fig, path: Path) -> Path:
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, metadata={"Software": None})
    plt.close(fig)
    write_bytes(Path(path), buffer.getvalue())
    return Path(path)
