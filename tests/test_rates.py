"""Trigger operating point: weighted threshold for a target FPR, TPR errors, smallest measurable FPR."""

import numpy as np
import pytest

from trigger.tasks import rates


def test_threshold_is_a_score_value_with_weighted_fraction_above_at_most_target():
    scores = np.array([1.0, 2.0, 3.0, 4.0])
    weights = np.array([1.0, 1.0, 1.0, 7.0])  # 70% of the weight sits on the highest score
    assert rates.threshold_for(scores, weights, 0.7) == 3.0
    assert rates.threshold_for(scores, weights, 0.69) == 4.0
    assert rates.fpr_at(scores, weights, 3.0)[0] == pytest.approx(0.7)


def test_tpr_error_is_binomial_and_never_zero():
    p, err = rates.tpr_at(np.arange(100.0), 74.5)
    assert p == 0.25 and err == pytest.approx(np.sqrt(0.25 * 0.75 / 100))
    for cut in (1000.0, -1.0):  # none and all pass: the 68.3% CL Clopper-Pearson distance, ~1.15/n
        p, err = rates.tpr_at(np.arange(100.0), cut)
        assert p in (0.0, 1.0) and err == pytest.approx(1 - 0.3173 ** (1 / 100), rel=1e-3)


def test_reference_fpr_below_the_sample_reach_is_reported_as_such():
    rng = np.random.default_rng(0)
    bkg, sig = rng.normal(size=2000), rng.normal(2.0, size=500)
    report = rates.signal_report(bkg, np.ones(2000), {"s": sig}, threshold=1.0)["s"]
    assert report["tpr_at_fpr_0.001"]["note"] == "requested FPR"
    assert report["tpr_at_fpr_0.0001"]["fpr_used"] == pytest.approx(1 / 2000)
    assert "smallest FPR" in report["tpr_at_fpr_0.0001"]["note"]
    assert 0.5 < report["auc"] < 1
