"""Fixed-point types as the harness sees them: LSB size and representable range."""

from __future__ import annotations

from dataclasses import dataclass


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
