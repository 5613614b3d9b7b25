"""How well can (px, py, pz, E) of the leptonic top be known from the reco-level inputs at all?

Analytic estimators of top = lepton + neutrino + b, each with one error source removed (true
neutrino, W-mass-constrained neutrino pz with an oracle choice of the solution, the jet closest
to the true b, ...): the R^2 they reach bounds what the regressor can be asked for, and says
which ambiguity costs what. Numpy only, on the spec's cached ttbar sample (`make data`).
Run: .venv/bin/python models/top_regression/ceiling.py > models/top_regression/ceiling.txt
"""
import glob
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

from trigger.generators import dataset_dir
from trigger.spec import load_spec

SPEC = load_spec(Path(__file__).with_name("spec.yml"))
FILES = sorted(glob.glob(str(dataset_dir(SPEC.data.generator, SPEC.data.seed) / "*.root")))
MW, MT, NJ = 80.4, 172.5, 6
br = ['lep_pt','lep_eta','lep_phi','lep_e','MET_pt','MET_phi',
      'tlep_px','tlep_py','tlep_pz','tlep_e','wlep_px','wlep_py','wlep_pz','wlep_e',
      'nu_px','nu_py','nu_pz','nu_e','Jet_pt','Jet_eta','Jet_phi','Jet_mass','Jet_btag']
a = ak.concatenate([uproot.open(f)['events'].arrays(br) for f in FILES])
N = len(a); print('events', N)
f = lambda k: ak.to_numpy(a[k]).astype(np.float64)

def p4(pt, eta, phi, m=None, e=None):
    px, py, pz = pt*np.cos(phi), pt*np.sin(phi), pt*np.sinh(eta)
    if e is None: e = np.sqrt(px**2+py**2+pz**2+m**2)
    return np.stack([px, py, pz, e], -1)

lep = p4(f('lep_pt'), f('lep_eta'), f('lep_phi'), e=f('lep_e'))
met = np.stack([f('MET_pt')*np.cos(f('MET_phi')), f('MET_pt')*np.sin(f('MET_phi'))], -1)
top = np.stack([f('tlep_'+c) for c in ('px','py','pz','e')], -1)
W   = np.stack([f('wlep_'+c) for c in ('px','py','pz','e')], -1)
nu  = np.stack([f('nu_'+c) for c in ('px','py','pz','e')], -1)
bq  = top - W                                   # truth b quark
pad = lambda k, v: ak.to_numpy(ak.fill_none(ak.pad_none(a[k], NJ, clip=True), v)).astype(np.float64)
jpt, jeta, jphi, jm, jb = pad('Jet_pt',0), pad('Jet_eta',0), pad('Jet_phi',0), pad('Jet_mass',0), pad('Jet_btag',0)
valid = jpt > 0
jets = p4(jpt, jeta, jphi, m=jm)               # (N,6,4)

def nu4(pxy, pz):
    return np.concatenate([pxy, pz[:, None], np.sqrt((pxy**2).sum(1)+pz**2)[:, None]], 1)

def wsol(l, pxy):
    """two W-mass-constraint pz solutions (real part if complex); returns (small|pz|, large|pz|)"""
    mu = MW**2/2 + l[:,0]*pxy[:,0] + l[:,1]*pxy[:,1]
    A = l[:,3]**2 - l[:,2]**2
    C = l[:,3]**2*(pxy**2).sum(1) - mu**2
    disc = (mu*l[:,2])**2 - A*C
    r = np.sqrt(np.clip(disc, 0, None))
    s1, s2 = (mu*l[:,2] + r)/A, (mu*l[:,2] - r)/A
    sm = np.where(np.abs(s1) <= np.abs(s2), s1, s2); lg = np.where(np.abs(s1) <= np.abs(s2), s2, s1)
    return sm, lg, disc < 0

