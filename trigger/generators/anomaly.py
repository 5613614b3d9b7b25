"""ADC2021-like events for the anomaly trigger: an SM background mixture and four BSM signals.

Written NanoAOD-style: Electron_{pt,eta,phi,charge}[nElectron], Muon_{...}[nMuon],
Jet_{pt,eta,phi,btag}[nJet], MET_pt, MET_phi, plus `process` (index into the process
list) and `weight` (pb per event: the weights of one process sum to sigma x filter
efficiency). The model's 57 inputs come from the reader mapping, in this order:
    MET (pT, eta = 0, phi), electrons 0-3, muons 0-3, jets 0-9, each (pT, eta, phi),
    objects pT-ordered and zero-padded (`models/<anomaly>/spec.yml` spells it out).

Objects (trigger/generators/detector.py for the smearing and isolation): isolated electrons
pT > 3 GeV, |eta| < 3.0; isolated muons pT > 3 GeV, |eta| < 2.1; jets pT > 15 GeV,
|eta| < 4.0 (ADC2021 thresholds).

Event filter (same for every process): an isolated e or mu with pT > 23 GeV, OR
HT = scalar sum of jet pT (pT > 30 GeV, |eta| < 2.4) > 700 GeV. The lepton leg is the
ADC2021 single-lepton filter; the HT leg is what lets QCD multijet in (at particle level
almost no QCD event has an isolated 23 GeV lepton). The HT threshold is chosen so the
weighted mixture is close to ADC2021's (W ~59%, QCD ~34%, Z ~7%, ttbar ~0.3%); the
card reports the mixture actually obtained. `--set filter_ht_gev=null` drops the HT leg: the
lepton-only stream of ADC2021 (QCD then passes rarely; see `process_events` to size it).

Processes (Pythia8, 13 TeV):
- W: f fbar -> W, W -> e/mu/tau nu.      Z: f fbar -> Z (no gamma*), Z -> ee/mumu/tautau.
- ttbar: gg/qqbar -> ttbar, inclusive.  QCD: HardQCD:all with pTHat > 250 GeV (events with
  pTHat below that which would pass HT > 700 are neglected).
- A4l: gg -> A (m = 50 GeV) -> Z* Z* -> 4 l (l = e, mu; Z* mass > 2 GeV). Pythia has no
  A -> ZZ width at 50 GeV, so the channel is added with meMode 100 (phase space).
- LQ: gg/qqbar -> LQ LQbar (m = 80 GeV), LQ -> b tau. The LQ is given charge -4/3 so that
  b tau- conserves charge; the single-production processes (which assume u e couplings)
  are off.
- h0: gg -> H with the Higgs mass set to 60 GeV, H -> tau tau.
- hpm: f fbar' -> H+- (m = 60 GeV), H+- -> tau nu.
Signal cross sections are Pythia's for these settings; ADC2021 left them unnormalised.
"""

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import awkward as ak
import numpy as np

from trigger.generators.base import Generator
from trigger.generators.card import histograms, merged
from trigger.generators.detector import DetectorSettings, reconstruct
from trigger.generators.pythia import run_chunk

BACKGROUND = ("W", "Z", "ttbar", "QCD")
HT_JET_PT_GEV = 30.0  # HT = scalar sum of the pT of jets above this and within |eta| < HT_JET_ETA (filter and baseline)
HT_JET_ETA = 2.4
SIGNALS = ("A4l", "LQ", "h0", "hpm")


