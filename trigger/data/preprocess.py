"""Input preprocessing that firmware reproduces exactly: a power-of-two shift per feature,
then rounding/saturation into the input fixed-point type.

A shift by 2**-k is free in hardware (it only moves the binary point), so the upstream
firmware delivers `x * 2**-k` in `ap_fixed<W,I>` and the network sees exactly what the
quantized Keras model saw. No offsets, no non-power-of-two scales: the first layer's
bias and weights absorb those during training.
"""

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from trigger.atomic import write_json
from trigger.errors import TriggerError
from trigger.fixed import FixedType, cast
from trigger.spec import Spec, feature_names

AUTO_QUANTILE = 99.9  # the automatic shift maps this quantile of |x| into (0.5, 1]; the integer bits are the headroom
ZERO_FRACTION = 0.5  # a feature whose non-zero values mostly round to 0 carries no information into the firmware


@dataclass
class Preprocessing:
    """The exact input transform, saved with the model as preprocessing.json, with what decided it (the
    fingerprint: features and their expressions, shifts, precision, saturation, selection, sentinels) so that synth
    can refuse a spec that has changed it since training."""

    features: list[str]
    shifts: list[int]  # value fed to the network = x * 2**-shift
    precision: str  # e.g. ap_fixed<16,6>; rounding: nearest (ties to even), saturate
    saturation: str  # 'error' or 'clip'
    selection: str | None = None  # data.selection at training
    missing: dict[str, float] = field(default_factory=dict)  # data.missing at training
    expressions: dict | None = None  # data.features as written at training (None: not recorded by older versions)

    @property
    def input_type(self) -> FixedType:
        """The firmware input type, rounding to nearest (ties to even, AP_RND_CONV) and saturating."""
        return FixedType.parse(self.precision).with_modes("RND_CONV", "SAT")

    def apply(self, x: np.ndarray, source: str = "input", remedy: str | None = None) -> np.ndarray:
        """Raw features -> the exact fixed-point values the firmware input receives (as float64). Values beyond the
        type saturate: an error under saturation 'error' (`remedy`: what to do; default: the spec keys)."""
        x = self._checked(x, source)
        fmt = self.input_type
        q = cast(self.scaled(x), fmt, overflows=False)
        over = (q < fmt.lo) | (q > fmt.hi)
        if over.any() and self.saturation == "error":
            col = int(np.argmax(over.sum(axis=0)))
            name, worst = self.features[col], float(np.abs(x[:, col]).max())
            remedy = remedy or (f"if those are outliers or sentinels, drop them (data.selection), declare them "
                                f"(data.missing.{name}) or set input.saturation: clip; else raise input.shifts.{name}")
            raise TriggerError(f"{source}: {int(over[:, col].sum())} of {len(x)} values of feature '{name}' saturate "
                               f"{self.precision} (|x| up to {worst:.4g} with shift {self.shifts[col]}; "
                               f"{int(over.sum())} saturating value(s) over all features); {remedy}")
        return cast(q, fmt, rounds=False, out=q)

    def clipped(self, x: np.ndarray) -> dict[str, int]:
        """Per feature: how many values lie beyond the input type (clipped to its edge under saturation 'clip')."""
        x = self._checked(x, "input")
        fmt = self.input_type
        q = cast(self.scaled(x), fmt, overflows=False)
        over = ((q < fmt.lo) | (q > fmt.hi)).sum(axis=0)
        return {name: int(n) for name, n in zip(self.features, over)}

    def scaled(self, x: np.ndarray) -> np.ndarray:
        """x * 2**-shift: the exact value before it is rounded into the input type."""
        return np.asarray(x, dtype=np.float64) * np.exp2(-np.asarray(self.shifts, dtype=np.float64))

    def changes(self, spec: Spec) -> list[str]:
        """What the spec now says differently about the firmware input than at training (empty: nothing)."""
        names = feature_names(spec.data.features)
        if self.features != names:
            return [f"data.features: trained on {_short(self.features)}, the spec lists {_short(names)}"]
        now = {"input.precision": (self.precision, spec.input.precision),
               "input.saturation": (self.saturation, spec.input.saturation),
               "data.selection": (self.selection, spec.data.selection),
               "data.missing": (self.missing, spec.data.missing)}
        now |= {f"input.shifts.{name}": (self.shifts[self.features.index(name)], k) for name, k in spec.input.shifts.items()}
        if self.expressions is not None:
            written = feature_expressions(spec)
            now |= {f"data.features.{key}": (self.expressions.get(key), written.get(key))
                    for key in {**self.expressions, **written}}
        return [f"{key}: trained with {old!r}, the spec says {new!r}" for key, (old, new) in now.items() if old != new]

    def _checked(self, x: np.ndarray, source: str) -> np.ndarray:
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
        return x

    def save(self, path: Path) -> None:
        write_json(path, asdict(self))

    @classmethod
    def load(cls, path: Path) -> "Preprocessing":
        if not Path(path).is_file():
            raise TriggerError(f"{path}: preprocessing not found; train the model first (`make train`)")
        return cls(**json.loads(Path(path).read_text()))


def fit_preprocessing(x: np.ndarray, features: list[str], spec: Spec) -> Preprocessing:
    """A shift per feature (unless input.shifts fixes it) from a high quantile of |x|, not its maximum, so that one
    outlier cannot push a whole feature below the LSB; then every feature must still resolve its typical values."""
    inputs = spec.input
    input_type = FixedType.parse(inputs.precision, "input.precision")
    shifts = []
    for j, name in enumerate(features):
        if name in inputs.shifts:
            shifts.append(inputs.shifts[name])
            continue
        typical = float(np.percentile(np.abs(x[:, j]), AUTO_QUANTILE))
        shifts.append(math.ceil(math.log2(typical)) if typical > 0 else 0)
    pre = Preprocessing(list(features), shifts, inputs.precision, inputs.saturation, spec.data.selection,
                        dict(spec.data.missing), feature_expressions(spec))
    scaled = pre.scaled(x)
    for j, name in enumerate(features):
        nonzero = x[:, j] != 0
        zero = nonzero & (np.abs(scaled[:, j]) < input_type.lsb / 2)  # rounds to 0 (ties to even: exactly lsb/2 too)
        if nonzero.any() and zero.sum() > ZERO_FRACTION * nonzero.sum():
            typical = float(np.median(np.abs(x[nonzero, j])))
            raise TriggerError(f"data.features: feature '{name}' rounds to 0 in {inputs.precision} for {int(zero.sum())} "
                               f"of its {int(nonzero.sum())} non-zero values (median |x| {typical:.3g}, shift "
                               f"{shifts[j]}); scale it up in its expression, lower input.shifts.{name}, or add "
                               f"fractional bits to input.precision")
    return pre


def feature_expressions(spec: Spec) -> dict:
    """data.features as written (branch or expression; a collection as its keys), for the fingerprint."""
    return {key: value if isinstance(value, str) else asdict(value) for key, value in spec.data.features.items()}


def _short(names: list[str]) -> str:
    return "[" + ", ".join(names[:4]) + (f", ... ({len(names)})" if len(names) > 4 else "") + "]"
