"""Fast detector simulation: parton-level :class:`~hepml_coffea.datasets.processes.Truth` →
NanoAOD-like reconstructed columns.

Jets get a pT-dependent resolution and flavour-dependent b-tag discriminants (b / c / light
shapes for DeepJet and CSVv2, correlated through a shared latent score); heavy-flavour jets
produce non-prompt, non-isolated leptons; prompt leptons are isolated and mostly pass the
tight identification; MET is the neutrino pT sum plus jet mismeasurement and unclustered
noise. Everything is vectorised over events on padded arrays, then turned into jagged arrays
sorted by pT, as in NanoAOD.
"""

from __future__ import annotations

from typing import Any

import awkward as ak
import numpy as np
from scipy.special import erf, expit

from hepml_coffea.datasets import physics as ph
from hepml_coffea.datasets.corrections import (
    JER_CONSTANT,
    JER_STOCHASTIC,
    evaluate,
    sample_pileup,
)
from hepml_coffea.datasets.gen import gen_index, genjets, genparts
from hepml_coffea.datasets.jets import (
    pileup_jets,
    poisson_like,
    response_mean,
    semileptonic,
    tagger_inputs,
)
from hepml_coffea.datasets.photons import photons
from hepml_coffea.datasets.processes import M_E, M_MU, Truth
from hepml_coffea.datasets.writer import reduce_precision

__all__ = ["reconstruct"]

# Latent b-tag score s ~ N(mean, 1) by hadronFlavour; the discriminants are logistic in s plus
# noise. Tuned to the 2018 medium working points: DeepJet > 0.2783 keeps ≈ 78% of b, 17% of
# c, 1% of light jets; CSVv2 > 0.8484 keeps ≈ 65% of b, 13% of c, 1% of light jets.
_LATENT_MEAN = {5: 0.657, 4: -1.17, 0: -2.63}


def _sort_jagged(cols: dict[str, np.ndarray], valid: np.ndarray, pt: np.ndarray):
    """Sort padded (n, K) columns by descending pT with invalid slots last.

    Returns the sorted padded columns, the sorted valid mask and the counts; the padding is
    cut to the largest count (the slots beyond it are invalid in every event).
    """
    counts = valid.sum(axis=1)
    width = int(counts.max()) if len(counts) else 0
    order = np.argsort(np.where(valid, -pt, np.inf), axis=1, kind="stable")[:, :width]
    out = {k: np.take_along_axis(v, order, axis=1) for k, v in cols.items()}
    svalid = np.arange(width)[None, :] < counts[:, None]
    return out, svalid, counts


# mantissa bits kept, as NanoAOD's Jet table (eta, phi: 12 bits, rounded where they are made, so
# that what is stored is what JES and MET used; pT and mass keep full precision)
_JET_PRECISION = {"btagDeepFlavB": 10, "btagCSVV2": 10}


def _jagged(
    cols: dict[str, np.ndarray],
    svalid: np.ndarray,
    counts: np.ndarray,
    dtypes: dict,
    precision: dict[str, int] | None = None,
):
    precision = precision or {}

    def store(k, dt):
        x = cols[k][svalid]
        return reduce_precision(x, precision[k]) if k in precision else x.astype(dt)

    return ak.zip({k: ak.unflatten(store(k, dt), counts) for k, dt in dtypes.items()})


def _delta_r(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + np.pi) % (2 * np.pi) - np.pi
    return np.hypot(eta1 - eta2, dphi)


def _match(lep_eta, lep_phi, lvalid, jet_eta, jet_phi, jvalid):
    """Closest jet (ΔR < 0.4) of each lepton, and the first two leptons of each jet."""
    dr = _delta_r(
        lep_eta[:, :, None], lep_phi[:, :, None], jet_eta[:, None, :], jet_phi[:, None, :]
    )
    dr = np.where(lvalid[:, :, None] & jvalid[:, None, :], dr, np.inf)
    if dr.shape[2] == 0:
        jidx = np.full(lep_eta.shape, -1)
    else:
        best = np.argmin(dr, axis=2)
        jidx = np.where(np.take_along_axis(dr, best[:, :, None], 2)[:, :, 0] < 0.4, best, -1)
    eq = (jidx[:, :, None] == np.arange(jet_eta.shape[1])[None, None, :]) & lvalid[:, :, None]
    if eq.shape[1] == 0:  # no lepton in any event of the block
        none = np.full(jet_eta.shape, -1)
        return jidx, none, none, np.zeros(jet_eta.shape, np.int64)
    has1 = eq.any(axis=1)
    idx1 = np.where(has1, eq.argmax(axis=1), -1)
    eq2 = eq & (np.arange(eq.shape[1])[None, :, None] != idx1[:, None, :])
    idx2 = np.where(eq2.any(axis=1), eq2.argmax(axis=1), -1)
    return jidx, idx1, idx2, eq.sum(axis=1)


