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


def test_cut_baselines_are_thresholded_on_one_half_and_measured_on_the_other():
    """Each cut trigger (leptons, HT, MET, single object) gets the anomaly score's treatment: a threshold at the
    target FPR from the setting half, rates and TPRs from the measuring half."""
    from trigger.data import Dataset
    from trigger.spec import spec_from_dict
    from trigger.tasks import baselines, task_of

    features = ["met_pt", "e0_pt", "mu0_pt", "mu1_pt", "jet0_pt", "jet0_eta", "jet1_pt", "jet1_eta"]
    x = np.array([[10, 30, 0, 0, 100, 0.5, 40, 3.0],    # 1 lepton; jet1 is forward: HT = 100
                  [50, 0, 25, 5, 20, 0.1, 0, 0],        # 2 leptons; jet0 below 30 GeV: HT = 0
                  [5, 0, 0, 0, 300, -2.0, 35, 1.0]])    # no lepton; HT = 335; best object 300
    values = baselines.scores(x, features)
    assert values["leptons"] == pytest.approx([1 + 30e-4, 2 + 30e-4, 0])
    np.testing.assert_array_equal(values["HT"], [100, 0, 335])
    np.testing.assert_array_equal(values["MET"], [10, 50, 5])
    np.testing.assert_array_equal(values["single object"], [100, 25, 300])
    assert baselines.cut("leptons", 2.0035) == ">= 3 leptons, or 2 with sum pT > 35 GeV"
    assert baselines.cut("leptons", 0.0) == ">= 1 lepton" and not baselines.available(["met_pt", "f0"])

    rng = np.random.default_rng(1)
    n = 4000
    y = rng.choice(2, n, p=[0.75, 0.25])
    events = np.zeros((n, len(features)))
    events[:, 0] = rng.exponential(30, n) + 200 * y  # the signal has large MET
    spec = spec_from_dict({"name": "a", "task": "anomaly", "model": {"kind": "vae"},
                           "data": {"files": ["x.root"], "features": {f: f for f in features}},
                           "anomaly": {"process_branch": "p", "processes": ["b", "s"], "signals": ["s"],
                                       "target": {"fpr": 0.01}}})
    task = task_of(spec)
    test = Dataset(events, y, features, ["b", "s"])
    setting, measuring = task.halves(test)
    met = task.baseline_report(test, setting, measuring)["MET"]
    bkg_set = events[setting, 0]
    assert met["threshold"] == rates.threshold_for(bkg_set, np.ones(len(bkg_set)), 0.01)
    measured = events[measuring][y[measuring] == 0, 0]
    assert met["fpr"] == pytest.approx(np.mean(measured > met["threshold"])) and met["cut"].startswith("MET > ")
    assert met["signals"]["s"]["tpr"] == pytest.approx(np.mean(events[y == 1, 0] > met["threshold"]))
    assert met["median"]["s"] == pytest.approx(np.median(events[y == 1, 0])) and met["median"]["background"] < 40
    assert baselines.weighted_median(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 5.0])) == 3.0


def test_anomaly_table_puts_models_and_cut_baselines_side_by_side(tmp_path):
    """One row per anomaly model (its firmware score's TPRs and the RTL twin's figures), one per cut, from the files
    training and `trigger rtl` write; a README block is rewritten in place and nothing else changes."""
    import json

    from trigger.report import anomaly_table, summary

    def entry(tpr):
        return {"tpr": tpr, "tpr_err": 0.01}

    point = {"target": {"fpr": 2.5e-4, "rate_khz": 10.0, "crossing_rate_mhz": 40.0},
             "background": {"fpr": 2.4e-4, "rate_khz": 9.6},
             "quantized": {"A": entry(0.3), "B": entry(0.1)},
             "baselines": {"MET": {"cut": "MET > 270.4 GeV", "fpr": 2.5e-4, "fpr_err": 1e-5,
                                   "signals": {"A": entry(0.0), "B": entry(0.02)}}}}
    rtl = {"figures": {"latency_ns": {"value": 50.0, "source": "rtl"}, "lut": {"value": 22963, "source": "rtl"},
                       "dsp": {"value": 0, "source": "rtl"}}}
    model = tmp_path / "models" / "vae"
    (model / "trained").mkdir(parents=True)
    (model / "trained" / "training.json").write_text(json.dumps({"operating_point": point}))
    (model / "metrics.json").write_text(json.dumps({"rtl": rtl}))
    header, body = anomaly_table.rows([model])
    assert header == ["trigger", "A", "B", "mean TPR", "rate [kHz]", "latency", "LUT", "DSP"]
    assert body[0] == ["vae", "0.300 ± 0.010", "0.100 ± 0.010", "0.200", "9.6", "50 ns (rtl)", "22963 (rtl)", "0 (rtl)"]
    assert body[1] == ["cut: MET > 270.4 GeV", "0.000 ± 0.010", "0.020 ± 0.010", "0.010", "10.0", "-", "-", "-"]
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- anomaly:begin -->\nold\n<!-- anomaly:end -->\nrest\n")
    summary.update_readme(readme, {"anomaly": anomaly_table.markdown([model]) + "\n"})
    text = readme.read_text()
    assert text.startswith("intro\n<!-- anomaly:begin -->\n| trigger | A | B |") and text.endswith("<!-- anomaly:end -->\nrest\n")
    assert anomaly_table.measured_on_halves(model)
    del point["background"]
    (model / "trained" / "training.json").write_text(json.dumps({"operating_point": point}))
    assert not anomaly_table.measured_on_halves(model)  # trained before the split: no row until retrained
    with pytest.raises(Exception, match="no anomaly operating point"):
        anomaly_table.rows([tmp_path / "models" / "missing"])


def test_vae_loss_weights_each_input_by_its_inverse_variance():
    """model.loss_weights: inverse_variance makes an input count in units of its own spread (a constant input: 0), so
    a rare, narrow input (a 3rd lepton's pT) weighs in the reconstruction as much as a wide one (a jet's phi)."""
    from trigger.spec import spec_from_dict
    from trigger.tasks import task_of

    spec = spec_from_dict({"name": "a", "task": "anomaly", "model": {"kind": "vae", "latent": 1, "beta": 0.0,
                                                                      "loss_weights": "inverse_variance"},
                           "data": {"files": ["x.root"], "features": {"a": "a", "b": "b", "c": "c"}},
                           "anomaly": {"target": {"fpr": 0.1}}})
    y = np.stack([np.r_[np.zeros(50), np.full(50, 2.0)], np.r_[np.zeros(50), np.full(50, 0.2)], np.ones(100)], axis=1)
    loss, _ = task_of(spec).loss(y)  # variances 1, 0.01, 0
    x = np.zeros((1, 3), np.float32)
    per_input = [float(loss(x, np.array([[*np.eye(3)[i] * 0.1, 0.0, 0.0]], np.float32))[0]) for i in range(3)]
    assert per_input == pytest.approx([0.01 / 3, 1.0 / 3, 0.0], rel=1e-4)
