"""Firmware-reproducible preprocessing: power-of-two shifts onto the input fixed-point grid."""

import numpy as np
import pytest

from trigger.data.preprocess import Preprocessing, fit_preprocessing
from trigger.errors import TriggerError
from trigger.spec import spec_from_dict


def spec(**inputs):
    """A spec whose input block is `inputs` (the rest: the smallest valid compression spec)."""
    return spec_from_dict({"name": "t", "task": "compression", "model": {"kind": "autoencoder"}, "input": inputs,
                           "data": {"files": ["x.root"], "features": {"a": "a", "b": "b", "c": "c"}}})


def test_fit_gives_power_of_two_shifts_and_exact_grid():
    rng = np.random.default_rng(1)
    x = np.stack([rng.normal(0, 300, 5000), rng.uniform(0, 0.02, 5000), rng.integers(10, 150, 5000)], axis=1)
    pre = fit_preprocessing(x, ["mass", "small", "mult"], spec(precision="ap_fixed<16,6>"))
    assert all(isinstance(k, int) for k in pre.shifts)
    q = pre.apply(x)
    # every value sits on the 2^-10 grid and inside the type
    np.testing.assert_array_equal(q, np.round(q * 1024) / 1024)
    assert q.min() >= -32 and q.max() <= 32 - 2**-10
    # the typical magnitude lands in (0.5, 1]
    for j in range(3):
        assert 0.5 < np.percentile(np.abs(x[:, j]), 99.9) * 2.0 ** -pre.shifts[j] <= 1.0


def test_spec_shift_is_honoured():
    pre = fit_preprocessing(np.ones((10, 2)) * 3, ["a", "b"], spec(shifts={"b": 4}))
    assert pre.shifts[1] == 4


def test_saturation_is_an_error_naming_the_feature():
    pre = Preprocessing(["a", "b"], [0, 0], "ap_fixed<8,3>", "error")
    with pytest.raises(TriggerError, match=r"input: 2 of 2 values of feature 'b' saturate ap_fixed<8,3> \(\|x\| up to 9 with shift 0; 2 saturating value\(s\) over all features\); .*data\.missing\.b.*input\.saturation: clip"):
        pre.apply(np.array([[1.0, 5.0], [0.5, -9.0]]))


def test_clip_mode_saturates_like_ap_sat():
    pre = Preprocessing(["a"], [0], "ap_fixed<8,3>", "clip")
    np.testing.assert_array_equal(pre.apply(np.array([[5.0], [-9.0], [0.03]])).ravel(), [3.96875, -4.0, 0.03125])


def test_wrong_feature_count():
    pre = Preprocessing(["a", "b", "c"], [0, 0, 0], "ap_fixed<16,6>", "error")
    with pytest.raises(TriggerError, match=r"has 2 features, the model expects 3 \(a, b, c\)"):
        pre.apply(np.zeros((4, 2)))


def test_nan_rejected():
    pre = Preprocessing(["a", "b"], [0, 0], "ap_fixed<16,6>", "error")
    with pytest.raises(TriggerError, match=r"NaN/Inf values \(feature 'b'\)"):
        pre.apply(np.array([[0.0, np.nan]]))


def test_roundtrip(tmp_path):
    pre = Preprocessing(["a"], [3], "ap_fixed<16,6>", "clip")
    pre.save(tmp_path / "p.json")
    assert Preprocessing.load(tmp_path / "p.json") == pre
