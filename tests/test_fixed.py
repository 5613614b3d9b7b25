"""trigger.fixed, the one fixed-point module: ap_fixed rounding and overflow facts, `cast` held
against an independent implementation (the `quantizers` package) on a dense grid for every mode,
type parsing, and the raw/hex packing of test vectors."""

import itertools

import numpy as np
import pytest
from quantizers import get_fixed_quantizer_np

from trigger.errors import TriggerError
from trigger.fixed import OVERFLOWS, ROUNDINGS, FixedType, cast, pack, to_raw, unpack


@pytest.mark.parametrize("rounding, expected", [
    ("TRN", [0, 1, 2, -1, -2, 0]),
    ("RND", [1, 2, 3, 0, -1, 0]),
    ("RND_CONV", [0, 2, 2, 0, -2, 0]),  # ties to even
])
def test_cast_rounds_like_ap_fixed(rounding, expected):
    assert cast([0.5, 1.5, 2.5, -0.5, -1.5, 0.25], FixedType(8, 8, True, rounding, "WRAP")).tolist() == expected


@pytest.mark.parametrize("overflow, expected", [("WRAP", [-128, 127, 56]), ("SAT", [127, -128, -128]),
                                               ("SAT_SYM", [127, -127, -127])])
def test_cast_overflows_like_ap_fixed(overflow, expected):
    assert cast([128, -129, -200], FixedType(8, 8, True, "TRN", overflow)).tolist() == expected


FORMATS = [FixedType(w, i, s) for w, i, s in ((8, 3, True), (6, 0, True), (7, 9, True), (5, -1, True), (8, 3, False), (4, 6, False))]


@pytest.mark.parametrize("rounding, overflow", itertools.product(ROUNDINGS, OVERFLOWS))
def test_cast_equals_the_quantizers_package_on_a_dense_grid(rounding, overflow):
    """Every value on a grid 8x finer than the finest LSB, over 4x the widest range, ties included."""
    reference = get_fixed_quantizer_np(rounding, overflow)
    for base in FORMATS:
        fmt = base.with_modes(rounding, overflow)
        step = fmt.lsb / 8
        x = np.arange(4 * fmt.lo - 8 * fmt.lsb, 4 * (fmt.hi + 1) + 8 * fmt.lsb, step) if fmt.signed else \
            np.arange(-4 * (fmt.hi + fmt.lsb), 4 * (fmt.hi + 1), step)
        k, i, f = fmt.kif
        expected = reference(x, k, i, f)
        got = cast(x, fmt)
        assert np.array_equal(got, expected), (fmt.spelled, x[got != expected][:5], got[got != expected][:5])
        assert np.all((got >= fmt.lo) & (got <= fmt.hi)) and np.all(got / fmt.lsb == np.round(got / fmt.lsb))


def test_cast_in_place_and_skipped_steps():
    fmt = FixedType(6, 2, True, "RND", "SAT")
    values = np.array([0.04, 5.0, -1.96875])
    assert cast(values, fmt, rounds=False).tolist() == [0.04, 1.9375, -1.96875]  # only the overflow
    assert cast(values, fmt, overflows=False).tolist() == [0.0625, 5.0, -1.9375]  # only the rounding
    out = cast(values, fmt, out=values)
    assert out is values and values.tolist() == [0.0625, 1.9375, -1.9375]


@pytest.mark.parametrize("text, expected", [
    ("ap_fixed<16,6>", FixedType(16, 6, True)),
    ("ap_ufixed<8, 0>", FixedType(8, 0, False)),
    ("ap_fixed<18,8,AP_RND_CONV,AP_SAT>", FixedType(18, 8, True, "RND_CONV", "SAT")),
    ("ap_fixed<10,4,AP_RND,AP_SAT_SYM,0>", FixedType(10, 4, True, "RND", "SAT_SYM")),
])
def test_parse(text, expected):
    assert FixedType.parse(text) == expected
    assert expected.spelled.startswith(str(expected)[:-1])


def test_unsupported_modes_are_named():
    with pytest.raises(TriggerError, match="layer 'dense_1': RND_ZERO/WRAP is not supported"):
        FixedType(8, 3, True, "RND_ZERO").check_modes("dense_1")
    with pytest.raises(TriggerError, match="is not an ap_fixed"):
        FixedType.parse("float")


PORT = FixedType(6, 2, True)


def test_hex_packing_puts_element_zero_in_the_low_bits():
    raw = to_raw(np.array([[1.0, -0.0625, -2.0]]), PORT, "test")
    assert raw.tolist() == [[16, -1, -32]]
    word = pack(raw, 6)[0]
    assert word == f"{(16 | (0x3F << 6) | (0x20 << 12)):05x}"
    assert unpack(word, 6, 3, True) == [16, -1, -32]
    assert unpack(word, 6, 3, [True, False, False]) == [16, 63, 32]


@pytest.mark.parametrize("values", [[[0.03]], [[2.0]]])  # off the grid; out of range
def test_hex_packing_rejects_values_that_are_not_of_the_type(values):
    with pytest.raises(TriggerError, match=r"test: values are not all fixed<6,2> values"):
        to_raw(np.array(values), PORT, "test")
