"""Round trip of the generator: layout, dtypes, counts, Runs sums, coffea reading, determinism."""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from hepml_coffea.datasets import MC_PROCESSES, PROCESSES, generate, load_fileset
from hepml_coffea.errors import ConfigError

N = 3000  # must match the generated_fileset fixture

EXPECTED_DTYPES = {  # from the real NanoAOD samples in ../shared/data/nanoaod
    "run": ">u4", "luminosityBlock": ">u4", "event": ">u8", "genWeight": ">f4", "PV_npvs": ">i4",
    "HLT_IsoMu24": "bool", "HLT_Ele32_WPTight_Gsf": "bool",
    "nMuon": ">u4", "nElectron": ">u4", "nJet": ">u4",
    "Muon_pt": ">f4", "Muon_eta": ">f4", "Muon_phi": ">f4", "Muon_mass": ">f4",
    "Muon_charge": ">i4", "Muon_tightId": "bool", "Muon_pfRelIso04_all": ">f4",
    "Electron_pt": ">f4", "Electron_eta": ">f4", "Electron_phi": ">f4", "Electron_mass": ">f4",
    "Electron_charge": ">i4", "Electron_cutBased": ">i4", "Electron_pfRelIso03_all": ">f4",
    "Jet_pt": ">f4", "Jet_eta": ">f4", "Jet_phi": ">f4", "Jet_mass": ">f4", "Jet_jetId": ">i4",
    "Jet_btagDeepFlavB": ">f4", "Jet_btagCSVV2": ">f4", "Jet_hadronFlavour": ">i4",
    "MET_pt": ">f4", "MET_phi": ">f4", "PuppiMET_pt": ">f4", "PuppiMET_phi": ">f4",
}  # fmt: skip


def _interp_dtype(branch) -> str:
    interp = branch.interpretation
    interp = getattr(interp, "content", interp)
    return str(interp.from_dtype)


@pytest.fixture(scope="module")
def fileset(generated_fileset):
    return load_fileset(generated_fileset)


def test_fileset_contract(generated_fileset, fileset):
    raw = json.loads(Path(generated_fileset).read_text())
    assert list(raw) == list(PROCESSES)
    for name, entry in raw.items():
        assert all(not Path(f).is_absolute() for f in entry["files"])  # relative in the JSON
        meta = entry["metadata"]
        assert meta["is_data"] is (name == "data")
        assert meta["label"] == (-1 if name == "data" else MC_PROCESSES[name].label)
        if name == "data":
            assert "xsec" not in meta and "sumw" not in meta
            assert (Path(generated_fileset).parent / meta["lumi_mask"]).is_file()
        else:
            assert (Path(generated_fileset).parent / meta["corrections"]).is_file()
            assert meta["xsec"] == MC_PROCESSES[name].xsec
            assert meta["process"] == MC_PROCESSES[name].process
        assert meta["lumi"] == raw["data"]["metadata"]["lumi"] > 0
    assert raw["ttbar_semilep"]["metadata"]["label"] == 1
    for entry in fileset.values():
        assert all(Path(f).is_absolute() and Path(f).is_file() for f in entry["files"])


@pytest.mark.parametrize("name", list(MC_PROCESSES))
def test_mc_layout_counts_and_runs(fileset, name):
    (path,) = fileset[name]["files"]
    with uproot.open(path) as f:
        events, runs = f["Events"], f["Runs"]
        assert events.num_entries == N
        for branch, dtype in EXPECTED_DTYPES.items():
            assert _interp_dtype(events[branch]) == dtype, branch
        a = events.arrays(["nMuon", "Muon_pt", "genWeight", "run", "luminosityBlock", "event"])
        assert ak.all(ak.num(a.Muon_pt) == a.nMuon)
        ids = np.stack(
            [ak.to_numpy(a[k]).astype(np.uint64) for k in ("run", "luminosityBlock", "event")], 1
        )
        assert len(np.unique(ids, axis=0)) == N
        w = ak.to_numpy(a.genWeight).astype(np.float64)
        r = runs.arrays(library="np")
        assert _interp_dtype(runs["genEventSumw"]) == ">f8"
        assert _interp_dtype(runs["genEventCount"]) == ">i8"
        assert r["genEventCount"].sum() == N
        np.testing.assert_allclose(r["genEventSumw"].sum(), w.sum())
        np.testing.assert_allclose(r["genEventSumw2"].sum(), np.square(w).sum())
    assert fileset[name]["metadata"]["sumw"] == pytest.approx(float(r["genEventSumw"].sum()))


def test_data_is_poisson_mixture_without_genweight(fileset):
    meta = fileset["data"]["metadata"]
    expected = sum(p.xsec for p in MC_PROCESSES.values()) * meta["lumi"]
    arrays = [uproot.open(f)["Events"] for f in fileset["data"]["files"]]
    n = sum(t.num_entries for t in arrays)
    assert n == meta["n_events"]
    assert abs(n - expected) < 5 * np.sqrt(expected)
    assert all("genWeight" not in t.keys() for t in arrays)
    ids = np.concatenate(
        [
            np.stack(
                [
                    t[k].array(library="np").astype(np.uint64)
                    for k in ("run", "luminosityBlock", "event")
                ],
                1,
            )
            for t in arrays
        ]
    )
    assert len(np.unique(ids, axis=0)) == n
    assert np.all(ids[:, 0] > 1)  # collision-data run numbers


