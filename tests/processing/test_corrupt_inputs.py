"""Corrupted baskets and --skip-bad-files normalisation, on files the tests make and damage.

References are computed independently with plain uproot + numpy on the undamaged copies.
"""

from __future__ import annotations

import numpy as np
import pytest
import uproot
from corrupt import BASKET, corrupt, make_sample

from hepml_coffea.errors import InputFileError
from hepml_coffea.processing.runner import run_processor

LUMI = 1000.0
XSEC = 2.0


def _reference(files_and_ranges, sumw):
    """Toy cutflow ("all", "one_muon", "pt20") weighted sums of the given entries, by hand."""
    w_all, w_one, w_pt = 0.0, 0.0, 0.0
    for path, keep in files_and_ranges:
        t = uproot.open(path)["Events"]
        gw = t["genWeight"].array(library="np").astype(np.float64)[keep]
        pts = t["Muon_pt"].array()[keep]
        w = gw * XSEC * LUMI / sumw
        n = np.array([len(p) for p in pts])
        lead = np.array([p[0] if len(p) else -1.0 for p in pts])
        w_all += w.sum()
        w_one += w[n >= 1].sum()
        w_pt += w[(n >= 1) & (lead > 20)].sum()
    return w_all, w_one, w_pt


@pytest.fixture
def half_readable(tmp_path):
    """Two ZSTD files of one dataset; the second has Muon_pt's basket 1 (entries 500-1000) scrambled."""
    good = tmp_path / "tt_0.root"
    src = tmp_path / "tt_1_src.root"
    bad = tmp_path / "tt_1.root"
    s0 = make_sample(good, seed=1, compression=uproot.ZSTD(1))
    s1 = make_sample(src, seed=2, compression=uproot.ZSTD(1))
    start, stop = corrupt(src, bad, "Muon_pt", basket=1)
    assert (start, stop) == (BASKET, 2 * BASKET)
    fs = {"tt": {"files": [str(good), str(bad)], "metadata": {"xsec": XSEC, "process": "tt"}}}
    return fs, good, src, bad, s0 + s1


def test_skip_bad_files_normalises_to_the_processed_events(toy, half_readable):
    fs, good, src, bad, sumw_runs = half_readable
    r = run_processor(
        toy.ToyProcessor({"lumi": LUMI}), fs, chunksize=BASKET, skip_bad_files=True, progress=False
    )
    assert [(b.kind, b.entries, b.path) for b in r.skipped] == [
        ("unreadable_chunk", (500, 1000), str(bad))
    ]
    keep_all = np.ones(2000, bool)
    keep_part = keep_all.copy()
    keep_part[500:1000] = False
    gw_src = uproot.open(src)["Events"]["genWeight"].array(library="np").astype(np.float64)
    processed_sumw = sumw_runs - gw_src[500:1000].sum()
    # exact reference: weights normalised to Σ genWeight of exactly the processed events
    ref = _reference([(good, keep_all), (src, keep_part)], processed_sumw)
    flow = r.output["tt"]["cutflow"]
    got = [flow[c]["weighted"] for c in ("all", "one_muon", "pt20")]
    np.testing.assert_allclose(got, ref, rtol=1e-9)
    assert flow["all"]["weighted"] == pytest.approx(XSEC * LUMI, rel=1e-9)  # nothing lost
    assert flow["all"]["events"] == 3500
    # the table's weights and the histograms are renormalised the same way
    assert r.output["tt"]["table"]["weight"].sum() == pytest.approx(ref[2], rel=1e-9)
    assert r.output["tt"]["hists"]["mu_pt"].sum(flow=True).value == pytest.approx(ref[2], rel=1e-9)
    norm = r.normalisation.to_dict()
    assert norm["method"] == "rescaled to processed events"
    assert norm["factors"]["tt"] == pytest.approx(sumw_runs / processed_sumw, rel=1e-12)
    assert r.accounting()["balanced"] and r.accounting()["skipped"] == 500


def test_corrupt_chunk_without_skip_names_file_and_entries(toy, half_readable):
    fs, _, _, bad, _ = half_readable
    with pytest.raises(InputFileError) as err:
        run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, chunksize=BASKET, progress=False)
    text = str(err.value)
    assert "\n" not in text and str(bad) in text and "entries 500-1000" in text
    assert "--skip-bad-files" in text


