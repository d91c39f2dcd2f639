"""Output writers: incremental tables (parquet == ROOT == input), histograms, atomicity."""

from __future__ import annotations

import hist
import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from hepml_coffea.workflows.outputs import TableWriter, atomic_path, write_histograms, write_json

DTYPES = {
    "f": np.float32,
    "weight": np.float64,
    "label": np.int32,
    "run": np.int64,
    "event": np.uint64,
}


def _batch(rng, n):
    return {
        "f": rng.normal(size=n).astype(np.float32),
        "weight": rng.normal(size=n),
        "label": rng.integers(-1, 2, n).astype(np.int32),
        "run": rng.integers(1, 10, n).astype(np.int64),
        "event": rng.integers(0, 2**63, n, dtype=np.uint64) + np.uint64(2**63 - 1),
    }


def test_table_writer_batches_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    batches = [_batch(rng, n) for n in (1000, 0, 17, 2500)]
    with TableWriter(tmp_path / "features") as w:
        for b in batches:
            w.append("ttbar", b)
        assert not (tmp_path / "features" / "ttbar.parquet").exists()  # not before commit
        written = w.commit()
    assert sorted(p.name for p in written) == ["ttbar.parquet", "ttbar.root"]
    expected = {c: np.concatenate([b[c] for b in batches]) for c in DTYPES}
    assert w.rows["ttbar"] == 3517
    pt = pq.read_table(tmp_path / "features" / "ttbar.parquet")
    assert pt.column_names == list(DTYPES)
    with uproot.open(tmp_path / "features" / "ttbar.root") as f:
        tree = f["Events"]
        assert tree.num_entries == 3517
        rt = tree.arrays(library="np")
    for c, dtype in DTYPES.items():
        par = pt.column(c).to_numpy()
        assert par.dtype == dtype and rt[c].dtype == dtype
        np.testing.assert_array_equal(par, expected[c])
        np.testing.assert_array_equal(rt[c], expected[c])
    assert sorted(p.name for p in (tmp_path / "features").iterdir()) == [
        "ttbar.parquet",
        "ttbar.root",
    ]


def test_table_writer_abort_leaves_nothing(tmp_path):
    rng = np.random.default_rng(1)
    with pytest.raises(RuntimeError, match="boom"), TableWriter(tmp_path) as w:
        w.append("a", _batch(rng, 10))
        assert any(p.name.startswith(".a.parquet.partial") for p in tmp_path.iterdir())
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_table_writer_rejects_changed_columns(tmp_path):
    rng = np.random.default_rng(2)
    w = TableWriter(tmp_path)
    w.append("a", _batch(rng, 3))
    b = _batch(rng, 3)
    b.pop("run")
    with pytest.raises(ValueError, match="changed columns"):
        w.append("a", b)
    w.abort()
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_and_json(tmp_path):
    target = tmp_path / "x.json"
    with pytest.raises(ZeroDivisionError), atomic_path(target) as tmp:
        tmp.write_text("half")
        1 / 0  # noqa: B018
    assert list(tmp_path.iterdir()) == []
    write_json(target, {"a": np.float32(1.5), "b": np.arange(3)})
    assert target.read_text() == '{\n  "a": 1.5,\n  "b": [\n    0,\n    1,\n    2\n  ]\n}\n'


def test_histograms_round_trip(tmp_path):
    rng = np.random.default_rng(3)
    h1 = hist.Hist(hist.axis.Regular(10, 0, 100, name="pt"), storage=hist.storage.Weight())
    h1.fill(rng.uniform(-10, 110, 500), weight=rng.normal(1, 0.3, 500))
    h2 = hist.Hist(hist.axis.Variable([0, 1, 5, 20], name="m"), storage=hist.storage.Weight())
    h2.fill(rng.uniform(0, 20, 100), weight=rng.uniform(0, 2, 100))
    h3 = hist.Hist(hist.axis.Integer(0, 4, name="cutflow"), storage=hist.storage.Weight())
    h3.fill([0, 1, 1, 3], weight=[2.0, 1.0, 0.5, 0.25])
    write_histograms(tmp_path / "h.root", {"ds1": {"pt": h1, "cutflow": h3}, "ds2": {"m": h2}})
    with uproot.open(tmp_path / "h.root") as f:
        assert sorted(f.keys(cycle=False)) == ["ds1", "ds1/cutflow", "ds1/pt", "ds2", "ds2/m"]
        for key, h in (("ds1/pt", h1), ("ds2/m", h2), ("ds1/cutflow", h3)):
            back = f[key]
            np.testing.assert_allclose(back.values(), h.values(), rtol=1e-12)
            np.testing.assert_allclose(back.variances(), h.variances(), rtol=1e-12)
            np.testing.assert_allclose(back.axis().edges(), h.axes[0].edges)
        # under/overflow survive too
        np.testing.assert_allclose(f["ds1/pt"].values(flow=True), h1.values(flow=True), rtol=1e-12)


def test_write_json_is_strict_json_round_trip(tmp_path):
    import json
    from pathlib import Path

    obj = {
        "cut": np.float32(0.5),
        "z": float("nan"),
        "inf": np.float64(np.inf),
        "n": np.int64(7),
        "arr": np.array([1.0, np.nan]),
        1: ("a", Path("/x/y")),
        "flag": np.bool_(True),
    }
    path = write_json(tmp_path / "o.json", obj)
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {
        "cut": 0.5, "z": None, "inf": None, "n": 7, "arr": [1.0, None], "1": ["a", "/x/y"],
        "flag": True,
    }  # fmt: skip
