"""Anomaly-score weights: powers of two from the background's own residuals, floored at one LSB^2."""

import numpy as np
import pytest

from trigger.tasks import Anomaly, score_weights
from trigger.errors import TriggerError
from trigger.spec import AnomalySpec

FEATURES = ["a", "b", "c"]


class FakeSpec:
    name = "ae"

    def __init__(self, **anomaly):
        anomaly = {"score": "reconstruction"} | anomaly  # the autoencoder default (spec checks resolve it by kind)
        self.anomaly = AnomalySpec(process_branch="p", processes=["x", "y"], signals=["y"], residual_bits=8,
                                   residual_integer=1, **anomaly)


def test_background_normalisation_is_a_power_of_two_per_input():
    squared = np.array([[0.5, 0.0, 4.0], [0.5, 0.0, 12.0]])  # means: 0.5, 0 (never resolved), 8
    weights = score_weights.fit(FakeSpec(), squared, None, FEATURES)
    lsb_squared = 2.0**-12  # ap_fixed<8,2>: LSB 2^-6
    np.testing.assert_array_equal(weights, [2.0, 1 / lsb_squared, 0.125])


def test_event_weights_enter_the_mean():
    squared = np.array([[1.0, 1.0, 1.0], [4.0, 4.0, 4.0]])
    weights = score_weights.fit(FakeSpec(), squared, np.array([0.0, 1.0]), FEATURES)
    np.testing.assert_array_equal(weights, [0.25, 0.25, 0.25])


def test_uniform_and_manual_weights():
    squared = np.full((2, 3), 0.25)
    assert score_weights.fit(FakeSpec(score_weights="uniform"), squared, None, FEATURES).tolist() == [1, 1, 1]
    manual = score_weights.fit(FakeSpec(input_weights={"b": 8}), squared, None, FEATURES)
    assert manual.tolist() == [4, 32, 4]


@pytest.mark.parametrize("weights, message", [({"zz": 2}, "not a model input"), ({"a": 3}, "power of two")])
def test_bad_manual_weights_are_named(weights, message):
    with pytest.raises(TriggerError, match=message):
        score_weights.fit(FakeSpec(input_weights=weights), np.ones((1, 3)), None, FEATURES)


def test_missing_weights_file_is_named(tmp_path):
    trained = type("Trained", (), {"directory": tmp_path, "score_weights": None})()
    with pytest.raises(TriggerError, match="score_weights.json: anomaly score weights missing; retrain"):
        Anomaly(FakeSpec()).weights(trained, "quantized")
