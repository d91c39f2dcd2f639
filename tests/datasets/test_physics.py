"""Physics sanity of generated events, computed with plain numpy/awkward (not our code)."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot

from hepml_coffea.datasets import generate, load_fileset


def _events(fileset, name, branches):
    files = [f"{f}:Events" for f in fileset[name]["files"]]
    return uproot.concatenate(files, branches)


def _p4(obj):
    px, py = obj.pt * np.cos(obj.phi), obj.pt * np.sin(obj.phi)
    pz = obj.pt * np.sinh(obj.eta)
    e = np.sqrt(px**2 + py**2 + pz**2 + obj.mass**2)
    return e, px, py, pz


def _pair_mass(a, b):
    ea, xa, ya, za = _p4(a)
    eb, xb, yb, zb = _p4(b)
    m2 = (ea + eb) ** 2 - (xa + xb) ** 2 - (ya + yb) ** 2 - (za + zb) ** 2
    return np.sqrt(np.maximum(m2, 0))


def _mode(values, lo, hi, width):
    counts, edges = np.histogram(values, bins=np.arange(lo, hi + width, width))
    i = int(np.argmax(counts))
    return 0.5 * (edges[i] + edges[i + 1])


@pytest.fixture(scope="module")
def fileset(generated_fileset):
    return load_fileset(generated_fileset)


def _save_hist(plot_dir, name, values, lo, hi, width, ref, xlabel):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.hist(values, bins=np.arange(lo, hi + width, width), histtype="step")
    ax.axvline(ref, color="r", ls="--", label=f"{ref} GeV")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("events")
    ax.legend()
    fig.savefig(plot_dir / f"datasets_{name}.png", dpi=80)
    plt.close(fig)


def test_ttbar_hadronic_w_peak(fileset, plot_dir):
    a = _events(
        fileset, "ttbar_semilep", ["Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_hadronFlavour"]
    )
    jets = ak.zip({k: a[f"Jet_{k}"] for k in ("pt", "eta", "phi", "mass", "hadronFlavour")})
    light = jets[(jets.hadronFlavour != 5) & (jets.pt > 25) & (abs(jets.eta) < 2.4)]
    pairs = ak.combinations(light, 2)
    m = _pair_mass(pairs["0"], pairs["1"])
    best = ak.flatten(m[ak.argmin(abs(m - 80.4), axis=1, keepdims=True)])
    best = ak.to_numpy(best[~ak.is_none(best)])
    assert len(best) > 1000
    _save_hist(
        plot_dir, "ttbar_mjj", best, 20, 160, 2.0, 80.4, "m(jj) closest to m_W, non-b jets [GeV]"
    )
    peak = _mode(best, 40, 140, 2.0)
    assert abs(peak - 80.4) < 5.0, peak


def test_dy_dimuon_peak(fileset, plot_dir):
    a = _events(fileset, "dy", ["Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge"])
    mu = ak.zip({k: a[f"Muon_{k}"] for k in ("pt", "eta", "phi", "mass", "charge")})
    mu = mu[mu.pt > 20]
    two = mu[(ak.num(mu) == 2)]
    two = two[two.charge[:, 0] != two.charge[:, 1]]
    m = ak.to_numpy(_pair_mass(two[:, 0], two[:, 1]))
    assert len(m) > 500
    _save_hist(plot_dir, "dy_mumu", m, 60, 120, 1.0, 91.19, "m(μμ) [GeV]")
    peak = _mode(m, 70, 110, 1.0)
    assert abs(peak - 91.19) < 2.0, peak


def test_btag_discriminants_follow_flavour(fileset):
    a = _events(
        fileset,
        "ttbar_semilep",
        ["Jet_hadronFlavour", "Jet_btagDeepFlavB", "Jet_btagCSVV2", "Jet_eta"],
    )
    flav = ak.to_numpy(ak.flatten(a.Jet_hadronFlavour))
    deep = ak.to_numpy(ak.flatten(a.Jet_btagDeepFlavB))
    csv = ak.to_numpy(ak.flatten(a.Jet_btagCSVV2))
    eff = {f: (deep[flav == f] > 0.2783).mean() for f in (5, 4, 0)}
    assert 0.70 < eff[5] < 0.86 and 0.08 < eff[4] < 0.30 and eff[0] < 0.03, eff
    eff_csv = {f: (csv[flav == f] > 0.8484).mean() for f in (5, 4, 0)}
    assert 0.55 < eff_csv[5] < 0.75 and eff_csv[0] < 0.03, eff_csv
    assert np.all((deep >= 0) & (deep <= 1) & (csv >= 0) & (csv <= 1))
    assert np.corrcoef(deep, csv)[0, 1] > 0.5


def test_prompt_leptons_isolated_nonprompt_not(fileset):
    a = _events(
        fileset, "ttbar_semilep", ["Muon_pfRelIso04_all", "Muon_genPartFlav", "Muon_tightId"]
    )
    iso = ak.to_numpy(ak.flatten(a.Muon_pfRelIso04_all))
    flav = ak.to_numpy(ak.flatten(a.Muon_genPartFlav))
    tight = ak.to_numpy(ak.flatten(a.Muon_tightId))
    prompt, nonprompt = flav == 1, flav != 1
    assert prompt.sum() > 500 and nonprompt.sum() > 50
    assert (iso[prompt] < 0.15).mean() > 0.9
    assert (iso[nonprompt] < 0.15).mean() < 0.3
    assert tight[prompt].mean() > tight[nonprompt].mean() + 0.2


def test_met_from_neutrino(fileset):
    """Semileptonic ttbar has a neutrino: its MET is far larger than DY's (no neutrino)."""
    tt = _events(fileset, "ttbar_semilep", ["MET_pt"]).MET_pt
    dy = _events(fileset, "dy", ["MET_pt"]).MET_pt
    assert np.median(tt) > 2 * np.median(dy)


def test_negative_weight_fraction(tmp_path):
    n, frac = 4000, 0.1
    path = generate(tmp_path, n_events=n, processes=["ttbar_semilep"], compression="zstd",
                    negative_weight_fraction=frac, progress=False)  # fmt: skip
    (f,) = load_fileset(path)["ttbar_semilep"]["files"]
    w = uproot.open(f)["Events"]["genWeight"].array(library="np")
    observed = (w < 0).mean()
    assert abs(observed - frac) < 4 * np.sqrt(frac * (1 - frac) / n), observed
    assert set(np.unique(np.abs(w))) == {1.0}


def test_default_negative_weight_fraction(fileset):
    (f,) = fileset["ttbar_semilep"]["files"]
    w = uproot.open(f)["Events"]["genWeight"].array(library="np")
    assert abs((w < 0).mean() - 0.03) < 4 * np.sqrt(0.03 * 0.97 / len(w))