@dataclass
class AnomalyGenerator(Generator):
    """ADC2021-like events: SM background mixture (W, Z, ttbar, QCD) and four BSM signals."""

    name: Literal["anomaly"] = "anomaly"
    processes: list[str] = field(default_factory=lambda: ["W", "Z", "ttbar", "QCD", "A4l", "LQ", "h0", "hpm"])
    events: int = 50000  # filtered events per background process
    signal_events: int = 5000  # filtered events per signal process (TPR 0.3 to +-0.007 on the test half)
    process_events: dict[str, int] = field(default_factory=lambda: {"hpm": 1000})  # overrides (hpm: 0.6% pass, ~3 s/event)
    chunk_events: int = 1000
    ecm_gev: float = 13000.0
    filter_lepton_pt_gev: float = 23.0  # event filter: an isolated e/mu above this ...
    filter_ht_gev: float | None = 700.0  # ... or HT of jets (pT>30, |eta|<2.4) above this; None: lepton-only (ADC2021)
    qcd_pthat_min_gev: float = 250.0
    electron_pt_min_gev: float = 3.0
    electron_eta_max: float = 3.0
    muon_pt_min_gev: float = 3.0
    muon_eta_max: float = 2.1
    jet_pt_min_gev: float = 15.0
    jet_eta_max: float = 4.0
    a_mass_gev: float = 50.0
    lq_mass_gev: float = 80.0
    h0_mass_gev: float = 60.0
    hpm_mass_gev: float = 60.0
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    mpi: bool = True
    workers: int = 0

    CARD_BRANCHES: ClassVar[list[str]] = ["MET_pt", "HT", "nElectron", "nMuon", "nJet", "Electron_pt", "Muon_pt", "Jet_pt",
                                          "Jet_btag", "weight"]

    def process_names(self) -> list[str]:
        unknown = [p for p in self.processes if p not in BACKGROUND + SIGNALS]
        if unknown:
            raise ValueError(f"unknown anomaly processes {unknown}; known: {BACKGROUND + SIGNALS}")
        return list(self.processes)

    def events_for(self, process: str) -> int:
        return self.process_events.get(process, self.events if process in BACKGROUND else self.signal_events)

    def pythia_settings(self, process: str) -> list[str]:
        lines = {
            "W": ["WeakSingleBoson:ffbar2W = on", "24:onMode = off", "24:onIfAny = 11 13 15"],
            "Z": ["WeakSingleBoson:ffbar2gmZ = on", "WeakZ0:gmZmode = 2", "23:onMode = off", "23:onIfAny = 11 13 15"],
            "ttbar": ["Top:gg2ttbar = on", "Top:qqbar2ttbar = on"],
            "QCD": ["HardQCD:all = on", f"PhaseSpace:pTHatMin = {self.qcd_pthat_min_gev}"],
            "A4l": ["Higgs:useBSM = on", "HiggsBSM:gg2A3 = on", f"36:m0 = {self.a_mass_gev}",
                    "36:addChannel = 1 0.1 100 23 23", "36:onMode = off", "36:onIfMatch = 23 23",
                    "23:onMode = off", "23:onIfAny = 11 13", "23:mMin = 2."],
            "LQ": ["LeptoQuark:gg2LQLQbar = on", "LeptoQuark:qqbar2LQLQbar = on", f"42:m0 = {self.lq_mass_gev}",
                   "42:chargeType = -4", "42:oneChannel = 1 1.0 0 5 15"],
            "h0": ["HiggsSM:gg2H = on", f"25:m0 = {self.h0_mass_gev}", "25:onMode = off", "25:onIfMatch = 15 -15"],
            "hpm": ["Higgs:useBSM = on", "HiggsBSM:ffbar2H+- = on", f"37:m0 = {self.hpm_mass_gev}",
                    "37:onMode = off", "37:onIfMatch = 15 16"],
        }[process]
        return [f"Beams:eCM = {self.ecm_gev}", *lines, f"PartonLevel:MPI = {'on' if self.mpi else 'off'}"]

    def make_chunk(self, process: str, seed: int, n: int) -> tuple[dict, dict]:
        rng = np.random.default_rng(seed)
        columns, meta = run_chunk(self.pythia_settings(process), seed, n, lambda events: _select(events, self, rng))
        columns["process"] = np.full(n, self.process_names().index(process), dtype=np.int32)
        return columns, {"process": process, "processes": self.process_names(), "signal": process in SIGNALS, **meta}

    def sanity(self, data: dict) -> dict:
        present = [p for p in BACKGROUND if p in data]
        if not present:
            return {}
        bkg = multiplicities(merged(data, present))
        checks = {f"background mixture: mean {k}": (v, "-") for k, v in bkg.items()}
        expectations = {"A4l": ("leptons", "more than the background (four leptons)"),
                        "LQ": ("btags", "more than the background (two b quarks)"),
                        "h0": ("leptons", "more than the background (a tau pair, lepton-filtered)"),
                        "hpm": ("jets", "fewer than the background (tau nu, no hard jets)")}
        for process, (what, expect) in expectations.items():
            if process in data:
                checks[f"{process}: mean {what}"] = (multiplicities(data[process])[what], expect)
        return checks

    def card_plots(self, data: dict, directory) -> list[tuple[str, str]]:
        lead = lambda name: lambda c: ak.fill_none(ak.firsts(c[name]), -1.0)  # noqa: E731
        panels = [
            (lead("Electron_pt"), "leading electron pT [GeV] (-1: none)", np.linspace(-5, 200, 42), True),
            (lead("Muon_pt"), "leading muon pT [GeV] (-1: none)", np.linspace(-5, 200, 42), True),
            ("MET_pt", "MET [GeV]", np.linspace(0, 300, 61), True),
            ("nJet", "jet multiplicity (pT > 15 GeV)", np.arange(-0.5, 20.5), True),
            (lambda c: c["nElectron"] + c["nMuon"], "lepton multiplicity (e + mu)", np.arange(-0.5, 8.5), True),
            ("HT", "HT [GeV]", np.linspace(0, 2000, 51), True),
        ]
        histograms(directory / "distributions.png", data, panels)
        return [("per-process shapes (unit area): leptons, MET, jets, HT", "distributions.png")]