def test_coffea_reads_without_warnings(fileset):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    for name in fileset:  # every MC process (GenPart/GenJet cross-references) and data
        path = next(iter(fileset[name]["files"]))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            events = NanoEventsFactory.from_root(
                {path: "Events"}, schemaclass=NanoAODSchema, mode="eager"
            ).events()
            mu, jet = events.Muon, events.Jet
            two = jet[ak.num(jet) >= 2]
            pair = two[:, 0] + two[:, 1]
            dr = two[:, 0].delta_r(two[:, 1])
            matched = mu.matched_jet
        assert [str(w.message) for w in caught] == []
        # the candidate sum agrees with plain four-vector arithmetic
        j = [two[:, i] for i in (0, 1)]
        px = sum(x.pt * np.cos(x.phi) for x in j)
        py = sum(x.pt * np.sin(x.phi) for x in j)
        pz = sum(x.pt * np.sinh(x.eta) for x in j)
        e = sum(np.sqrt((x.pt * np.cosh(x.eta)) ** 2 + x.mass**2) for x in j)
        np.testing.assert_allclose(
            pair.mass, np.sqrt(np.maximum(e**2 - px**2 - py**2 - pz**2, 0)), rtol=1e-3, atol=1e-2
        )
        assert ak.all(dr >= 0)
        # cross-references resolve: a matched jet is the jet at Muon_jetIdx
        has = ak.flatten(mu.jetIdx >= 0)
        np.testing.assert_array_equal(
            ak.flatten(matched.pt)[has], ak.flatten(jet.pt[ak.mask(mu.jetIdx, mu.jetIdx >= 0)])[has]
        )
        assert ak.sum(has) > 0


def _sha(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_same_seed_byte_identical_other_seed_differs(tmp_path):
    kw = dict(n_events=300, compression="zstd", progress=False, processes=["dy", "data"], lumi=0.1)
    a = _sha(generate(tmp_path / "a", seed=7, **kw).parent)
    b = _sha(generate(tmp_path / "b", seed=7, **kw).parent)
    c = _sha(generate(tmp_path / "c", seed=8, **kw).parent)
    assert a == b
    assert set(a) == {"dy_0.root", "data_0.root", "fileset.json", "corrections.json",
                      "golden.json", "lumi.csv"}  # fmt: skip
    assert a["dy_0.root"] != c["dy_0.root"] and a["data_0.root"] != c["data_0.root"]


@pytest.mark.parametrize("compression", ["lzma", "zlib", "lz4"])
def test_compressions_and_file_splitting(tmp_path, compression):
    path = generate(
        tmp_path, n_events=700, events_per_file=300, compression=compression,
        compression_level=1, processes=["wjets"], progress=False,
    )  # fmt: skip
    fs = load_fileset(path)
    files = list(fs["wjets"]["files"])
    assert [Path(f).name for f in files] == ["wjets_0.root", "wjets_1.root", "wjets_2.root"]
    entries = [uproot.open(f)["Events"].num_entries for f in files]
    assert entries == [300, 300, 100]
    ev = np.concatenate([uproot.open(f)["Events"]["event"].array(library="np") for f in files])
    assert len(np.unique(ev)) == 700
    algo = uproot.open(files[0]).file.compression
    assert type(algo).__name__ == compression.upper()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_events": 0}, "n_events"),
        ({"compression": "gzip"}, "compression"),
        ({"processes": ["ttbar"]}, "unknown process"),
        ({"lumi": -1.0}, "lumi"),
        ({"negative_weight_fraction": 0.7}, "negative_weight_fraction"),
        ({"lumi": 1e-9}, "gives no pseudo-data events"),
        ({"signal_strength": -0.5}, "signal-strength"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        generate(tmp_path, **({"n_events": 10, "progress": False} | kwargs))


def test_trigger_turn_on_and_plateau(generated_fileset):
    """HLT_IsoMu24 vs the pT of the only muon (isolated, |eta| < 0.9): off below the threshold,
    95% on the plateau (plain uproot + numpy)."""
    fs = load_fileset(generated_fileset)
    files = [
        f"{f}:Events" for n in ("ttbar_semilep", "wjets", "single_top") for f in fs[n]["files"]
    ]
    a = uproot.concatenate(files, ["Muon_pt", "Muon_eta", "Muon_pfRelIso04_all", "HLT_IsoMu24"])
    one = ak.num(a.Muon_pt) == 1
    pt = ak.to_numpy(ak.firsts(a.Muon_pt[one]))
    barrel = np.abs(ak.to_numpy(ak.firsts(a.Muon_eta[one]))) < 0.9
    iso = ak.to_numpy(ak.firsts(a.Muon_pfRelIso04_all[one])) < 0.2
    fired = ak.to_numpy(a.HLT_IsoMu24[one])
    low = (pt < 22) & iso
    plateau = (pt > 30) & barrel & iso
    assert low.sum() > 100 and plateau.sum() > 1000
    assert fired[low].mean() < 0.05
    eff = fired[plateau].mean()
    assert abs(eff - 0.95) < 3 * np.sqrt(0.95 * 0.05 / plateau.sum()) + 0.005
    assert not fired[~iso & (pt > 30)].any()  # non-isolated muons do not fire it