def mass(v): return np.sqrt(np.clip(v[...,3]**2-(v[...,:3]**2).sum(-1), 0, None))
def r2(pred, true=top):
    return 1 - ((pred-true)**2).sum(0)/((true-true.mean(0))**2).sum(0)

# dR match of truth b to leading-6 jets
bpt = np.hypot(bq[:,0], bq[:,1]); beta = np.arcsinh(bq[:,2]/bpt); bphi = np.arctan2(bq[:,1], bq[:,0])
dphi = (jphi - bphi[:,None] + np.pi) % (2*np.pi) - np.pi
dR = np.where(valid, np.hypot(jeta-beta[:,None], dphi), 99.)
imatch = dR.argmin(1); matched = dR[np.arange(N), imatch] < 0.4
jmatch = jets[np.arange(N), imatch]

def pick_b(l, n):
    """b-tagged jet (leading 6) minimising |m(l nu j)-172.5|; all jets if no b-tag"""
    m = mass(l[:,None]+n[:,None]+jets)
    has = ((jb > 0.5) & valid).any(1)
    ok = np.where(has[:,None], (jb > 0.5) & valid, valid)
    i = np.where(ok, np.abs(m-MT), np.inf).argmin(1)
    return i, jets[np.arange(N), i]

def pick_joint(l, pxy):
    """joint choice of (b-jet, pz solution) minimising |m_top-172.5| (b-tagged first)"""
    sm, lg, _ = wsol(l, pxy)
    best = np.full(N, np.inf); out = np.zeros((N,4)); ib = np.zeros(N, int)
    has = ((jb > 0.5) & valid).any(1); ok = np.where(has[:,None], (jb > 0.5) & valid, valid)
    for pz in (sm, lg):
        n = nu4(pxy, pz); t = l[:,None]+n[:,None]+jets
        d = np.where(ok, np.abs(mass(t)-MT), np.inf); i = d.argmin(1); dm = d[np.arange(N), i]
        upd = dm < best; best[upd] = dm[upd]; out[upd] = t[np.arange(N), i][upd]; ib[upd] = i[upd]
    return out, ib

rows = []
def add(name, pred): rows.append((name, r2(pred)))

# 1-4: one error source at a time on top of truth
add('1 lep + true nu + true b', lep + nu + bq)
add('2 lep + MET(px,py),true pz + true b', lep + nu4(met, nu[:,2]) + bq)
sm, lg, cplx = wsol(lep, nu[:,:2])
near = np.where(np.abs(sm-nu[:,2]) <= np.abs(lg-nu[:,2]), sm, lg)
add('3 lep + true nuT, W-pz(small|pz|) + true b', lep + nu4(nu[:,:2], sm) + bq)
add('3o  same, oracle pz solution', lep + nu4(nu[:,:2], near) + bq)
frac_small_right = np.mean(np.abs(sm-nu[:,2]) <= np.abs(lg-nu[:,2]))
add('4 lep + true nu + dR-closest jet', lep + nu + jmatch)
rows.append(('4m  same, only dR<0.4 events*', r2((lep+nu+jmatch)[matched], top[matched])))

# 5: full reco + variants removing one error source
smM, lgM, cplxM = wsol(lep, met)
nuM = nu4(met, smM)
ib5, b5 = pick_b(lep, nuM)
add('5 FULL RECO: MET, W-pz small, b heuristic', lep + nuM + b5)
frac_b_right = np.mean(ib5 == imatch); frac_b_right_m = np.mean((ib5 == imatch)[matched])
tj, ibj = pick_joint(lep, met)
add('5j full reco, joint (jet,pz) by m_top', tj)
frac_bj_right = np.mean(ibj == imatch)
# remove b-choice error
add('5a full, but b = dR-closest jet', lep + nuM + jmatch)
add('5b full, but b = true b quark', lep + nuM + bq)
# remove neutrino errors
nearM = np.where(np.abs(smM-nu[:,2]) <= np.abs(lgM-nu[:,2]), smM, lgM)
n = nu4(met, nearM); add('5c full, but oracle pz solution', lep + n + pick_b(lep, n)[1])
n = nu4(met, nu[:,2]); add('5d full, but true nu pz (MET px,py)', lep + n + pick_b(lep, n)[1])
s2_, _, _ = wsol(lep, nu[:,:2]); n = nu4(nu[:,:2], s2_)
add('5e full, but true nu pT (W-pz small)', lep + n + pick_b(lep, n)[1])
add('5f full, but true nu (all 3)', lep + nu + pick_b(lep, nu)[1])
add('5g full, true nu + dR-closest jet (=4)', lep + nu + jmatch)
add('5h full, oracle pz + dR-closest jet', lep + nu4(met, nearM) + jmatch)

