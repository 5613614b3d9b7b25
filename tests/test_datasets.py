"""ttbar, anomaly and toy datasets: small Pythia runs (a few thousand events at most) through Dask,
read back with the generic reader, with the dataset cards' physics checks asserted."""

import json
import os
import signal
import subprocess
import sys
import time

import awkward as ak
import numpy as np
import pytest

from trigger.data.reader import read_columns
from trigger.generators import AnomalyGenerator, ToyGenerator, TtbarGenerator, chunk_plan, dataset_dir, generate
from trigger.generators.anomaly import BACKGROUND, SIGNALS, multiplicities
from trigger.generators.card import load_by_process, merged
from trigger.rootio import open_root
from trigger.spec import CollectionSpec, feature_names

TTBAR = TtbarGenerator(events=120, chunk_events=60, workers=2)
ANOMALY = AnomalyGenerator(events=80, signal_events=40, process_events={"hpm": 12}, chunk_events=80, workers=2)

# The 57 ADC2021 inputs: MET (pT, eta=0, phi), 4 electrons, 4 muons, 10 jets, each (pT, eta, phi).
ADC_MAPPING = {
    "met_pt": "MET_pt", "met_eta": "MET_pt * 0", "met_phi": "MET_phi",
    "e": CollectionSpec(fields={"pt": "Electron_pt", "eta": "Electron_eta", "phi": "Electron_phi"}, count=4, sort_by="pt"),
    "mu": CollectionSpec(fields={"pt": "Muon_pt", "eta": "Muon_eta", "phi": "Muon_phi"}, count=4, sort_by="pt"),
    "jet": CollectionSpec(fields={"pt": "Jet_pt", "eta": "Jet_eta", "phi": "Jet_phi"}, count=10, sort_by="pt"),
}  # fmt: skip


@pytest.fixture(scope="module")
def ttbar_files(tmp_path_factory):
    return generate(TTBAR, seed=1, root=tmp_path_factory.mktemp("ttbar"), progress=False)


@pytest.fixture(scope="module")
def anomaly_files(tmp_path_factory):
    return generate(ANOMALY, seed=1, root=tmp_path_factory.mktemp("anomaly"), progress=False)


@pytest.mark.slow
def test_ttbar_tree_loads_into_regression_inputs(ttbar_files):
    mapping = {"lep_pt": "lep_pt", "lep_eta": "lep_eta", "lep_phi": "lep_phi", "met_pt": "MET_pt",
               "jet": CollectionSpec(fields={"pt": "Jet_pt", "eta": "Jet_eta", "phi": "Jet_phi", "btag": "Jet_btag"},
                                     count=6, sort_by="pt")}
    cols = read_columns(ttbar_files, "events", mapping)
    x = np.stack([cols[n] for n in feature_names(mapping)], axis=1)
    assert x.shape == (240, 4 + 6 * 4)
    assert np.all(cols["lep_pt"] > 25) and np.all(cols["jet3_pt"] > 25)  # the selection: 1 lepton, >= 4 jets
    targets = read_columns(ttbar_files, "events", {c: f"tlep_{c}" for c in ("px", "py", "pz", "e")})
    assert np.all(targets["e"] > 172.5 * 0.9)


@pytest.mark.slow
def test_ttbar_card_physics(ttbar_files):
    directory = ttbar_files[0].parent
    checks = TTBAR.sanity(load_by_process(directory, chunk_plan(TTBAR, 1), "events", TTBAR.CARD_BRANCHES))
    value = {name: v for name, (v, _) in checks.items()}
    assert abs(value["hadronic W mass from matched reco jets, median [GeV]"] - 80.4) < 10
    assert abs(value["truth top mass, median [GeV]"] - 172.5) < 3
    assert value["correlation MET vs neutrino pT"] > 0.7
    assert value["fraction of positive leptons"] == 0.5  # both charges, one process each
    card = (directory / "card.md").read_text()
    assert "| lplus |" in card and "| lminus |" in card and "near 80" in card
    assert (directory / "distributions.png").stat().st_size > 20_000


