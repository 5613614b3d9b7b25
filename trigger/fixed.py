"""Fixed-point numbers as ap_fixed<W,I,Q,O> / ap_ufixed<W,I,Q,O> define them, in one place.

The type (width, integer bits, sign, rounding Q in TRN/RND/RND_CONV, overflow O in
WRAP/SAT/SAT_SYM), the assignment of real values onto it (`cast`, numpy; `cast_traced`,
the same cast spelled in truncations for da4ml's symbolic arrays), and the raw-integer /
packed-hex form of values that test vectors and buses use. tests/test_fixed.py holds `cast`
against an independent implementation (the `quantizers` package) for every mode.
"""

import re
from dataclasses import dataclass, replace

import numpy as np

from trigger.errors import TriggerError

ROUNDINGS = ("TRN", "RND", "RND_CONV")
OVERFLOWS = ("WRAP", "SAT", "SAT_SYM")
FIXED_RE = re.compile(r"^ap_(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*(?:AP_)?(\w+)\s*)?(?:,\s*(?:AP_)?(\w+)\s*)?(?:,\s*\d+\s*)?>$")


@dataclass(frozen=True)
class FixedType:
    width: int
    integer: int
    signed: bool
    rounding: str = "TRN"
    overflow: str = "WRAP"

    @classmethod
    def of(cls, precision) -> "FixedType":
        """From an hls4ml precision type (FixedPrecisionType or IntegerPrecisionType), modes included."""
        integer = getattr(precision, "integer", precision.width)
        modes = [getattr(precision, attr, None) for attr in ("rounding_mode", "saturation_mode")]
        rounding, overflow = (default if m is None else getattr(m, "name", str(m)).upper() for m, default in zip(modes, ("TRN", "WRAP")))
        return cls(int(precision.width), int(integer), bool(precision.signed), rounding, overflow)

    @classmethod
    def parse(cls, text: str, key: str = "precision") -> "FixedType":
        """From 'ap_fixed<16,6>' or 'ap_fixed<16,6,AP_RND_CONV,AP_SAT>'."""
        m = FIXED_RE.match(str(text).strip())
        if not m:
            raise TriggerError(f"'{key}' = {text!r} is not an ap_fixed<W,I> / ap_ufixed<W,I> type")
        unsigned, width, integer, rounding, overflow = m.groups()
        return cls(int(width), int(integer), not unsigned, (rounding or "TRN").upper(), (overflow or "WRAP").upper())

    def with_modes(self, rounding: str | None = None, overflow: str | None = None) -> "FixedType":
        return replace(self, rounding=rounding or self.rounding, overflow=overflow or self.overflow)

    def check_modes(self, where: str) -> "FixedType":
        """Itself, if `cast` implements its modes; else a one-line error naming `where`."""
        if self.rounding not in ROUNDINGS or self.overflow not in OVERFLOWS:
            raise TriggerError(f"layer '{where}': {self.rounding}/{self.overflow} is not supported (rounding "
                               f"{'/'.join(ROUNDINGS)}, overflow {'/'.join(OVERFLOWS)})")
        return self

    @property
    def frac(self) -> int:
        return self.width - self.integer

    @property
    def lsb(self) -> float:
        return 2.0**-self.frac

    @property
    def lo(self) -> float:
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    @property
    def hi(self) -> float:
        return (2.0 ** (self.integer - 1) if self.signed else 2.0**self.integer) - self.lsb

    @property
    def kif(self) -> tuple[int, int, int]:
        """da4ml's / quantizers' (sign bit, integer bits without the sign, fraction bits)."""
        return int(self.signed), self.integer - int(self.signed), self.frac

    @property
    def spelled(self) -> str:
        """With the modes, e.g. fixed<16,6,RND,SAT>."""
        return f"{str(self)[:-1]},{self.rounding},{self.overflow}>"

    def __str__(self) -> str:
        return f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer}>"


def cast(values, fmt: FixedType, rounds: bool = True, overflows: bool = True, out: np.ndarray | None = None) -> np.ndarray:
    """ap_fixed assignment of real values held in float64: round onto the grid, then overflow.

    Exact while every value is a multiple of a power of two within 53 bits. A caller that has
    proven a value already on the grid (`rounds=False`) or in range (`overflows=False`) skips
    that step. Works in place on `out` when given (which may be `values` itself)."""
    fmt.check_modes(str(fmt))
    if out is None:
        out = np.array(values, np.float64)
    elif out is not values:
        np.copyto(out, values)
    if rounds:
        np.multiply(out, 2.0**fmt.frac, out=out)
        if fmt.rounding == "RND":
            np.add(out, 0.5, out=out)
        if fmt.rounding == "RND_CONV":  # ties to even, which is rint's rounding
            np.rint(out, out=out)
        else:
            np.floor(out, out=out)
        np.multiply(out, fmt.lsb, out=out)
    if not overflows:
        return out
    if fmt.overflow == "WRAP":
        period = 2.0**fmt.integer
        out -= period * np.floor((out - fmt.lo) / period)
        return out
    low = fmt.lo if fmt.overflow == "SAT" or not fmt.signed else -fmt.hi
    return np.clip(out, low, fmt.hi, out=out)


def cast_traced(value, fmt: FixedType, source_frac: float):
    """`cast` for a da4ml FixedVariableArray, whose only cast truncates: rounding becomes an added
    offset first (RND: half an LSB; RND_CONV: half an LSB less one source LSB, plus the bit that
    decides ties), then truncation with fmt's overflow. `source_frac`: the value's fraction bits."""
    k, i, f = fmt.check_modes(str(fmt)).kif
    if source_frac > f and fmt.rounding != "TRN":
        half = 2.0 ** (-f - 1)
        if fmt.rounding == "RND":
            value = value + half
        else:
            lsb_source = 2.0**-source_frac
            tie_bit = value.quantize(0, 1 - f, f, "WRAP", "TRN")  # 0 or 2^-f: the LSB that survives
            value = value + (half - lsb_source) + tie_bit * (lsb_source * 2.0**f)
    return value.quantize(k, i, f, fmt.overflow, "TRN")


def to_raw(values, fmt: FixedType, source: str) -> np.ndarray:
    """Values of `fmt` -> two's-complement integers in LSB units; a value off the grid or out of range is an error."""
    scaled = np.asarray(values, np.float64) * 2.0**fmt.frac
    raw = np.round(scaled)
    if np.any(raw != scaled) or np.any(raw < fmt.lo / fmt.lsb) or np.any(raw > fmt.hi / fmt.lsb):
        raise TriggerError(f"{source}: values are not all {fmt} values; regenerate the project (`trigger synth`)")
    return raw.astype(np.int64)


def pack(raw: np.ndarray, width: int) -> list[str]:
    """One hex word per row of raw integers: element i at bits [width*i+width-1 : width*i], most significant digit first."""
    mask = (1 << width) - 1
    digits = -(-np.shape(raw)[1] * width // 4)
    words = []
    for row in np.asarray(raw, np.int64).tolist():
        word = 0
        for i, value in enumerate(row):
            word |= (value & mask) << (width * i)
        words.append(f"{word:0{digits}x}")
    return words


def unpack(word: str, width: int, count: int, signed) -> list[int]:
    """The raw integers of one hex word; `signed`: one flag, or one per element."""
    flags = [signed] * count if isinstance(signed, bool) else list(signed)
    value, mask = int(word, 16), (1 << width) - 1
    raw = [(value >> (width * i)) & mask for i in range(count)]
    return [v - (1 << width) if s and v >> (width - 1) else v for v, s in zip(raw, flags)]
