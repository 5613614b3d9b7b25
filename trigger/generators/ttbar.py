"""Semileptonic ttbar at 13 TeV: the regression's dataset (top momentum with an escaping neutrino).

Processes: `lplus` (W+ -> e+/mu+ nu, W- -> quarks) and `lminus` (charge conjugate), so
both lepton charges appear in equal numbers; tau decays are not included. Pythia:
Top:gg2ttbar + Top:qqbar2ttbar, default top mass 172.5 GeV.

Reco level (trigger/generators/detector.py): isolated lepton, anti-kT R=0.4 jets with smearing
and b-tags, MET from reconstructed objects. Selection: exactly one isolated e/mu with
pT > 25 GeV, |eta| < 2.4, and >= 4 jets with pT > 25 GeV, |eta| < 2.4.

Truth: t, tbar, the leptonic top (`tlep`), the leptonic W (`wlep`), the neutrino (`nu`),
each as px, py, pz, e. `mjj_w` is the mass of the two reco jets matched (dR < 0.4) to
the hadronic W's quarks, -1 when they are not both matched: the W-mass sanity check.
"""

from dataclasses import dataclass, field
from typing import ClassVar, Literal

import awkward as ak
import numpy as np

from trigger.generators.base import Generator
from trigger.generators.card import FOUR_VECTOR, histograms, invariant_mass, merged
from trigger.generators.detector import DetectorSettings, reconstruct
from trigger.generators.pythia import delta_r, four_vectors, kinematics, run_chunk

LEPTONIC = {"lplus": ("24:onPosIfAny = 11 13", "24:onNegIfAny = 1 2 3 4 5"),
            "lminus": ("24:onNegIfAny = 11 13", "24:onPosIfAny = 1 2 3 4 5")}


@dataclass
class TtbarGenerator(Generator):
    """Semileptonic ttbar (e/mu + jets) at reco level with truth tops, W and neutrino."""

    name: Literal["ttbar"] = "ttbar"
    events: int = 50000  # selected events per lepton charge (processes lplus, lminus)
    chunk_events: int = 1000
    ecm_gev: float = 13000.0
    lepton_pt_min_gev: float = 25.0
    lepton_eta_max: float = 2.4
    jet_pt_min_gev: float = 25.0
    jet_eta_max: float = 2.4
    min_jets: int = 4
    detector: DetectorSettings = field(default_factory=DetectorSettings)
    mpi: bool = True
    workers: int = 0

    CARD_BRANCHES: ClassVar[list[str]] = ["lep_pt", "lep_charge", "MET_pt", "nJet", "Jet_btag", "mjj_w", "nu_px", "nu_py",
                                          *(f"{v}_{c}" for v in ("top", "tlep", "wlep") for c in FOUR_VECTOR)]

    def process_names(self) -> list[str]:
        return list(LEPTONIC)

    def pythia_settings(self, process: str) -> list[str]:
        return [f"Beams:eCM = {self.ecm_gev}", "Top:gg2ttbar = on", "Top:qqbar2ttbar = on", "24:onMode = off",
                *LEPTONIC[process], f"PartonLevel:MPI = {'on' if self.mpi else 'off'}"]

    def make_chunk(self, process: str, seed: int, n: int) -> tuple[dict, dict]:
        rng = np.random.default_rng(seed)
        columns, meta = run_chunk(self.pythia_settings(process), seed, n, lambda events: _select(events, self, rng))
        return columns, {"process": process, **meta,
                         "note": "sigma is for the forced decay (W+ or W- to e/mu nu, the other to quarks)"}

    def sanity(self, data: dict) -> dict:
        d = merged(data)
        mjj = ak.to_numpy(d["mjj_w"])
        nu_pt = np.hypot(ak.to_numpy(d["nu_px"]), ak.to_numpy(d["nu_py"]))
        charge = ak.to_numpy(d["lep_charge"])
        return {
            "hadronic W mass from matched reco jets, median [GeV]": (float(np.median(mjj[mjj > 0])), "near 80"),
            "fraction of events with both W jets matched": (float(np.mean(mjj > 0)), "-"),
            "truth top mass, median [GeV]": (float(np.median(invariant_mass(d, "top"))), "near 173 (172.5 in Pythia)"),
            "truth leptonic W mass, median [GeV]": (float(np.median(invariant_mass(d, "wlep"))), "near 80.4"),
            "correlation MET vs neutrino pT": (float(np.corrcoef(ak.to_numpy(d["MET_pt"]), nu_pt)[0, 1]), "> 0.7"),
            "fraction of positive leptons": (float(np.mean(charge > 0)), "0.5 (one process per charge)"),
        }

    def card_plots(self, data: dict, directory) -> list[tuple[str, str]]:
        top_pt = lambda c: np.hypot(c["tlep_px"], c["tlep_py"])  # noqa: E731
        panels = [
            ("lep_pt", "lepton pT [GeV]", np.linspace(0, 300, 61), True),
            ("MET_pt", "MET [GeV]", np.linspace(0, 300, 61), True),
            ("nJet", "jet multiplicity (pT > 25 GeV)", np.arange(3.5, 15.5), True),
            (top_pt, "truth leptonic top pT [GeV]", np.linspace(0, 600, 61), True),
            ("tlep_pz", "truth leptonic top pz [GeV]", np.linspace(-1500, 1500, 61), True),
            (lambda c: c["mjj_w"][c["mjj_w"] > 0], "matched dijet mass (hadronic W) [GeV]", np.linspace(0, 200, 51), False),
        ]
        histograms(directory / "distributions.png", data, panels)
        return [("lepton pT, MET, jet multiplicity, truth top pT/pz, hadronic W mass", "distributions.png")]