@pytest.mark.slow
def test_anomaly_tree_loads_into_57_inputs(anomaly_files):
    cols = read_columns(anomaly_files, "events", ADC_MAPPING | {"process": "process", "weight": "weight"})
    names = feature_names(ADC_MAPPING)
    assert len(names) == 57 and names[:6] == ["met_pt", "met_eta", "met_phi", "e0_pt", "e0_eta", "e0_phi"]
    x = np.stack([cols[n] for n in names], axis=1)
    assert x.shape == (4 * 80 + 3 * 40 + 12, 57)
    muon_pt = [names.index(f"mu{i}_pt") for i in range(4)]
    assert np.all(np.diff(x[:, muon_pt], axis=1) <= 0)  # muons pT-ordered, zero-padded
    assert np.all(cols["weight"] > 0)
    assert set(np.unique(cols["process"])) == set(range(8))


@pytest.mark.slow
def test_anomaly_filter_and_mixture(anomaly_files):
    directory = anomaly_files[0].parent
    card = json.loads((directory / "card.json").read_text())["yields"]
    assert card["QCD"]["passed"] > 0  # the filter lets QCD multijet in (through HT)
    for process in ("W", "Z", "ttbar", "QCD"):
        assert card[process]["sigma_pb"] > 0 and 0 < card[process]["efficiency"] <= 1
    data = load_by_process(directory, chunk_plan(ANOMALY, 1), "events", ["Electron_pt", "Muon_pt", "HT"])
    for process, cols in data.items():
        lead = np.maximum(ak.to_numpy(ak.max(cols["Electron_pt"], axis=1, mask_identity=False)),
                          ak.to_numpy(ak.max(cols["Muon_pt"], axis=1, mask_identity=False)))
        assert np.all((lead > 23) | (np.asarray(cols["HT"]) > 700)), process


@pytest.mark.slow
def test_anomaly_lepton_only_filter(tmp_path):
    """filter_ht_gev: null is ADC2021's stream: every kept event has an isolated e or mu above 23 GeV, whatever its HT."""
    cfg = AnomalyGenerator(processes=["W", "ttbar"], events=60, chunk_events=60, filter_ht_gev=None, workers=1)
    directory = generate(cfg, seed=3, root=tmp_path, progress=False)[0].parent
    for process, cols in load_by_process(directory, chunk_plan(cfg, 3), "events", ["Electron_pt", "Muon_pt"]).items():
        lead = np.maximum(ak.to_numpy(ak.max(cols["Electron_pt"], axis=1, mask_identity=False)),
                          ak.to_numpy(ak.max(cols["Muon_pt"], axis=1, mask_identity=False)))
        assert len(lead) == 60 and np.all(lead > 23), process


@pytest.mark.slow
def test_anomaly_signal_multiplicities_differ_as_expected(anomaly_files):
    data = load_by_process(anomaly_files[0].parent, chunk_plan(ANOMALY, 1), "events", ANOMALY.CARD_BRANCHES)
    bkg = multiplicities(merged(data, BACKGROUND))  # weighted SM mixture
    sig = {p: multiplicities(data[p]) for p in SIGNALS}
    assert sig["A4l"]["leptons"] > bkg["leptons"] + 1.0  # four leptons
    assert sig["LQ"]["btags"] > bkg["btags"] + 0.5  # two b quarks
    assert sig["h0"]["leptons"] > bkg["leptons"]  # a tau pair passing a lepton filter
    assert sig["hpm"]["jets"] < bkg["jets"] - 0.5  # tau nu, no hard jets