def _turn_on(pt: ak.Array, threshold: float, width: float) -> ak.Array:
    return 0.5 * (1.0 + erf((pt - threshold) / width))


def _triggers(rng: np.random.Generator, mu: ak.Array, el: ak.Array) -> tuple[Any, Any]:
    """HLT_IsoMu24 and HLT_Ele32_WPTight_Gsf: per lepton a pT turn-on (50% at 25 / 33.5 GeV)
    times an |eta|-dependent plateau (muon 0.95 / 0.93 / 0.90 in barrel / overlap / endcap,
    electron 0.90 / 0.84), isolated/identified leptons only; an event fires with probability
    1 − Π(1 − ε) over its leptons (one uniform per event)."""
    aeta = abs(mu.eta)
    plateau = ak.where(aeta < 0.9, 0.95, ak.where(aeta < 1.2, 0.93, 0.90))
    ok = (mu.pfRelIso04_all < 0.2) & (aeta < 2.4)
    eff_mu = ak.where(ok, plateau * _turn_on(mu.pt, 25.0, 1.5), 0.0)
    aeta = abs(el.eta)
    ok = (el.cutBased >= 3) & (aeta < 2.1)
    eff_el = ak.where(ok, ak.where(aeta < 1.479, 0.90, 0.84) * _turn_on(el.pt, 33.5, 2.0), 0.0)
    out = []
    for eff in (eff_mu, eff_el):
        p = 1.0 - ak.to_numpy(ak.prod(1.0 - eff, axis=1))
        out.append(rng.random((len(p),)) < p)
    return out[0], out[1]


def _btag(rng, hflav):
    """DeepFlavB and CSVV2 discriminants in [0, 1] from a flavour-dependent latent score."""
    mu = np.select([hflav == 5, hflav == 4], [_LATENT_MEAN[5], _LATENT_MEAN[4]], _LATENT_MEAN[0])
    s = rng.normal(mu, 1.0)
    deep = expit(3.5 * (s + rng.normal(0.0, 0.35, s.shape)) - 0.39)
    csv = expit(3.0 * (s + rng.normal(0.0, 0.7, s.shape)) + 1.16)
    return deep, csv


