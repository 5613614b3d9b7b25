"""Input preprocessing that firmware reproduces exactly: a power-of-two shift per feature,
then rounding/saturation into the input fixed-point type.

A shift by 2**-k is free in hardware (it only moves the binary point), so the upstream
firmware delivers `x * 2**-k` in `ap_fixed<W,I>` and the network sees exactly what the
quantized Keras model saw. No offsets, no non-power-of-two scales: the first layer's
bias and weights absorb those during training.
"""

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from trigger.atomic import write_json
from trigger.errors import TriggerError
from trigger.fixed import FixedType, cast
from trigger.spec import InputSpec

AUTO_QUANTILE = 99.9  # the shift maps this quantile of |x| into (0.5, 1]


@dataclass
class Preprocessing:
    """The exact input transform, saved with the model as preprocessing.json."""

    features: list[str]
    shifts: list[int]  # value fed to the network = x * 2**-shift
    precision: str  # e.g. ap_fixed<16,6>; rounding: nearest (ties to even), saturate
    saturation: str  # 'error' or 'clip'

    @property
    def input_type(self) -> FixedType:
        """The firmware input type, rounding to nearest (ties to even, AP_RND_CONV) and saturating."""
        return FixedType.parse(self.precision).with_modes("RND_CONV", "SAT")

    def apply(self, x: np.ndarray, source: str = "input", remedy: str | None = None) -> np.ndarray:
        """Raw features -> the exact fixed-point values the firmware input receives (as float64). `remedy`: what
        to do about saturating values (default: the spec keys)."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != len(self.features):
            got = x.shape[1] if x.ndim == 2 else f"shape {x.shape}"
            raise TriggerError(
                f"{source}: has {got} features, the model expects {len(self.features)} "
                f"({', '.join(self.features)}); fix the feature mapping"
            )
        bad = ~np.isfinite(x)
        if bad.any():
            col = int(np.argmax(bad.any(axis=0)))
            raise TriggerError(f"{source}: {int(bad.sum())} NaN/Inf values (feature '{self.features[col]}'); clean the input")
        fmt = self.input_type
        q = cast(self.scaled(x), fmt, overflows=False)
        over = (q < fmt.lo) | (q > fmt.hi)
        if over.any() and self.saturation == "error":
            col = int(np.argmax(over.sum(axis=0)))
            worst = float(np.abs(x[:, col]).max())
            remedy = remedy or f"raise input.shifts.{self.features[col]} or the integer bits, or set input.saturation: clip"
            raise TriggerError(f"{source}: {int(over.sum())} values saturate {self.precision} (worst feature "
                               f"'{self.features[col]}', |x| up to {worst:.4g} with shift {self.shifts[col]}); {remedy}")
        return cast(q, fmt, rounds=False, out=q)

    def scaled(self, x: np.ndarray) -> np.ndarray:
        """x * 2**-shift: the exact value before it is rounded into the input type."""
        return np.asarray(x, dtype=np.float64) * np.exp2(-np.asarray(self.shifts, dtype=np.float64))

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> "Preprocessing":
        if not Path(path).is_file():
            raise TriggerError(f"{path}: preprocessing not found; train the model first (`make train`)")
        return cls(**json.loads(Path(path).read_text()))


def fit_preprocessing(x: np.ndarray, features: list[str], spec: InputSpec) -> Preprocessing:
    """Choose a shift per feature (unless the spec fixes it) so training data fit without saturation."""
    input_type = FixedType.parse(spec.precision, "input.precision")
    shifts = []
    for j, name in enumerate(features):
        if name in spec.shifts:
            shifts.append(spec.shifts[name])
            continue
        col = np.abs(np.asarray(x[:, j], dtype=np.float64))
        typical = float(np.percentile(col, AUTO_QUANTILE))
        k = math.ceil(math.log2(typical)) if typical > 0 else 0
        while col.max() * 2.0**-k > input_type.hi - input_type.lsb:
            k += 1
        shifts.append(k)
    return Preprocessing(list(features), shifts, spec.precision, spec.saturation)
