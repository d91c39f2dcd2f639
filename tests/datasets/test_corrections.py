"""corrections.json (correctionlib) and the consistency of the pseudo-data with it."""

from __future__ import annotations

import json

import awkward as ak
import correctionlib
import numpy as np
import pytest
import uproot
from scipy.stats import truncnorm

from hepml_coffea.datasets import load_fileset
from hepml_coffea.datasets.corrections import (
    CORRECTIONS,
    PU_DATA,
    PU_EDGES,
    SYSTEMATICS,
    evaluate,
    write_corrections,
)
from hepml_coffea.datasets.detector import reconstruct
from hepml_coffea.datasets.processes import generate_truth

NAMES = {"btag_sf", "muon_sf", "electron_sf", "pileup_weight", "jes_uncertainty",
         "jer_resolution", "jer_sf"}  # fmt: skip


@pytest.fixture(scope="module")
def cset(generated_fileset):
    path = generated_fileset.parent / "corrections.json"
    assert path.is_file()
    return correctionlib.CorrectionSet.from_file(str(path))


def test_written_next_to_fileset_and_loads(cset, generated_fileset):
    assert set(cset) == NAMES == set(CORRECTIONS)
    raw = json.loads((generated_fileset.parent / "corrections.json").read_text())
    assert raw["schema_version"] == 2
    inputs = {c["name"]: [i["name"] for i in c["inputs"]] for c in raw["corrections"]}
    assert inputs["btag_sf"] == ["systematic", "flavour", "abseta", "pt"]
    assert inputs["muon_sf"] == inputs["electron_sf"] == ["systematic", "abseta", "pt"]
    assert inputs["pileup_weight"] == ["systematic", "nTrueInt"]
    assert inputs["jes_uncertainty"] == ["abseta", "pt"]


def test_correctionlib_equals_the_generators_tables(cset):
    """The generator draws pseudo-data with ``evaluate``; correctionlib must give the same."""
    rng = np.random.default_rng(3)
    ae, pt = rng.uniform(-0.5, 5.5, 2000), rng.uniform(0.0, 4000.0, 2000)
    ntrue = rng.uniform(-5.0, 120.0, 2000)
    for s in SYSTEMATICS:
        for f in (0, 4, 5):
            np.testing.assert_allclose(
                cset["btag_sf"].evaluate(s, f, ae, pt), evaluate("btag_sf", s, f, ae, pt), 1e-12
            )
        for name in ("muon_sf", "electron_sf"):
            np.testing.assert_allclose(
                cset[name].evaluate(s, ae, pt), evaluate(name, s, ae, pt), 1e-12
            )
        np.testing.assert_allclose(
            cset["pileup_weight"].evaluate(s, ntrue), evaluate("pileup_weight", s, ntrue), 1e-12
        )
        np.testing.assert_allclose(cset["jer_sf"].evaluate(s, ae), evaluate("jer_sf", s, ae))
    for name in ("jes_uncertainty", "jer_resolution"):
        np.testing.assert_allclose(cset[name].evaluate(ae, pt), evaluate(name, ae, pt), 1e-12)


def test_values_are_physical(cset):
    ae, pt = np.repeat([0.2, 1.3, 2.3], 4), np.tile([20.0, 40.0, 100.0, 500.0], 3)
    jes = cset["jes_uncertainty"].evaluate(ae, pt)
    assert np.all((jes >= 0.01) & (jes <= 0.045))
    assert jes[0] > jes[3]  # larger at low pT
    for name in ("muon_sf", "electron_sf"):
        nom = cset[name].evaluate("nominal", ae, pt)
        assert np.all((nom > 0.9) & (nom <= 1.0))  # a probability: the pseudo-data keep SF
        assert np.all(cset[name].evaluate("up", ae, pt) > nom)
        assert np.all(cset[name].evaluate("down", ae, pt) < nom)
    assert np.all(cset["btag_sf"].evaluate("nominal", 5, ae, pt) == 1.0)
    light = cset["btag_sf"].evaluate("up", 0, ae, pt) - 1.0
    assert np.all(light > cset["btag_sf"].evaluate("up", 5, ae, pt) - 1.0)
    assert cset["jer_sf"].evaluate("nominal", 0.3) == pytest.approx(1.10)


def test_pileup_weight_turns_simulation_into_data(generated_fileset, cset):
    """Σ w · nTrueInt / Σ w over simulation = the mean of the data profile (truncated normal)."""
    fs = load_fileset(generated_fileset)
    x = np.concatenate(
        [
            uproot.open(f)["Events"]["Pileup_nTrueInt"].array(library="np")
            for name in ("ttbar_semilep", "wjets", "single_top", "dy")
            for f in fs[name]["files"]
        ]
    ).astype(np.float64)
    w = cset["pileup_weight"].evaluate("nominal", x)
    mean, sd = PU_DATA
    lo, hi = (PU_EDGES[0] - mean) / sd, (PU_EDGES[-1] - mean) / sd
    ref = truncnorm.mean(lo, hi, loc=mean, scale=sd)
    assert abs(np.average(x) - ref) > 1.0  # simulation differs from data ...
    assert np.average(x, weights=w) == pytest.approx(ref, abs=0.35)  # ... until reweighted
    assert np.mean(w) == pytest.approx(1.0, abs=0.03)
    # "up" shifts the data profile upwards
    assert np.average(x, weights=cset["pileup_weight"].evaluate("up", x)) > ref + 0.8


