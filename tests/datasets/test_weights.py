"""LHEScaleWeight, PSWeight and Pileup_nTrueInt of the generated samples."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from hepml_coffea.datasets import MC_PROCESSES, load_fileset
from hepml_coffea.datasets.processes import FSR_PROB, generate_truth
from hepml_coffea.datasets.weights import FSR_VAR, ISR_VAR, ps_weights


@pytest.fixture(scope="module")
def fileset(generated_fileset):
    return load_fileset(generated_fileset)


def _read(fileset, name, branches):
    return uproot.concatenate([f"{f}:Events" for f in fileset[name]["files"]], branches)


@pytest.mark.parametrize("name", list(MC_PROCESSES))
def test_branches_layout_and_spreads(fileset, name):
    a = _read(fileset, name, ["nLHEScaleWeight", "LHEScaleWeight", "nPSWeight", "PSWeight",
                              "Pileup_nTrueInt", "Pileup_nPU", "PV_npvs", "Jet_pt"])  # fmt: skip
    assert np.all(a.nLHEScaleWeight == 9) and np.all(a.nPSWeight == 4)
    scale = ak.to_numpy(a.LHEScaleWeight)
    ps = ak.to_numpy(a.PSWeight)
    assert scale.dtype == np.float32 and ps.dtype == np.float32
    np.testing.assert_array_equal(scale[:, 4], 1.0)  # muR = muF = 1
    mean = scale.mean(axis=0)
    # NanoAOD order: [1] = (muR 0.5, muF 1) raises, [7] = (muR 2, muF 1) lowers the rate
    assert mean[1] > 1.03 and mean[7] < 0.97
    assert 0.85 < mean.min() and mean.max() < 1.2
    np.testing.assert_allclose(ps.mean(axis=0), 1.0, atol=0.02)
    assert np.all(ps[:, [0, 2]].std(axis=0) > 0.03)  # ISR
    if name in ("ttbar_semilep", "single_top"):  # FSR: only decay quarks radiate
        assert np.all(ps[:, [1, 3]].std(axis=0) > 0.03)
    else:
        np.testing.assert_array_equal(ps[:, [1, 3]], 1.0)
    nt = ak.to_numpy(a.Pileup_nTrueInt)
    assert nt.dtype == np.float32 and 28 < nt.mean() < 36 and nt.min() >= 0
    npv = ak.to_numpy(a.PV_npvs)
    assert np.corrcoef(nt, npv)[0, 1] > 0.8


def test_scale_weights_grow_with_ht(fileset):
    a = _read(fileset, "ttbar_semilep", ["LHEScaleWeight", "Jet_pt"])
    ht = ak.to_numpy(ak.sum(a.Jet_pt, axis=1))
    w = ak.to_numpy(a.LHEScaleWeight)[:, 1]
    assert np.corrcoef(ht, w)[0, 1] > 0.3


def test_data_has_no_generator_branches(fileset):
    keys = set(uproot.open(next(iter(fileset["data"]["files"])))["Events"].keys())
    assert not keys & {"LHEScaleWeight", "PSWeight", "Pileup_nTrueInt", "genWeight"}


def test_ps_weights_reproduce_a_sample_with_more_radiation():
    """FSR up reweights p → 1.2 p and ISR up λ → 1.15 λ: weighted means of the radiation counts
    equal those of samples generated with the varied parameters."""
    n = 40_000
    base = generate_truth("ttbar_semilep", np.random.default_rng(1), n)
    w = ps_weights(base).astype(np.float64)
    more_fsr = generate_truth("ttbar_semilep", np.random.default_rng(2), n, FSR_PROB * FSR_VAR)
    assert np.average(base.fsr_n, weights=w[:, 1]) == pytest.approx(more_fsr.fsr_n.mean(), rel=0.03)
    assert more_fsr.fsr_n.mean() > 1.15 * base.fsr_n.mean()
    less = FSR_PROB / FSR_VAR
    assert np.average(base.fsr_n, weights=w[:, 3]) == pytest.approx(4 * less, rel=0.03)
    # ISR: Poisson(λ) capped at isr_cap; weighted mean vs the capped Poisson(λ · 1.15)
    rng = np.random.default_rng(3)
    ref = np.minimum(rng.poisson(base.isr_mean * ISR_VAR, 10 * n), base.isr_cap).mean()
    assert np.average(base.isr_n, weights=w[:, 0]) == pytest.approx(ref, rel=0.02)
    ref_down = np.minimum(rng.poisson(base.isr_mean / ISR_VAR, 10 * n), base.isr_cap).mean()
    assert np.average(base.isr_n, weights=w[:, 2]) == pytest.approx(ref_down, rel=0.02)


def test_alternative_ttbar_tune_sample(tmp_path):
    """``ttbar_tune``: only when named; metadata names the variation; 1.5 x the FSR rate."""
    from hepml_coffea.datasets import PROCESSES, generate

    assert "ttbar_tune" not in PROCESSES  # never in the default set, nor in the pseudo-data
    kw = dict(n_events=6000, compression="zstd", progress=False, seed=5)
    path = generate(tmp_path, processes=["ttbar_semilep", "ttbar_tune"], **kw)
    fs = load_fileset(path)
    meta = fs["ttbar_tune"]["metadata"]
    assert (meta["process"], meta["variation"]) == ("ttbar", "ttbar_tuneUp")
    assert meta["xsec"] == fs["ttbar_semilep"]["metadata"]["xsec"]
    assert "variation" not in fs["ttbar_semilep"]["metadata"]
    n_fsr = {}
    for name in ("ttbar_semilep", "ttbar_tune"):
        a = _read(fs, name, ["GenPart_status"])
        n_fsr[name] = ak.to_numpy(ak.sum(a.GenPart_status == 52, axis=1))  # FSR last copies
    ratio = n_fsr["ttbar_tune"].mean() / n_fsr["ttbar_semilep"].mean()
    assert ratio == pytest.approx(1.5, rel=0.08)  # binomial mean m·p; ±2.6% stat. (1σ)