def _select(events, cfg: AnomalyGenerator, rng) -> dict:
    reco = reconstruct(events.prt, cfg.detector, rng, lepton_pt_min=min(cfg.electron_pt_min_gev, cfg.muon_pt_min_gev))
    lep, jets = reco["leptons"], reco["jets"]
    electrons = lep[(lep.pdg == 11) & lep.isolated & (lep.pt > cfg.electron_pt_min_gev) & (abs(lep.eta) < cfg.electron_eta_max)]
    muons = lep[(lep.pdg == 13) & lep.isolated & (lep.pt > cfg.muon_pt_min_gev) & (abs(lep.eta) < cfg.muon_eta_max)]
    jets = jets[(jets.pt > cfg.jet_pt_min_gev) & (abs(jets.eta) < cfg.jet_eta_max)]
    ht = ak.sum(jets.pt[(jets.pt > HT_JET_PT_GEV) & (abs(jets.eta) < HT_JET_ETA)], axis=1)
    lepton_leg = ak.any(electrons.pt > cfg.filter_lepton_pt_gev, axis=1) | ak.any(muons.pt > cfg.filter_lepton_pt_gev, axis=1)
    keep = ak.to_numpy(lepton_leg if cfg.filter_ht_gev is None else lepton_leg | (ht > cfg.filter_ht_gev))

    def collection(objs, extra):
        objs = objs[keep]
        order = ak.argsort(objs.pt, axis=1, ascending=False)
        return ak.zip({f: ak.values_astype(objs[f][order], np.float32) for f in ("pt", "eta", "phi", extra)})

    return {
        "Electron": collection(electrons, "charge"),
        "Muon": collection(muons, "charge"),
        "Jet": collection(jets, "btag"),
        "MET_pt": reco["met_pt"][keep].astype(np.float32),
        "MET_phi": reco["met_phi"][keep].astype(np.float32),
        "HT": ak.to_numpy(ht)[keep].astype(np.float32),
    }


def multiplicities(columns: dict) -> dict[str, float]:
    """Weighted mean lepton (e + mu), jet and b-tag multiplicities of one process or a mixture."""
    w = ak.to_numpy(columns["weight"])
    n_lep = ak.to_numpy(columns["nElectron"] + columns["nMuon"])
    return {"leptons": float(np.average(n_lep, weights=w)), "jets": float(np.average(ak.to_numpy(columns["nJet"]), weights=w)),
            "btags": float(np.average(ak.to_numpy(ak.sum(columns["Jet_btag"], axis=1)), weights=w))}