def test_toy_momentum_conservation_and_inputs(tmp_path):
    cfg = ToyGenerator(events=4000, chunk_events=1000, workers=2)
    files = generate(cfg, seed=2, root=tmp_path, progress=False)
    data = load_by_process(files[0].parent, chunk_plan(cfg, 2), "events", cfg.CARD_BRANCHES)
    checks = {k: v for k, (v, _) in cfg.sanity(data).items()}
    assert checks["max abs(m(b l nu) - m(top)) [GeV]"] < 1e-6
    assert abs(checks["top mass, median [GeV]"] - 172.5) < 0.5
    cols = read_columns(files, "events", {f"{p}_{c}": f"{p}_{c}" for p in ("b", "lep") for c in ("px", "py", "pz", "e")}
                        | {"met_px": "met_px", "met_py": "met_py"})
    assert len(cols) == 10 and len(cols["met_px"]) == 4000

    # a complete dataset is only read: another process's half-written file in it survives a second ask (scan trials
    # on several workers ask at once), and nothing in it is rewritten
    directory = files[0].parent
    foreign = directory / ".settings.json.other.tmp"
    foreign.write_text("{}")
    before = {p.name: p.stat().st_mtime_ns for p in directory.iterdir()}
    assert generate(cfg, seed=2, root=tmp_path, progress=False) == files
    assert {p.name: p.stat().st_mtime_ns for p in directory.iterdir()} == before


@pytest.mark.slow
def test_existing_dask_scheduler(tmp_path):
    """`--scheduler tcp://...`: chunks run on a cluster the user started (here a 2-worker LocalCluster)."""
    from dask.distributed import LocalCluster

    cfg = ToyGenerator(events=3000, chunk_events=500)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40) as cluster:
        files = generate(cfg, seed=5, root=tmp_path, progress=False, scheduler=cluster.scheduler_address)
    runs = json.loads((files[0].parent / "runs.json").read_text())
    assert runs[-1]["scheduler"].startswith("tcp://") and runs[-1]["chunks"] == 6
    assert len(read_columns(files, "events", {"e": "top_e"})["e"]) == 3000


@pytest.mark.slow
def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    from trigger.errors import TriggerError

    with pytest.raises(TriggerError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        generate(ToyGenerator(events=10, chunk_events=10), seed=5, root=tmp_path, progress=False, scheduler="tcp://127.0.0.1:9")


@pytest.mark.slow
def test_killed_run_resumes_without_losing_or_duplicating_chunks(tmp_path):
    cfg = TtbarGenerator(events=240, chunk_events=40, workers=2)
    command = [sys.executable, "-m", "trigger.cli", "data", "ttbar", "--events", "240", "--chunk-events", "40",
               "--workers", "2", "--seed", "9", "--out", str(tmp_path)]
    directory = dataset_dir(cfg, 9, tmp_path)
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 120
    while len(list(directory.glob("*.root"))) < 3 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its Dask workers, mid-way
    proc.wait()
    survivors = sorted(directory.glob("*.root"))
    assert 3 <= len(survivors) < 12
    for path in survivors:  # only complete chunks are visible
        with open_root(path) as f:
            assert f["events"].num_entries == 40
    assert subprocess.run(command, capture_output=True).returncode == 0
    files = sorted(directory.glob("*.root"))
    assert [f.name for f in files] == sorted(c.filename for c in chunk_plan(cfg, 9))
    events = read_columns(files, "events", {"id": "event"})["id"]
    assert len(events) == 480 and len(np.unique(events)) == 480
    assert not list(directory.glob(".*.tmp"))


@pytest.mark.parametrize("generator", ["jets", "ttbar", "anomaly", "toy", "spec"])
def test_data_subcommands_have_help(generator):
    proc = subprocess.run([sys.executable, "-m", "trigger.cli", "data", generator, "--help"], capture_output=True, text=True)
    assert proc.returncode == 0
    assert "--scheduler" in proc.stdout


def test_unknown_generator_setting_is_named(tmp_path, capsys):
    from conftest import run_cli

    assert run_cli("data", "toy", "--set", "top_mass=170", "--out", str(tmp_path)) == 2
    assert "unknown key 'top_mass'" in capsys.readouterr().err
    assert run_cli("data", "toy", "--set", "top_mass_gev", "--out", str(tmp_path)) == 2
    assert "use KEY=VALUE" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
