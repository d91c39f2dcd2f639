"""Per-object tables, jagged scoring and the regression target, against independent references."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest
import uproot
from coffea.nanoevents.methods import candidate

from hepml_coffea.errors import ConfigError
from hepml_coffea.features.object_features import (
    ObjectFeatureSpec,
    object_matrix,
    object_table,
    score_objects,
)
from hepml_coffea.features.regression_targets import pt_order, regression_target, scale_jets

FIELDS = ("pt", "eta", "btagDeepFlavB", "qgl", "nConstituents")


def _arrays(path):
    branches = [f"Jet_{f}" for f in (*FIELDS, "hadronFlavour")]
    return uproot.open(path)["Events"].arrays([*branches, "run", "luminosityBlock", "event"])


def test_object_table_one_row_per_jet_equals_uproot(nanoaod_dir):
    a = _arrays(nanoaod_dir / "nano_dy.root")
    spec = ObjectFeatureSpec("Jet", FIELDS, "hadronFlavour", (5,), (0,))
    t = object_table(a, spec)
    counts = ak.to_numpy(ak.num(a.Jet_pt))
    n = int(counts.sum())
    assert n > 50 and all(len(v) == n for v in t.values())
    np.testing.assert_array_equal(t["run"], np.repeat(ak.to_numpy(a.run), counts))
    np.testing.assert_array_equal(t["event"], np.repeat(ak.to_numpy(a.event), counts))
    np.testing.assert_array_equal(
        t["luminosityBlock"], np.repeat(ak.to_numpy(a.luminosityBlock), counts)
    )
    np.testing.assert_array_equal(t["index"], ak.to_numpy(ak.flatten(ak.local_index(a.Jet_pt))))
    for f in FIELDS:
        np.testing.assert_array_equal(t[f"Jet_{f}"], ak.to_numpy(ak.flatten(a[f"Jet_{f}"])))
    flav = ak.to_numpy(ak.flatten(a.Jet_hadronFlavour))
    np.testing.assert_array_equal(t["label"], np.select([flav == 5, flav == 0], [1, 0], -1))
    assert t["event"].dtype == np.uint64
    x = object_matrix(t, spec)
    assert x.shape == (n, len(FIELDS)) and x.dtype == np.float32


def test_object_table_subset_by_index(nanoaod_dir):
    a = _arrays(nanoaod_dir / "nano_dy.root")
    spec = ObjectFeatureSpec("Jet", ("pt", "eta"))
    # every second jet, and the last one, of each event
    local = ak.local_index(a.Jet_pt)
    index = local[(local % 2 == 1) | (local == ak.num(a.Jet_pt) - 1)]
    t = object_table(a, spec, index)
    np.testing.assert_array_equal(t["Jet_pt"], ak.to_numpy(ak.flatten(a.Jet_pt[index])))
    np.testing.assert_array_equal(t["index"], ak.to_numpy(ak.flatten(index)))
    np.testing.assert_array_equal(
        t["event"], np.repeat(ak.to_numpy(a.event), ak.to_numpy(ak.num(index)))
    )


def test_spec_errors_and_round_trip():
    spec = ObjectFeatureSpec("Photon", ("sieie", "hoe"), "genPartFlav", (1,), (0,))
    assert ObjectFeatureSpec.from_dict(spec.to_dict()) == spec
    assert spec.names == ["Photon_sieie", "Photon_hoe"]
    with pytest.raises(ConfigError, match="at least one field"):
        ObjectFeatureSpec("Jet", ())
    with pytest.raises(ConfigError, match="twice"):
        ObjectFeatureSpec("Jet", ("pt", "pt"))
    with pytest.raises(ConfigError, match="both signal and background"):
        ObjectFeatureSpec("Jet", ("pt",), "hadronFlavour", (5,), (0, 5))
    with pytest.raises(ConfigError, match="'fields'"):
        ObjectFeatureSpec.from_dict({"collection": "Jet"})


def test_score_objects_jagged_round_trip():
    from hepml_coffea.estimators import BDTClassifier

    rng = np.random.default_rng(0)
    counts = np.array([3, 0, 5, 1, 0, 2])
    n = counts.sum()
    x = rng.normal(size=(n, 3)).astype(np.float32)
    xtrain = rng.normal(size=(400, 3))
    est = BDTClassifier(n_estimators=10, random_state=0).fit(xtrain, xtrain[:, 0] > 0)
    s = score_objects(est, x, counts)
    assert str(s.type) == "6 * var * float32"
    assert ak.to_numpy(ak.num(s)).tolist() == counts.tolist()
    # the score of each object equals its own row's probability, computed one object at a time
    flat = ak.to_numpy(ak.flatten(s))
    ref = np.array([est.predict_proba(x[i : i + 1])[0, 1] for i in range(n)], dtype=np.float32)
    np.testing.assert_allclose(flat, ref, rtol=1e-6)
    # usable in selections: events with >= 1 object scoring > 0.5
    ev_ref = [
        any(ref[o : o + c] > 0.5)
        for o, c in zip(np.r_[0, np.cumsum(counts)[:-1]], counts, strict=True)
    ]
    assert ak.to_numpy(ak.any(s > 0.5, axis=1)).tolist() == ev_ref
    # a plain function of the matrix works too
    s2 = score_objects(lambda m: m[:, 0], x, counts)
    np.testing.assert_array_equal(ak.to_numpy(ak.flatten(s2)), x[:, 0])
    with pytest.raises(ValueError, match="one row per object"):
        score_objects(est, x[:-1], counts)
    empty = score_objects(est, x[:0], np.zeros(4, dtype=int))
    assert str(empty.type) == "4 * var * float32"


def test_regression_target_by_hand():
    jet_pt = ak.Array([[100.0, 50.0, 30.0], [], [40.0]])
    gidx = ak.Array([[1, -1, 0], [], [2]])  # event 2's index 2 is beyond its GenJets
    gen_pt = ak.Array([[33.0, 90.0], [10.0], [44.0]])
    t = regression_target(jet_pt, gidx, gen_pt)
    np.testing.assert_allclose(t[[0, 2]], [0.9, 1.1])
    assert np.isnan(t[1]) and np.isnan(t[3])


def test_scale_jets_keeps_direction_and_reorders():
    jets = ak.zip(
        {
            "pt": [[50.0, 40.0], [30.0]],
            "eta": [[0.5, -1.0], [2.0]],
            "phi": [[0.1, 0.2], [0.3]],
            "mass": [[5.0, 4.0], [3.0]],
            "charge": [[0, 0], [0]],
            "is_b": [[False, True], [True]],
        },
        with_name="PtEtaPhiMCandidate",
        behavior=candidate.behavior,
    )
    out = pt_order(scale_jets(jets, np.array([1.0, 1.5, 2.0])))
    assert out.pt.tolist() == [[60.0, 50.0], [60.0]]
    assert out.mass.tolist() == [[6.0, 5.0], [6.0]]
    assert out.eta.tolist() == [[-1.0, 0.5], [2.0]]
    assert out.is_b.tolist() == [[True, False], [True]]
    # invariant mass of a scaled jet scales with it (4-vector times a factor)
    assert float(out[1, 0].mass) == pytest.approx(6.0)