def reconstruct(
    truth: Truth,
    rng: np.random.Generator,
    *,
    data_rng: np.random.Generator | None = None,
    jes_shift: float = 0.0,
) -> dict[str, Any]:
    """Reconstructed NanoAOD-like columns of the events in ``truth``.

    Parameters
    ----------
    truth : Truth
    rng : numpy.random.Generator
        Draws everything the simulation draws, in the same order for pseudo-data.
    data_rng : numpy.random.Generator, optional
        Given: pseudo-data conditions (see :mod:`~hepml_coffea.datasets.corrections`), whose
        extra draws come from ``data_rng``: data pileup profile, leptons kept with probability
        SF, jets smeared to SF × the simulated resolution; no ``Pileup_*`` branches. So the
        same ``truth`` and ``rng`` state give the simulated event and its pseudo-data twin.
    jes_shift : float, default 0
        Pseudo-data only: scale the pT and mass of every stored jet by
        ``1 + jes_shift · jes_uncertainty(|eta|, pT)`` and propagate to MET
        (``MET_vec -= Σ Δjet_vec``, also PuppiMET).

    Returns
    -------
    dict
        Flat columns (numpy, one value per event) and collections (awkward records of jagged
        fields, written by uproot as ``nMuon`` + ``Muon_pt`` ...).
    """
    n = truth.nu.shape[0]
    is_data = data_rng is not None
    ntrue = sample_pileup(rng, n, "nominal" if is_data else "mc")
    # ------------------------------------------------------------------ jets
    # parton slots (K), then pileup-jet slots
    p = truth.partons
    ppt, peta, pphi = ph.pt_eta_phi(p)
    pm = ph.mass(p)
    k_partons = ppt.shape[1]
    sigma = np.sqrt((JER_STOCHASTIC / np.sqrt(np.maximum(ppt, 1.0))) ** 2 + JER_CONSTANT**2)
    hflav = np.select([truth.pflav == 5, truth.pflav == 4], [5, 4], 0)
    semi, lep_frac, nu_frac = semileptonic(rng, hflav, truth.pvalid)
    resp = rng.normal(response_mean(hflav, truth.pflav), sigma)
    visible = (1.0 - nu_frac) * np.clip(resp, 0.3, None)
    pu = pileup_jets(rng, ntrue)
    cat = np.concatenate
    jpt = cat([ppt * visible, pu["pt"]], axis=1)
    jeta = reduce_precision(cat([peta + rng.normal(0.0, 0.01, ppt.shape), pu["eta"]], axis=1), 12)
    jphi = reduce_precision(cat([pphi + rng.normal(0.0, 0.01, ppt.shape), pu["phi"]], axis=1), 12)
    jeta, jphi = jeta.astype(np.float64), jphi.astype(np.float64)
    jmass = cat([pm * visible, pu["mass"]], axis=1)
    is_pu = cat([np.zeros(ppt.shape, bool), pu["valid"]], axis=1)
    pvalid = cat([truth.pvalid, pu["valid"]], axis=1)
    pflav = cat([truth.pflav, np.zeros(pu["pt"].shape, truth.pflav.dtype)], axis=1)
    hflav = cat([hflav, np.zeros(pu["pt"].shape, hflav.dtype)], axis=1)
    if data_rng is not None:  # resolution SF × that of the simulation: extra smearing sqrt(SF² − 1)
        aeta = np.abs(jeta)
        sf = evaluate("jer_sf", "nominal", aeta)
        extra = 1.0 + data_rng.normal(0.0, 1.0, jpt.shape) * evaluate(
            "jer_resolution", aeta, jpt
        ) * np.sqrt(np.maximum(sf**2 - 1.0, 0.0))
        extra = np.clip(extra, 0.3, None)
        jpt, jmass = jpt * extra, jmass * extra
    jvalid = pvalid & (jpt > 15.0) & (np.abs(jeta) < 4.7)
    jpt_nominal = jpt
    if jes_shift:
        scale = 1.0 + jes_shift * evaluate("jes_uncertainty", np.abs(jeta), jpt)
        jpt = np.where(jvalid, jpt * scale, jpt)
        jmass = np.where(jvalid, jmass * scale, jmass)
    deep, csv = _btag(rng, hflav)
    u = rng.random(jpt.shape)
    jet_id = np.select([u < 0.965, u < 0.985], [6, 2], 0)
    puid = np.where((jpt > 50) | (rng.random(jpt.shape) < 0.9), 7, rng.choice([0, 4, 6], jpt.shape))
    puid = np.where(is_pu, rng.choice([0, 4, 6, 7], jpt.shape, p=[0.55, 0.2, 0.15, 0.1]), puid)
    # ------------------------------------------------------------------ leptons
    # prompt ones from the truth, non-prompt ones from heavy-flavour (and rarely light) jets
    lpt, leta, lphi = ph.pt_eta_phi(truth.leptons)
    apdg = np.abs(truth.lpdg)
    eff = np.where(apdg == 13, 0.96, 0.92)
    res = np.where(
        apdg == 13, 0.012 + 1e-4 * lpt, np.sqrt(0.02**2 + (0.15 / np.sqrt(np.maximum(lpt, 1))) ** 2)
    )
    lpt = lpt * rng.normal(1.0, res)
    prompt_ok = truth.lvalid & (rng.random(lpt.shape) < eff)
    has_np = semi
    npt = ppt * lep_frac
    neta = peta + rng.normal(0.0, 0.08, ppt.shape)
    nphi = pphi + rng.normal(0.0, 0.08, ppt.shape)
    nsign = np.where(rng.random(ppt.shape) < 0.5, 1, -1)
    npdg = nsign * np.where(rng.random(ppt.shape) < 0.5, 13, 11)
    hp = hflav[:, :k_partons]
    npflav = np.select([hp == 5, hp == 4], [5, 4], 3).astype(np.uint8)

    all_pt = np.concatenate([lpt, npt], axis=1)
    all_eta = np.concatenate([leta, neta], axis=1)
    all_phi = np.concatenate([lphi, nphi], axis=1)
    all_pdg = np.concatenate([truth.lpdg, npdg], axis=1)
    all_valid = np.concatenate([prompt_ok, has_np], axis=1)
    if data_rng is not None:  # ε_data = ε_MC · SF: keep each lepton with probability SF(|eta|, pT)
        aeta = np.abs(all_eta)
        sf = np.where(
            np.abs(all_pdg) == 13,
            evaluate("muon_sf", "nominal", aeta, all_pt),
            evaluate("electron_sf", "nominal", aeta, all_pt),
        )
        all_valid = all_valid & (data_rng.random(all_pt.shape) < sf)
    prompt = np.concatenate([np.ones_like(prompt_ok), np.zeros_like(has_np)], axis=1)
    gflav = np.concatenate([np.ones(lpt.shape, np.uint8), npflav], axis=1)
    shape = all_pt.shape
    iso03 = np.where(prompt, rng.exponential(0.025, shape), 0.06 + rng.exponential(0.5, shape))
    iso04 = iso03 * rng.uniform(1.05, 1.5, shape)
    tight = np.where(prompt, rng.random(shape) < 0.97, rng.random(shape) < 0.6)
    cut_p = rng.choice(5, shape, p=[0.02, 0.03, 0.05, 0.15, 0.75])
    cut_np = rng.choice(5, shape, p=[0.35, 0.25, 0.2, 0.12, 0.08])
    cut_based = np.where(prompt, cut_p, cut_np)

    # ------------------------------------------------------------------ sort, match, pack
    mu_in_jet = cat([np.where(has_np & (np.abs(npdg) == 13), npt, 0.0), 0 * pu["pt"]], axis=1)
    jcols = {
        "pt": jpt, "eta": jeta, "phi": jphi, "mass": jmass, "jetId": jet_id, "puId": puid,
        "btagDeepFlavB": deep, "btagCSVV2": csv, "hadronFlavour": hflav, "partonFlavour": pflav,
        **tagger_inputs(rng, hflav, pflav, is_pu, jpt, mu_in_jet),
        "slot": np.broadcast_to(np.arange(jpt.shape[1]), jpt.shape),
    }  # fmt: skip
    if not is_data:
        genjet, genjet_index = genjets(truth, hflav[:, :k_partons])
        jcols["genJetIdx"] = cat([genjet_index, np.full(pu["pt"].shape, -1)], axis=1)
    jcols, jsv, jcounts = _sort_jagged(jcols, jvalid, jpt)
    jet_index = np.full(jpt.shape, -1)  # slot → index in the event's Jet collection
    np.put_along_axis(jet_index, jcols.pop("slot"), np.where(jsv, np.arange(jsv.shape[1]), -1), 1)
    collections = {}
    lep_cols = {
        "pt": all_pt, "eta": all_eta, "phi": all_phi, "pdgId": all_pdg, "genPartFlav": gflav,
        "iso03": iso03, "iso04": iso04, "tight": tight, "cutBased": cut_based,
    }  # fmt: skip
    if not is_data:  # prompt leptons point to their GenPart, non-prompt ones to none
        lep_gen = gen_index(truth)[:, truth.lepton_gen]
        lep_cols["genPartIdx"] = cat([lep_gen, np.full(npt.shape, -1)], axis=1)
    jet_links = {}
    for name, apid, ptmin, etamax in [("Muon", 13, 3.0, 2.4), ("Electron", 11, 5.0, 2.5)]:
        ok = all_valid & (np.abs(all_pdg) == apid) & (all_pt > ptmin) & (np.abs(all_eta) < etamax)
        cols, sv, counts = _sort_jagged(lep_cols, ok, all_pt)
        jidx, i1, i2, nl = _match(cols["eta"], cols["phi"], sv, jcols["eta"], jcols["phi"], jsv)
        mass = M_MU if apid == 13 else M_E
        fields = {
            "pt": cols["pt"], "eta": cols["eta"], "phi": cols["phi"],
            "mass": np.full(cols["pt"].shape, mass), "charge": -np.sign(cols["pdgId"]),
            "pdgId": cols["pdgId"], "jetIdx": jidx, "genPartFlav": cols["genPartFlav"],
            "pfRelIso03_all": cols["iso03"],
        }  # fmt: skip
        dtypes: dict[str, Any] = dict.fromkeys(
            ["pt", "eta", "phi", "mass", "pfRelIso03_all"], np.float32
        )
        dtypes |= {
            "charge": np.int32,
            "pdgId": np.int32,
            "jetIdx": np.int32,
            "genPartFlav": np.uint8,
        }
        if not is_data:
            fields["genPartIdx"], dtypes["genPartIdx"] = cols["genPartIdx"], np.int32
        if apid == 13:
            fields |= {"pfRelIso04_all": cols["iso04"], "tightId": cols["tight"]}
            fields |= {"fsrPhotonIdx": np.full(cols["pt"].shape, -1)}
            dtypes |= {"pfRelIso04_all": np.float32, "tightId": np.bool_, "fsrPhotonIdx": np.int32}
        else:
            fields |= {"cutBased": cols["cutBased"], "photonIdx": np.full(cols["pt"].shape, -1)}
            dtypes |= {"cutBased": np.int32, "photonIdx": np.int32}
        collections[name] = _jagged(fields, sv, counts, dtypes)
        jet_links[name] = (i1, i2, nl, cols, sv)

    jcols |= {
        "muonIdx1": jet_links["Muon"][0], "muonIdx2": jet_links["Muon"][1],
        "electronIdx1": jet_links["Electron"][0], "electronIdx2": jet_links["Electron"][1],
        "nMuons": jet_links["Muon"][2], "nElectrons": jet_links["Electron"][2],
    }  # fmt: skip
    jdt: dict[str, Any] = dict.fromkeys(
        ["pt", "eta", "phi", "mass", "btagDeepFlavB", "btagCSVV2"], np.float32
    )
    jdt |= dict.fromkeys(
        ["jetId", "puId", "hadronFlavour", "partonFlavour", "muonIdx1", "muonIdx2",
         "electronIdx1", "electronIdx2", "nMuons", "nElectrons"],
        np.int32,
    )  # fmt: skip
    tagger = ("nSV", "svMass", "qgl", "nConstituents", "muEF")
    jdt |= {k: v.dtype for k, v in jcols.items() if k in tagger}
    if not is_data:
        jdt["genJetIdx"] = np.int32
    collections["Jet"] = _jagged(jcols, jsv, jcounts, jdt, _JET_PRECISION)

    # ------------------------------------------------------------------ MET
    # lost pT of the nominal jets; a JES shift then moves MET by -Σ Δjet (stored jets)
    # (parton slots only: pileup jets do not enter the nominal MET)
    kp = k_partons
    dj = np.where(truth.pvalid, 1.0, 0.0) * (ppt - np.where(jvalid, jpt_nominal, 0.0)[:, :kp])
    shift = np.where(jvalid, jpt - jpt_nominal, 0.0)
    mis = np.stack(
        [
            (dj * np.cos(pphi)).sum(1) - (shift * np.cos(jphi)).sum(1),
            (dj * np.sin(pphi)).sum(1) - (shift * np.sin(jphi)).sum(1),
        ],
        axis=1,
    )
    met_true = truth.nu + mis
    out: dict[str, Any] = {}
    for name, noise in [("MET", 12.0), ("PuppiMET", 9.0)]:
        v = met_true + rng.normal(0.0, noise, (n, 2))
        out[f"{name}_pt"] = np.hypot(v[:, 0], v[:, 1]).astype(np.float32)
        out[f"{name}_phi"] = np.arctan2(v[:, 1], v[:, 0]).astype(np.float32)

    out["PV_npvs"] = (poisson_like(rng.random((n,)), 0.9 * ntrue) + 1).astype(np.int32)
    u_pu = rng.random((n,))  # drawn for data too: simulation/data twins stay in step
    if not is_data:
        out["Pileup_nTrueInt"] = ntrue.astype(np.float32)
        out["Pileup_nPU"] = poisson_like(u_pu, ntrue).astype(np.int32)
    out["HLT_IsoMu24"], out["HLT_Ele32_WPTight_Gsf"] = _triggers(
        rng, collections["Muon"], collections["Electron"]
    )
    collections["Photon"] = photons(rng, np.where(jvalid, jpt, 0.0), jeta, jphi, jet_index)
    if not is_data:
        collections["GenJet"] = genjet
        collections["GenPart"] = genparts(truth)
    for k, v in collections.items():
        out[k] = v
    return out
