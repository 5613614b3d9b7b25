"""Fixed-point types (ap_fixed<W,I> / ap_ufixed<W,I>): LSB size and representable range."""

from __future__ import annotations

import re
from dataclasses import dataclass

from trigger.errors import TriggerError

FIXED_RE = re.compile(r"^ap_(u?)fixed<\s*(\d+)\s*,\s*(-?\d+)\s*(?:,\s*\w+\s*)*>$")


@dataclass(frozen=True)
class FixedType:
    width: int
    integer: int
    signed: bool

    @classmethod
    def of(cls, precision) -> "FixedType":
        """From an hls4ml precision type (FixedPrecisionType or IntegerPrecisionType)."""
        integer = getattr(precision, "integer", precision.width)
        return cls(int(precision.width), int(integer), bool(precision.signed))

    @classmethod
    def parse(cls, text: str, key: str = "precision") -> "FixedType":
        """From 'ap_fixed<16,6>' (extra rounding/saturation arguments are allowed and ignored here)."""
        m = FIXED_RE.match(str(text).strip())
        if not m:
            raise TriggerError(f"'{key}' = {text!r} is not an ap_fixed<W,I> / ap_ufixed<W,I> type")
        unsigned, width, integer = m.groups()
        return cls(int(width), int(integer), not unsigned)

    @property
    def lsb(self) -> float:
        return 2.0 ** (self.integer - self.width)

    @property
    def lo(self) -> float:
        return -(2.0 ** (self.integer - 1)) if self.signed else 0.0

    @property
    def hi(self) -> float:
        return (2.0 ** (self.integer - 1) if self.signed else 2.0**self.integer) - self.lsb

    def __str__(self) -> str:
        return f"{'' if self.signed else 'u'}fixed<{self.width},{self.integer}>"
