"""The flat-collection helpers against awkward's and numpy's own jagged operations."""

from __future__ import annotations

import awkward as ak
import numpy as np
import pytest

from hepml_coffea.features.kinematics import momentum_tensor, symmetric_eigenvalues
from hepml_coffea.flat import FlatCollection, segment_argmin, segment_min, take

rng = np.random.default_rng(7)
COUNTS = np.array([0, 1, 2, 5, 0, 3, 4, 1, 0, 6])


def jagged(values):
    return ak.unflatten(values, COUNTS)


def test_pairs_match_ak_combinations_order():
    coll = FlatCollection(COUNTS, {"x": np.arange(COUNTS.sum())})
    first, second, counts = coll.pairs()
    ref = ak.combinations(jagged(np.arange(COUNTS.sum())), 2, fields=["a", "b"])
    np.testing.assert_array_equal(counts, ak.to_numpy(ak.num(ref)))
    np.testing.assert_array_equal(first, ak.to_numpy(ak.flatten(ref.a)))
    np.testing.assert_array_equal(second, ak.to_numpy(ak.flatten(ref.b)))


def test_segment_argmin_and_min_match_awkward_with_ties_and_nan():
    values = rng.integers(0, 4, COUNTS.sum()).astype(float)  # many ties: first one wins
    values[3] = np.nan
    idx = segment_argmin(values, COUNTS)
    j = jagged(values)
    ref = ak.to_numpy(ak.fill_none(ak.argmin(ak.nan_to_none(j), axis=1), -1))
    offsets = np.concatenate([[0], np.cumsum(COUNTS)[:-1]])
    np.testing.assert_array_equal(idx, np.where(ref >= 0, offsets + ref, -1))
    mins = segment_min(values, COUNTS)
    ref_min = ak.to_numpy(ak.fill_none(ak.min(ak.nan_to_none(j), axis=1), np.nan))
    np.testing.assert_array_equal(mins, ref_min)
    np.testing.assert_array_equal(take(values, idx), ref_min)


def test_where_and_leading():
    pt = rng.uniform(0, 100, COUNTS.sum())
    coll = FlatCollection(COUNTS, {"pt": pt})
    sub = coll.where(pt > 50)
    ref = jagged(pt)[jagged(pt) > 50]
    np.testing.assert_array_equal(sub.counts, ak.to_numpy(ak.num(ref)))
    np.testing.assert_array_equal(sub["pt"], ak.to_numpy(ak.flatten(ref)))
    lead = take(sub["pt"], sub.leading(2)[:, 1])
    ref2 = ak.to_numpy(ak.fill_none(ak.pad_none(ref, 2)[:, 1], np.nan))
    np.testing.assert_array_equal(lead, ref2)


def test_cartesian_components_are_the_usual_ones():
    pt, eta, phi, m = (rng.uniform(20, 80, 10), rng.normal(0, 1.5, 10),
                       rng.uniform(-np.pi, np.pi, 10), rng.uniform(0, 10, 10))  # fmt: skip
    c = FlatCollection(np.array([10]), {"pt": pt, "eta": eta, "phi": phi, "mass": m}).cartesian
    np.testing.assert_allclose(c["px"], pt * np.cos(phi), rtol=1e-12)
    np.testing.assert_allclose(c["pz"], pt * np.sinh(eta), rtol=1e-12)
    np.testing.assert_allclose(c["E"], np.sqrt((pt * np.cosh(eta)) ** 2 + m**2), rtol=1e-12)


@pytest.mark.parametrize("scale", [1.0, 1e-8, 1e6])
def test_closed_form_eigenvalues_match_lapack(scale):
    a = rng.normal(size=(500, 3, 3)) * scale
    t = a @ a.transpose(0, 2, 1)  # symmetric positive semi-definite, like a momentum tensor
    t[0] = np.eye(3) * 2 * scale  # triple eigenvalue
    t[1] = np.diag([1.0, 1.0, 0.0]) * scale  # double eigenvalue
    t[2] = np.nan
    got = symmetric_eigenvalues(t)
    ref = np.linalg.eigvalsh(np.nan_to_num(t))[:, ::-1]
    big = np.abs(ref[:, :1])
    np.testing.assert_allclose(got[3:] / big[3:], ref[3:] / big[3:], atol=1e-12)
    # (nearly) coinciding eigenvalues: the documented ~sqrt(eps) accuracy, relative to the largest
    np.testing.assert_allclose(got[:2] / big[:2], ref[:2] / big[:2], atol=1e-7)
    np.testing.assert_allclose(got[0], 2 * scale, rtol=1e-15)  # a multiple of the identity
    assert np.isnan(got[2]).all()


def test_momentum_tensor_sums_per_event_and_normalises():
    p = rng.normal(size=(7, 3))
    event = np.array([0, 0, 2, 2, 2, 3, 3])
    t = momentum_tensor(p[:, 0], p[:, 1], p[:, 2], event, 5)
    for e in range(5):
        rows = p[event == e]
        if len(rows):
            np.testing.assert_allclose(t[e], rows.T @ rows / (rows**2).sum(), rtol=1e-12)
        else:
            assert np.isnan(t[e]).all()