def _select(events, cfg: TtbarGenerator, rng) -> dict:
    prt = events.prt
    reco = reconstruct(prt, cfg.detector, rng, lepton_pt_min=cfg.lepton_pt_min_gev)
    lep = reco["leptons"]
    lep = lep[lep.isolated & (abs(lep.eta) < cfg.lepton_eta_max)]
    jets = reco["jets"]
    jets = jets[(jets.pt > cfg.jet_pt_min_gev) & (abs(jets.eta) < cfg.jet_eta_max)]
    keep = (ak.num(lep) == 1) & (ak.num(jets) >= cfg.min_jets)
    prt, lep, jets = prt[keep], ak.firsts(lep[keep]), jets[keep]

    out = {
        "lep_pt": lep.pt, "lep_eta": lep.eta, "lep_phi": lep.phi, "lep_e": lep.pt * np.cosh(lep.eta),
        "lep_charge": lep.charge, "lep_pdg": lep.pdg,
        "MET_pt": reco["met_pt"][ak.to_numpy(keep)], "MET_phi": reco["met_phi"][ak.to_numpy(keep)],
    }  # fmt: skip
    out = {k: np.asarray(ak.to_numpy(v), dtype=np.float32) for k, v in out.items()}
    out.update(_truth(prt))
    out["mjj_w"] = _matched_w_mass(prt, jets)
    out["Jet"] = ak.zip({f: ak.values_astype(jets[f], np.float32) for f in ("pt", "eta", "phi", "mass", "btag", "flavour")})
    return out


def _last_copy(prt, pid):
    """The decaying copy (status -62) of the particle with this PDG id: one per event."""
    return ak.firsts(prt[(prt.id == pid) & (prt.status == -62)])


def _truth(prt) -> dict:
    top, antitop = _last_copy(prt, 6), _last_copy(prt, -6)
    nu_from_w = ((abs(prt.id) == 12) | (abs(prt.id) == 14)) & (abs(prt.id[prt.mother1]) == 24)
    nu, wlep = ak.firsts(prt[nu_from_w]), ak.firsts(prt[prt.mother1][nu_from_w])
    tlep_is_top = ak.to_numpy(ak.fill_none(wlep.id > 0, False))  # t -> W+ b
    out = {f"{name}_{comp}": ak.to_numpy(ak.fill_none(particle.p[comp], 0.0)).astype(np.float32)
           for name, particle in (("top", top), ("antitop", antitop), ("wlep", wlep), ("nu", nu)) for comp in FOUR_VECTOR}
    return out | {f"tlep_{comp}": np.where(tlep_is_top, out[f"top_{comp}"], out[f"antitop_{comp}"]) for comp in FOUR_VECTOR}


def _matched_w_mass(prt, jets) -> np.ndarray:
    quarks = prt[(abs(prt.status) == 23) & (abs(prt.id) <= 5) & (abs(prt.id[prt.mother1]) == 24)]
    _, q_eta, q_phi, _ = kinematics(four_vectors(quarks))
    pairs = ak.cartesian({"q": ak.zip({"eta": q_eta, "phi": q_phi}), "j": ak.zip({"eta": jets.eta, "phi": jets.phi})}, nested=True)
    dr = delta_r(pairs.q.eta, pairs.q.phi, pairs.j.eta, pairs.j.phi)
    best = ak.argmin(dr, axis=2, keepdims=True)
    best_dr = ak.flatten(dr[best], axis=2)
    best_jet = ak.flatten(best, axis=2)
    matched = ak.fill_none(best_dr < 0.4, False)
    ok = (ak.sum(matched, axis=1) == 2) & (ak.num(quarks) == 2)
    ok = ok & ak.fill_none(ak.firsts(best_jet) != ak.firsts(best_jet[:, 1:]), False)
    j = jets[ak.fill_none(best_jet, 0)]
    px = ak.sum(j.pt * np.cos(j.phi), axis=1)
    py = ak.sum(j.pt * np.sin(j.phi), axis=1)
    pz = ak.sum(j.pt * np.sinh(j.eta), axis=1)
    e = ak.sum(np.sqrt((j.pt * np.cosh(j.eta)) ** 2 + j.mass**2), axis=1)
    mass = np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0.0))
    return np.where(ak.to_numpy(ok), ak.to_numpy(mass), -1.0).astype(np.float32)