def _twins(process: str, n: int, seed: int, jes_shift: float = 0.0):
    """The simulated events and their pseudo-data twins (same truth, same draws)."""
    truth = generate_truth(process, np.random.default_rng([seed, 1]), n)
    mc = reconstruct(truth, np.random.default_rng([seed, 2]))
    data = reconstruct(
        truth,
        np.random.default_rng([seed, 2]),
        data_rng=np.random.default_rng([seed, 3]),
        jes_shift=jes_shift,
    )
    return mc, data


@pytest.mark.parametrize("lepton", ["Muon", "Electron"])
def test_pseudo_data_keep_leptons_with_probability_sf(lepton):
    mc, data = _twins("dy", 20_000, 5)
    key = "muon_sf" if lepton == "Muon" else "electron_sf"
    m, d = mc[lepton], data[lepton]
    mpt, dpt = ak.flatten(m.pt).to_numpy(), ak.flatten(d.pt).to_numpy()
    assert set(dpt.tolist()) <= set(mpt.tolist())  # data leptons are a subset of the twin's
    sf = evaluate(key, "nominal", np.abs(ak.flatten(m.eta).to_numpy()), mpt)
    expected, sigma = sf.sum(), np.sqrt((sf * (1 - sf)).sum())
    assert len(mpt) - expected > 10 * sigma  # the SF is visible at these statistics
    assert abs(len(dpt) - expected) < 4 * sigma


def test_jes_shift_scales_jets_and_propagates_to_met():
    nominal_mc, nominal = _twins("ttbar_semilep", 3000, 11, jes_shift=0.0)
    _, shifted = _twins("ttbar_semilep", 3000, 11, jes_shift=1.0)
    j0, j1 = nominal["Jet"], shifted["Jet"]
    assert ak.all(ak.num(j0) == ak.num(j1))
    # jets may reorder; pair them by eta (unchanged by the shift)
    j0 = j0[ak.argsort(j0.eta, axis=1)]
    j1 = j1[ak.argsort(j1.eta, axis=1)]
    np.testing.assert_array_equal(ak.flatten(j0.eta), ak.flatten(j1.eta))
    pt0, eta = ak.flatten(j0.pt).to_numpy(), ak.flatten(j0.eta).to_numpy()
    unc = evaluate("jes_uncertainty", np.abs(eta.astype(np.float64)), pt0.astype(np.float64))
    np.testing.assert_allclose(ak.flatten(j1.pt).to_numpy(), pt0 * (1 + unc), rtol=1e-6)
    np.testing.assert_allclose(
        ak.flatten(j1.mass).to_numpy(), ak.flatten(j0.mass).to_numpy() * (1 + unc), rtol=1e-6
    )
    # MET_vec(shifted) = MET_vec(nominal) − Σ Δjet_vec
    dpt = j1.pt - j0.pt
    dx, dy = ak.sum(dpt * np.cos(j0.phi), axis=1), ak.sum(dpt * np.sin(j0.phi), axis=1)
    for met in ("MET", "PuppiMET"):
        px0 = nominal[f"{met}_pt"] * np.cos(nominal[f"{met}_phi"])
        py0 = nominal[f"{met}_pt"] * np.sin(nominal[f"{met}_phi"])
        px1 = shifted[f"{met}_pt"] * np.cos(shifted[f"{met}_phi"])
        py1 = shifted[f"{met}_pt"] * np.sin(shifted[f"{met}_phi"])
        np.testing.assert_allclose(px1, px0 - dx.to_numpy(), atol=2e-3)
        np.testing.assert_allclose(py1, py0 - dy.to_numpy(), atol=2e-3)
    assert "Pileup_nTrueInt" in nominal_mc and "Pileup_nTrueInt" not in nominal


def test_pseudo_data_jets_have_sf_times_the_resolution():
    """Pseudo-data jets = twin jets × (1 + N(0,1) · σ · sqrt(SF² − 1)); twins paired by eta."""
    mc, data = _twins("wjets", 20_000, 13)
    m, d = mc["Jet"], data["Jet"]
    same = np.asarray(ak.num(m) == ak.num(d))
    m, d = m[same], d[same]
    m, d = m[ak.argsort(m.eta, axis=1)], d[ak.argsort(d.eta, axis=1)]
    eta = ak.flatten(m.eta).to_numpy()
    paired = eta == ak.flatten(d.eta).to_numpy()
    assert paired.mean() > 0.99
    pt = ak.flatten(m.pt).to_numpy().astype(float)
    use = paired & (pt > 30)
    ratio = ak.flatten(d.pt).to_numpy()[use] / pt[use] - 1
    ae = np.abs(eta[use]).astype(float)
    sf = evaluate("jer_sf", "nominal", ae)
    pull = ratio / (evaluate("jer_resolution", ae, pt[use]) * np.sqrt(sf**2 - 1))
    assert len(pull) > 20_000
    assert np.std(pull) == pytest.approx(1.0, abs=0.03)
    assert np.mean(pull) == pytest.approx(0.0, abs=0.03)


def test_write_corrections_validates(tmp_path):
    path = write_corrections(tmp_path / "c.json")
    assert set(correctionlib.CorrectionSet.from_file(str(path))) == NAMES
