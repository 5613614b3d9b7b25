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


def test_threshold_half_and_measuring_half_are_disjoint_and_the_sample_comes_from_the_second():
    """The threshold is set on every other held-out background event; the FPR, the committed sample and so the
    csim metrics use the other half (an FPR measured where the threshold was chosen is biased low)."""
    from trigger.data import Dataset
    from trigger.spec import spec_from_dict
    from trigger.tasks import task_of

    spec = spec_from_dict({"name": "a", "task": "anomaly", "model": {"kind": "vae"}, "verify": {"events": 40},
                           "data": {"files": ["x.root"], "features": {"a": "a"}},
                           "anomaly": {"process_branch": "p", "processes": ["b", "s"], "signals": ["s"],
                                       "target": {"fpr": 0.1}}})
    y = np.random.default_rng(0).choice(2, 200, p=[0.8, 0.2])
    test = Dataset(np.arange(200.0)[:, None], y, ["a"], ["b", "s"])
    task = task_of(spec)
    setting, measuring = task.halves(test)
    assert not set(setting) & set(measuring) and set(setting) | set(measuring) == set(range(200))
    assert (y[setting] == 0).all() and abs(len(setting) - (y[measuring] == 0).sum()) <= 1
    sample = task.test_sample(test)
    background = sample.x[sample.y == 0, 0].astype(int)
    assert len(background) == 20 and set(background) <= set(measuring) and (sample.y == 1).sum() == 20
    assert spec.anomaly.score == "mu2"  # the VAE default score
