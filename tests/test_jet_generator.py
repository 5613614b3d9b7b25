"""Pythia8 + FastJet jets (a few hundred): physics sanity, caching, resume, determinism."""

import numpy as np
import pytest

from trigger.data.reader import read_columns
from trigger.generators import JetGenerator, cache_key, chunk_plan, generate
from trigger.generators.card import load_by_process
from trigger.generators.jets import FEATURES, KINEMATICS
from trigger.rootio import read_metadata

CFG = JetGenerator(events=40, chunk_events=20, workers=2)


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    root = tmp_path_factory.mktemp("jets")
    files = generate(CFG, seed=3, root=root, progress=False)
    return root, files


@pytest.mark.slow
def test_chunks_cover_every_class(generated):
    _, files = generated
    assert [f.name for f in files] == [f"{c}-{i:04d}.root" for c in CFG.classes for i in range(2)]
    assert read_metadata(files[-1])["class"] == "t"


@pytest.mark.slow
def test_features_and_selection(generated):
    _, files = generated
    cols = read_columns(files, "events", {k: k for k in FEATURES + KINEMATICS + ["label"]})
    assert len(cols["label"]) == 200
    assert np.all((cols["jet_pt"] > 800) & (cols["jet_pt"] < 1200))
    assert np.all(np.abs(cols["jet_eta"]) < 2.0)
    assert np.all(cols["multiplicity"] >= 2) and np.all(cols["multiplicity"] == np.round(cols["multiplicity"]))
    assert np.all(cols["c1_b0_mmdt"] <= 0.5 + 1e-6)  # sum_{i<j} z_i z_j <= 1/2
    np.testing.assert_allclose(cols["d2_a1_b1_mmdt"], cols["d2_b1_mmdt"])  # identical by definition


@pytest.mark.slow
def test_card_sanity_soft_drop_mass_peaks(generated):
    root, files = generated
    card = (files[0].parent / "card.md").read_text()
    assert "## Sanity checks" in card and (files[0].parent / "distributions.png").is_file()
    checks = CFG.sanity(load_by_process(files[0].parent, chunk_plan(CFG, 3), "events", ["mass_mmdt"]))
    mass = {name.split()[0]: value for name, (value, _) in checks.items()}
    assert 60 < mass["W"] < 100 and 70 < mass["Z"] < 110 and 130 < mass["t"] < 200
    assert mass["q"] < 50


@pytest.mark.slow
def test_cached_and_resumable(generated):
    root, files = generated
    stamps = [f.stat().st_mtime_ns for f in files]
    assert generate(CFG, seed=3, root=root, progress=False) == files
    assert [f.stat().st_mtime_ns for f in files] == stamps  # nothing regenerated
    before = read_columns([files[4]], "events", {"m": "mass_mmdt"})["m"]
    files[4].unlink()  # as if the run had been killed before this chunk
    generate(CFG, seed=3, root=root, progress=False)
    np.testing.assert_array_equal(read_columns([files[4]], "events", {"m": "mass_mmdt"})["m"], before)


def test_cache_key_covers_settings_and_seed():
    assert cache_key(CFG, 3) != cache_key(CFG, 4)
    assert cache_key(CFG, 3) != cache_key(JetGenerator(events=40, chunk_events=20, pt_min_gev=700), 3)
    assert cache_key(CFG, 3) == cache_key(JetGenerator(events=40, chunk_events=20, workers=1), 3)