@pytest.mark.parametrize(
    ("compression", "branch", "mode", "expect"),
    [
        (uproot.LZ4(1), "nMuon", "scramble", "checksum"),  # LZ4 checksum mismatch (ValueError)
        (None, "nMuon", "scramble", "TypeError"),  # corrupt counts: awkward cannot build lists
        (None, "Muon_pt", "nan", "Muon_pt"),  # uncompressed NaN / 3.4e38 values
        (uproot.ZSTD(1), "nMuon", "scramble", "DecompressionError"),
    ],
    ids=["lz4-checksum", "corrupt-counts", "uncompressed-nan", "zstd"],
)
def test_corrupt_baskets_fail_cleanly_or_are_skipped(
    toy, tmp_path, compression, branch, mode, expect
):
    src = tmp_path / "src.root"
    bad = tmp_path / "bad.root"
    make_sample(src, seed=3, compression=compression)
    corrupt(src, bad, branch, basket=1, mode=mode)
    fs = {"tt": {"files": [str(bad)], "metadata": {"xsec": XSEC}}}
    with pytest.raises(InputFileError) as err:
        run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, chunksize=BASKET, progress=False)
    text = str(err.value)
    assert "\n" not in text and str(bad) in text and "500" in text and expect in text
    r = run_processor(
        toy.ToyProcessor({"lumi": LUMI}), fs, chunksize=BASKET, skip_bad_files=True, progress=False
    )
    assert [b.entries for b in r.skipped] == [(500, 1000)]
    table = r.output["tt"]["table"]
    assert all(np.all(np.isfinite(table[c])) for c in ("mu_pt", "mu_eta", "weight"))
    assert r.output["tt"]["cutflow"]["all"]["events"] == 1500
    assert r.output["tt"]["cutflow"]["all"]["weighted"] == pytest.approx(XSEC * LUMI, rel=1e-9)


def test_check_physical_names_branch_value_and_entries(tmp_path):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from hepml_coffea.errors import BadValueError
    from hepml_coffea.processing.validation import check_finite, check_physical

    src = tmp_path / "src.root"
    make_sample(src, seed=4, compression=None)
    good = NanoEventsFactory.from_root(
        {str(src): "Events"}, schemaclass=NanoAODSchema, mode="eager", entry_start=0, entry_stop=500
    ).events()
    check_physical(good)  # a clean sample passes
    bad = tmp_path / "bad.root"
    corrupt(src, bad, "MET_pt", basket=1, mode="nan")
    events = NanoEventsFactory.from_root(
        {str(bad): "Events"},
        schemaclass=NanoAODSchema,
        mode="eager",
        entry_start=500,
        entry_stop=1000,
        metadata={"dataset": "tt", "filename": str(bad), "entrystart": 500, "entrystop": 1000},
    ).events()
    check_physical(events, ("Muon", "Jet"))  # MET not asked for
    with pytest.raises(BadValueError, match=r"entries 500-1000.*branch MET_pt holds nan") as err:
        check_physical(events, ("Muon", "Jet", "MET"))
    assert str(bad) in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(BadValueError, match=r"column 'met' holds 3\.4e"):
        check_finite({"met": np.array([1.0, 3.4e38], np.float32)}, what="column")
    with pytest.raises(BadValueError, match="weight 'w' holds -inf"):
        check_finite({"w": [np.array([1.0]), np.array([-np.inf])]}, what="weight")


def test_corrupt_chunk_on_futures_is_one_line_and_skippable(toy, half_readable):
    """The futures executor printed 109 lines of traceback; now the same one line, or a skip."""
    fs, _, _, bad, _ = half_readable
    with pytest.raises(InputFileError) as err:
        run_processor(
            toy.ToyProcessor({"lumi": LUMI}),
            fs,
            executor="futures",
            chunksize=BASKET,
            progress=False,
        )
    assert "\n" not in str(err.value) and f"{bad} (dataset 'tt')" in str(err.value)
    r = run_processor(
        toy.ToyProcessor({"lumi": LUMI}),
        fs,
        executor="futures",
        chunksize=BASKET,
        skip_bad_files=True,
        progress=False,
    )
    assert r.output["tt"]["cutflow"]["all"]["weighted"] == pytest.approx(XSEC * LUMI, rel=1e-9)