print(f"{'estimator':46s} {'px':>6s} {'py':>6s} {'pz':>6s} {'E':>6s}")
for nm, v in rows: print(f"{nm:46s} " + " ".join(f"{x:6.3f}" for x in v))
print(f"* matched subset R2 uses that subset's own variance")
print(f"W-pz complex fraction: true nuT {cplx.mean():.3f}, MET {cplxM.mean():.3f}")
print(f"smaller-|pz| solution is the closer one: true nuT {frac_small_right:.3f}, MET {np.mean(np.abs(smM-nu[:,2])<=np.abs(lgM-nu[:,2])):.3f}")
print(f"truth b matched to a leading-6 jet with dR<0.4: {matched.mean():.3f}")
print(f"heuristic b-jet == dR-closest jet: all {frac_b_right:.3f}, matched evts {frac_b_right_m:.3f}; joint choice: {frac_bj_right:.3f}")
print(f"events with >=1 b-tag in leading 6: {((jb>0.5)&valid).any(1).mean():.3f}; dR-closest jet b-tagged: {jb[np.arange(N),imatch][matched].mean():.3f}")
print(f"resolution: sd(MET-nuT) px {np.std(met[:,0]-nu[:,0]):.1f}; sd(jet-b) px {np.std((jmatch-bq)[matched,0]):.1f} pz {np.std((jmatch-bq)[matched,2]):.1f} E {np.std((jmatch-bq)[matched,3]):.1f}; sd(top) {np.array2string(top.std(0),precision=0)}")
print(f"median m(lep+nu+bq) {np.median(mass(lep+nu+bq)):.1f}, reco-top mass full {np.median(mass(lep+nuM+b5)):.1f}")

# --- extras: pz-choice accuracy on real-solution events only; top-mass-constrained E
real = ~cplx; realM = ~cplxM
print(f"small-|pz| closer, real-solution events only: true nuT {np.mean((np.abs(sm-nu[:,2])<np.abs(lg-nu[:,2]))[real]):.3f}, MET {np.mean((np.abs(smM-nu[:,2])<np.abs(lgM-nu[:,2]))[realM]):.3f}")
def mconstr(v):  # replace E by sqrt(|p|^2 + mt^2)
    w = v.copy(); w[:,3] = np.sqrt((v[:,:3]**2).sum(1) + MT**2); return w
print("E with m_top constraint E=sqrt(p^2+172.5^2):")
for nm, v in [('1 truth', lep+nu+bq), ('4 true nu + dR jet', lep+nu+jmatch), ('5 full reco', lep+nuM+b5),
              ('5a full + dR jet', lep+nuM+jmatch), ('5h oracle pz + dR jet', lep+nu4(met, nearM)+jmatch)]:
    print(f"   {nm:24s} R2_E {r2(mconstr(v))[3]:.3f}")
print(f"truth top mass sd {np.std(mass(top)):.2f}; unmatched b: truth b pT<25 {np.mean(bpt[~matched]<25):.2f}, |eta|>2.5 {np.mean(np.abs(beta[~matched])>2.5):.2f}")
