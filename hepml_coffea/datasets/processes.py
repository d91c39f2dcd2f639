"""Parton-level event generation for each process, and the process table (cross sections).

Each generator returns a :class:`Truth` record of padded numpy arrays: the final-state partons
(which become jets), the prompt charged leptons and the neutrino pT sum. Resonances get
Breit–Wigner masses and decay through :func:`~hepml_coffea.datasets.physics.two_body_decay`
with full boosts; final-state radiation splits a parton in two with momentum conserved, and
initial-state radiation adds extra partons with a power-law pT spectrum.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hepml_coffea.datasets import physics as ph

__all__ = [
    "ALTERNATIVE_PROCESSES",
    "MC_PROCESSES",
    "PROCESSES",
    "SIMULATED",
    "Process",
    "Truth",
    "generate_truth",
]

M_TOP, W_TOP = 172.5, 1.42
M_W, W_W = 80.4, 2.085
M_Z, W_Z = 91.1876, 2.4952
M_MU, M_E = 0.10566, 0.000511
TW_FRACTION = 20.9 / 67.8
"""tW share of the single-top effective cross section (t-channel 46.9 pb + tW 20.9 pb)."""
FSR_PROB = 0.12
"""Probability that a decay quark radiates a wide-angle gluon (becomes two jets)."""


@dataclass(frozen=True)
class Process:
    """A generated process.

    Attributes
    ----------
    name : str
        Dataset name.
    xsec : float
        Effective cross section of the generated phase space in pb (σ × BR(ℓ = e, μ) × the
        fraction of the inclusive process our phase space stands for; see the module table).
    label : int
        1 for signal, 0 for background.
    genweight : float
        |genWeight| of every event (constant per process, as for a POWHEG/aMC@NLO sample).
    negative_weight_fraction : float
        Default fraction of events with negative genWeight.
    index : int
        Seed stream of the process.
    process : str
        Physics process (``metadata["process"]`` of the fileset: the histograms' process axis).
    variation : str
        For an alternative sample, the variation of ``process`` it stands for (else "").
    generator : str
        Key of the parton-level generator (default: ``name``).
    fsr_prob : float
        Probability that a decay quark radiates a wide-angle gluon.
    """

    name: str
    xsec: float
    label: int
    genweight: float
    negative_weight_fraction: float
    index: int
    process: str
    variation: str = ""
    generator: str = ""
    fsr_prob: float = FSR_PROB


# Effective cross sections (pb) for the generated phase space, ℓ = e, μ:
#   ttbar_semilep: 831.76 pb (NNLO+NNLL, 13 TeV) × 2 × 0.216 × 0.674 = 242.2 pb
#   single_top:    t-channel 217.0 pb × 0.216 = 46.9 pb + tW 71.7 pb × 2 × 0.216 × 0.674 = 20.9 pb
#   wjets:         W(→eν, μν) + ≥2 partons (pT > 25 GeV): the W + jets tail that passes a
#                  1ℓ + jets selection (tuned so that W+jets is ≈ 20% after ≥4 jets, ≥1 b)
#   dy:            Z/γ*(→ee, μμ, 60 < m < 120 GeV) + ≥2 partons (pT > 25 GeV)
MC_PROCESSES: dict[str, Process] = {
    p.name: p
    for p in [
        Process("ttbar_semilep", 242.2, 1, 1.0, 0.03, 1, "ttbar"),
        Process("wjets", 1520.0, 0, 1.0, 0.0, 2, "wjets"),
        Process("single_top", 67.8, 0, 1.0, 0.02, 3, "single_top"),
        Process("dy", 420.0, 0, 23.2, 0.05, 4, "dy"),
    ]
}
PROCESSES: dict[str, float] = {name: p.xsec for name, p in MC_PROCESSES.items()} | {"data": 0.0}
# another ttbar tune: 1.5 x the FSR rate; fills only the variation ttbar_tuneUp of ttbar
_TUNE = Process("ttbar_tune", 242.2, 1, 1.0, 0.03, 5, "ttbar", variation="ttbar_tuneUp",
                generator="ttbar_semilep", fsr_prob=1.5 * FSR_PROB)  # fmt: skip
ALTERNATIVE_PROCESSES: dict[str, Process] = {_TUNE.name: _TUNE}
"""Alternative samples: generated only when named in ``processes``, never in the pseudo-data."""
SIMULATED: dict[str, Process] = MC_PROCESSES | ALTERNATIVE_PROCESSES
"""Names of all processes → effective cross section in pb (``data`` has none: 0)."""


@dataclass
class Truth:
    """Parton-level final state of ``n`` events, padded to fixed slot counts.

    partons : (n, K, 4) four-vectors (GeV); pflav (n, K) |PDG id| (21 = gluon); pvalid (n, K).
    leptons : (n, L, 4); lpdg (n, L) signed PDG id; lvalid (n, L).
    nu : (n, 2) vector sum (px, py) of the neutrinos (GeV).
    fsr_n, fsr_m : (n,) decay quarks that radiated / could radiate; fsr_p their probability.
    isr_n : (n,) Poisson count of ISR partons, capped at ``isr_cap``; isr_mean its mean.
    gen_p4 : (n, G, 4) generator particles (tops, W/Z, b, W/Z daughters, FSR copies);
    gen_pdg, gen_flags, gen_valid : (n, G); gen_mother, gen_status : (G,) (mother slot, -1 none).
    lepton_gen : (L,) generator slot of each lepton slot.
    """

    partons: np.ndarray
    pflav: np.ndarray
    pvalid: np.ndarray
    leptons: np.ndarray
    lpdg: np.ndarray
    lvalid: np.ndarray
    nu: np.ndarray
    fsr_n: np.ndarray
    fsr_m: np.ndarray
    fsr_p: float
    isr_n: np.ndarray
    isr_mean: float
    isr_cap: int
    gen_p4: np.ndarray
    gen_pdg: np.ndarray
    gen_flags: np.ndarray
    gen_valid: np.ndarray
    gen_mother: np.ndarray
    gen_status: np.ndarray
    lepton_gen: np.ndarray


# GenPart_statusFlags bits (NanoAOD)
PROMPT, HARD, FROM_HARD, FIRST_COPY, LAST_COPY = 1, 1 << 7, 1 << 8, 1 << 12, 1 << 13
_HARD_FLAGS = PROMPT | HARD | FROM_HARD | FIRST_COPY


class _Builder:
    """Collects parton and lepton slots, then stacks them into a :class:`Truth`."""

    def __init__(self, rng: np.random.Generator, n: int, fsr_prob: float = FSR_PROB) -> None:
        self.rng, self.n, self.fsr_prob = rng, n, fsr_prob
        self.fsr_n = np.zeros(n, np.int64)
        self.fsr_m = np.zeros(n, np.int64)
        self.isr_n = np.zeros(n, np.int64)
        self.isr_mean, self.isr_cap = 0.0, 1
        self.partons: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.leptons: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.nu = np.zeros((n, 2))
        self.gen: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]] = []
        self.lepton_gen: list[int] = []

    def genpart(
        self,
        p4: np.ndarray,
        pdg: np.ndarray | int,
        mother: int = -1,
        valid: np.ndarray | None = None,
        status: int = 22,
        flags: np.ndarray | int = _HARD_FLAGS | LAST_COPY,
    ) -> int:
        """Record a generator particle (a ``GenPart`` slot); returns its slot."""
        n = self.n
        valid = np.ones(n, bool) if valid is None else valid
        pdg = np.broadcast_to(np.asarray(pdg, np.int32), (n,))
        flags = np.broadcast_to(np.asarray(flags, np.int32), (n,))
        self.gen.append((p4, pdg, flags, valid, mother, status))
        return len(self.gen) - 1

    def jet_mass(self, flav: int | np.ndarray) -> np.ndarray:
        """Effective (hadronised) jet mass; FSR-candidates get a wide virtuality instead."""
        base = self.rng.uniform(2.0, 9.0, self.n) + np.where(np.asarray(flav) == 5, 3.0, 0.0)
        return base

    def quark(
        self,
        p4: np.ndarray,
        flav: np.ndarray | int,
        fsr: np.ndarray | None = None,
        valid: np.ndarray | None = None,
        *,
        pdg: np.ndarray | None = None,
        mother: int = -1,
    ) -> None:
        """Add a final-state quark (where ``valid``); where ``fsr`` it splits into quark + gluon.

        With ``pdg`` it is also a generator particle (daughter of slot ``mother``); where it
        radiates, a last copy with the momentum after radiation follows, as in NanoAOD.
        """
        flav = np.broadcast_to(np.asarray(flav, dtype=np.int32), (self.n,))
        valid = np.ones(self.n, bool) if valid is None else valid
        slot = -1
        if pdg is not None:
            last = np.where(fsr, 0, LAST_COPY) if fsr is not None else LAST_COPY
            slot = self.genpart(p4, pdg, mother, valid, 23, _HARD_FLAGS | last)
        if fsr is None:
            self.partons.append((p4, flav, valid))
            return
        self.fsr_n += fsr & valid
        self.fsr_m += valid
        q, g = ph.two_body_decay(
            self.rng, p4, self.rng.uniform(2.0, 8.0, self.n), self.rng.uniform(1.0, 6.0, self.n)
        )
        if pdg is not None:
            self.genpart(q, pdg, slot, fsr & valid, 52, PROMPT | FROM_HARD | LAST_COPY)
        self.partons.append((np.where(fsr[:, None], q, p4), flav, valid))
        self.partons.append((g, np.full(self.n, 21, np.int32), fsr & valid))

    def virtual_mass(self, flav: int | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mass, fsr-flag) for a quark about to be produced in a decay."""
        fsr = self.rng.random(self.n) < self.fsr_prob
        m = np.where(fsr, self.rng.uniform(14.0, 28.0, self.n), self.jet_mass(flav))
        return m, fsr

    def lepton(self, p4: np.ndarray, pdg: np.ndarray, mother: int = -1) -> None:
        self.leptons.append((p4, pdg.astype(np.int32), np.ones(self.n, bool)))
        self.lepton_gen.append(self.genpart(p4, pdg, mother, status=1))

    def neutrino(self, p4: np.ndarray, pdg: np.ndarray, mother: int = -1) -> None:
        self.nu += p4[:, 1:3]
        self.genpart(p4, pdg, mother, status=1)

    def isr(
        self,
        mean: float,
        heavy: tuple[float, float] = (0.03, 0.02),
        *,
        nmin: int = 0,
        ptmin: float = 15.0,
        kmax: int = 5,
    ) -> None:
        """``nmin`` + Poisson(``mean``) extra partons (at most ``kmax``), pT = ``ptmin`` U^(-1/2.2)
        GeV, η ~ N(0, 1.8); ``heavy`` = (c, b) fractions, the rest gluons (80%) and light quarks."""
        rng, n = self.rng, self.n
        self.isr_n = np.minimum(rng.poisson(mean, n), kmax - nmin)
        self.isr_mean, self.isr_cap = mean, kmax - nmin
        nisr = nmin + self.isr_n
        for k in range(kmax):
            pt = np.minimum(ptmin * rng.random(n) ** (-1.0 / 2.2), 800.0)
            eta = rng.normal(0.0, 1.8, n)
            phi = rng.uniform(-np.pi, np.pi, n)
            u = rng.random(n)
            flav = np.where(u < heavy[1], 5, np.where(u < heavy[0] + heavy[1], 4, 21))
            flav = np.where((flav == 21) & (rng.random(n) < 0.2), rng.integers(1, 4, n), flav)
            p4 = ph.from_pt_eta_phi_m(pt, eta, phi, pt * rng.uniform(0.04, 0.14, n))
            self.partons.append((p4, flav.astype(np.int32), nisr > k))

    def lepton_flavour(self, charge_sign: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Random e/μ with the given charge sign; returns (signed pdgId, mass)."""
        mu = self.rng.random(self.n) < 0.5
        apdg = np.where(mu, 13, 11)
        return -charge_sign * apdg, np.where(mu, M_MU, M_E)

    def w_decay(
        self,
        w: np.ndarray,
        sign: np.ndarray,
        *,
        leptonic: bool,
        valid: np.ndarray | None = None,
        mother: int = -1,
    ) -> None:
        """W^(sign) → ℓν or → q q̄′ (ud or cs; the quarks exist where ``valid``); ``mother`` is
        the W's generator slot."""
        if leptonic:
            pdg, ml = self.lepton_flavour(sign)
            lep, nu = ph.two_body_decay(self.rng, w, ml, 0.0)
            self.lepton(lep, pdg, mother)
            self.neutrino(nu, sign * (np.abs(pdg) + 1), mother)
        else:
            cs = self.rng.random(self.n) < 0.5
            f1, f2 = np.where(cs, 4, 2), np.where(cs, 3, 1)
            (m1, fsr1), (m2, fsr2) = self.virtual_mass(f1), self.virtual_mass(f2)
            q1, q2 = ph.two_body_decay(self.rng, w, m1, m2)
            self.quark(q1, f1, fsr1, valid, pdg=sign * f1, mother=mother)
            self.quark(q2, f2, fsr2, valid, pdg=-sign * f2, mother=mother)

    def top_decay(self, top: np.ndarray, sign: np.ndarray, *, leptonic: bool) -> None:
        """t → b W with a Breit–Wigner W mass below the kinematic limit (``sign`` +1: t)."""
        slot = self.genpart(top, 6 * sign)
        mb, fsr = self.virtual_mass(5)
        mt = ph.mass(top)
        mw = ph.breit_wigner(
            self.rng, M_W, W_W, self.n, low=60.0, high=np.minimum(110.0, mt - mb - 1.0)
        )
        b, w = ph.two_body_decay(self.rng, top, mb, mw)
        wslot = self.genpart(w, 24 * sign, slot)
        self.quark(b, 5, fsr, pdg=5 * sign, mother=slot)
        self.w_decay(w, sign, leptonic=leptonic, mother=wslot)

    def build(self) -> Truth:
        def stack(items, n):
            if not items:
                return np.zeros((n, 0, 4)), np.zeros((n, 0), np.int32), np.zeros((n, 0), bool)
            return (
                np.stack([i[0] for i in items], axis=1),
                np.stack([i[1] for i in items], axis=1),
                np.stack([i[2] for i in items], axis=1),
            )

        p, pf, pv = stack(self.partons, self.n)
        lep, lpdg, lv = stack(self.leptons, self.n)
        n, g = self.n, self.gen
        if g:
            gp4 = np.stack([x[0] for x in g], axis=1)
            gpdg, gflags, gvalid = (np.stack([x[i] for x in g], axis=1) for i in (1, 2, 3))
        else:
            gp4, gpdg = np.zeros((n, 0, 4)), np.zeros((n, 0), np.int32)
            gflags, gvalid = np.zeros((n, 0), np.int32), np.zeros((n, 0), bool)
        mother = np.array([x[4] for x in g], np.int64)
        status = np.array([x[5] for x in g], np.int32)
        return Truth(p, pf, pv, lep, lpdg, lv, self.nu, self.fsr_n, self.fsr_m, self.fsr_prob,
                     self.isr_n, self.isr_mean, self.isr_cap, gp4, gpdg, gflags, gvalid, mother,
                     status, np.array(self.lepton_gen, np.int64))  # fmt: skip


def _ttbar(b: _Builder) -> None:
    rng, n = b.rng, b.n
    m1 = ph.breit_wigner(rng, M_TOP, W_TOP, n, low=150.0, high=195.0)
    m2 = ph.breit_wigner(rng, M_TOP, W_TOP, n, low=150.0, high=195.0)
    shat = m1 + m2 + rng.exponential(110.0, n) + 1.0
    pair = ph.produce(rng, shat, pt_scale=35.0, y_sigma=0.9)
    t1, t2 = ph.two_body_decay(rng, pair, m1, m2)
    sign = np.where(rng.random(n) < 0.5, 1, -1)  # t1 is the top (+1) or the antitop (-1)
    b.top_decay(t1, sign, leptonic=True)
    b.top_decay(t2, -sign, leptonic=False)
    b.isr(1.4)


def _single_top(b: _Builder) -> None:
    """t-channel (69%) and tW (31%, the associated W → q q̄′), t → b ℓ ν."""
    rng, n = b.rng, b.n
    tw = rng.random(n) < TW_FRACTION
    mt = ph.breit_wigner(rng, M_TOP, W_TOP, n, low=150.0, high=195.0)
    mw = ph.breit_wigner(rng, M_W, W_W, n, low=60.0, high=110.0)
    pair = ph.produce(rng, mt + mw + rng.exponential(90.0, n) + 1.0, pt_scale=30.0, y_sigma=0.9)
    top_tw, w = ph.two_body_decay(rng, pair, mt, mw)
    top = np.where(tw[:, None], top_tw, ph.produce(rng, mt, pt_scale=45.0, y_sigma=1.1))
    sign = np.where(rng.random(n) < 0.62, 1, -1)  # t : t̄ ≈ 62 : 38 at the LHC
    b.top_decay(top, sign, leptonic=True)
    wslot = b.genpart(w, -24 * sign, valid=tw)
    b.w_decay(w, -sign, leptonic=False, valid=tw, mother=wslot)
    # t-channel: the forward, hard spectator quark ...
    pt = 20.0 + rng.exponential(35.0, n)
    eta = np.where(rng.random(n) < 0.5, 1.0, -1.0) * np.abs(rng.normal(2.3, 0.9, n))
    phi = rng.uniform(-np.pi, np.pi, n)
    q = ph.from_pt_eta_phi_m(pt, eta, phi, rng.uniform(2.0, 8.0, n))
    b.partons.append((q, rng.integers(1, 3, n).astype(np.int32), ~tw))
    # ... and the second b from initial-state gluon splitting, soft and often lost
    pt = 12.0 + rng.exponential(18.0, n)
    bb = ph.from_pt_eta_phi_m(
        pt, rng.normal(0.0, 1.8, n), rng.uniform(-np.pi, np.pi, n), np.full(n, 6.0)
    )
    b.partons.append((bb, np.full(n, 5, np.int32), ~tw & (rng.random(n) < 0.6)))
    b.isr(1.8)


def _wjets(b: _Builder) -> None:
    rng, n = b.rng, b.n
    mw = ph.breit_wigner(rng, M_W, W_W, n, low=40.0, high=200.0)
    w = ph.produce(rng, mw, pt_scale=30.0, y_sigma=1.3)
    sign = np.where(rng.random(n) < 0.58, 1, -1)  # W+ : W− ≈ 58 : 42
    b.w_decay(w, sign, leptonic=True, mother=b.genpart(w, 24 * sign))
    b.isr(1.6, heavy=(0.08, 0.04), nmin=2, ptmin=25.0, kmax=6)


def _dy(b: _Builder) -> None:
    rng, n = b.rng, b.n
    mz = ph.breit_wigner(rng, M_Z, W_Z, n, low=60.0, high=120.0)
    z = ph.produce(rng, mz, pt_scale=20.0, y_sigma=1.4)
    pdg, ml = b.lepton_flavour(np.ones(n, np.int64))
    l1, l2 = ph.two_body_decay(rng, z, ml, ml)
    zslot = b.genpart(z, 23)
    b.lepton(l1, pdg, zslot)
    b.lepton(l2, -pdg, zslot)
    b.isr(1.6, heavy=(0.06, 0.03), nmin=2, ptmin=25.0, kmax=6)


_GENERATORS: dict[str, Callable[[_Builder], None]] = {
    "ttbar_semilep": _ttbar,
    "single_top": _single_top,
    "wjets": _wjets,
    "dy": _dy,
}


def generate_truth(
    process: str, rng: np.random.Generator, n: int, fsr_prob: float | None = None
) -> Truth:
    """Parton-level final state of ``n`` events of ``process`` (a key of ``SIMULATED``);
    ``fsr_prob`` is the probability that a decay quark radiates (default: the process's)."""
    p = SIMULATED[process]
    b = _Builder(rng, n, p.fsr_prob if fsr_prob is None else fsr_prob)
    _GENERATORS[p.generator or p.name](b)
    return b.build()
