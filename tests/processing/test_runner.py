"""The engine (run_processor): independent references, batching, executors, bad inputs."""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
import pytest
import uproot
from engine_helpers import bad_entry, corrupt_basket, make_bad_files, real_fileset

from hepml_coffea.errors import FilesetError, InputFileError, MissingBranchError
from hepml_coffea.processing.runner import run_processor

pytestmark = pytest.mark.realdata
LUMI = 1000.0


def _reference(path, is_data, xsec):
    """Toy processor's selection, weights and sumw from plain uproot + numpy."""
    with uproot.open(path) as f:
        ev = f["Events"].arrays(
            ["Muon_pt", "Muon_eta", "event"] + ([] if is_data else ["genWeight"])
        )
        sumw = None if is_data else float(np.sum(f["Runs"]["genEventSumw_"].array(library="np")))
    lead = ak.to_numpy(ak.fill_none(ak.firsts(ev.Muon_pt), -1.0))
    one = ak.to_numpy(ak.num(ev.Muon_pt) >= 1)
    sel = one & (lead > 20)
    w = (
        np.ones(len(lead))
        if is_data
        else ak.to_numpy(ev.genWeight).astype(np.float64) * xsec * LUMI / sumw
    )
    return lead, one, sel, w, sumw, ak.to_numpy(ev.event)


def test_toy_matches_plain_uproot(toy, real_sample):
    fs = real_fileset(real_sample)
    r = run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, chunksize=15, progress=False)
    assert r.n_chunks == 6  # 40 events in 3 chunks of 14, 13, 13 (coffea's balanced chunking), x2
    for ds, entry in fs.items():
        (path,) = entry["files"]
        meta = entry["metadata"]
        lead, one, sel, w, sumw, event = _reference(path, meta["is_data"], meta["xsec"])
        out = r.output[ds]
        assert out["n_events"] == 40
        assert [c["events"] for c in out["cutflow"].values()] == [
            40,
            int(one.sum()),
            int(sel.sum()),
        ]
        assert out["cutflow"]["pt20"]["weighted"] == pytest.approx(w[sel].sum(), rel=1e-12)
        assert r.metadata[ds].get("sumw") == (
            None if meta["is_data"] else pytest.approx(sumw, rel=1e-12)
        )
        ref, _ = np.histogram(lead[sel], bins=20, range=(0, 200), weights=w[sel])
        np.testing.assert_allclose(out["hists"]["mu_pt"].values(), ref, rtol=1e-12)
        order = np.argsort(out["table"]["event"])
        np.testing.assert_array_equal(out["table"]["event"][order], np.sort(event[sel]))
        np.testing.assert_array_equal(
            out["table"]["mu_pt"][order], lead[sel][np.argsort(event[sel])].astype(np.float32)
        )
    acc = r.accounting()
    assert acc["balanced"] and acc["processed"] == acc["in_fileset"] == 80
    assert set(r.output) == {"dy", "data"}  # no engine-internal keys leak


def test_batches_and_sink_do_not_change_results(toy, generated_fileset):
    from hepml_coffea.datasets import load_fileset

    fs = {
        k: v for k, v in load_fileset(generated_fileset).items() if k in ("ttbar_semilep", "data")
    }
    proc = toy.ToyProcessor({"lumi": LUMI})
    one = run_processor(proc, fs, chunksize=400, batch_chunks=1000, progress=False)
    calls = []
    many = run_processor(
        proc,
        fs,
        chunksize=400,
        batch_chunks=1,
        progress=False,
        table_sink=lambda ds, rows: calls.append((ds, rows)),
    )
    assert len(calls) == many.n_chunks == one.n_chunks > 10  # one sink call per chunk
    for ds in fs:
        sunk = {
            c: np.concatenate([rows[c] for d, rows in calls if d == ds])
            for c in one.output[ds]["table"]
        }
        assert len(sunk["mu_pt"]) > 100
        for col, arr in one.output[ds]["table"].items():
            np.testing.assert_array_equal(sunk[col], arr)  # iterative: same order
        assert many.output[ds]["table"] == {}
        assert many.output[ds]["cutflow"] == one.output[ds]["cutflow"]
        np.testing.assert_allclose(
            many.output[ds]["hists"]["mu_pt"].values(), one.output[ds]["hists"]["mu_pt"].values()
        )


def test_max_chunks_accounting(toy, real_sample):
    r = run_processor(
        toy.ToyProcessor({"lumi": LUMI}),
        real_fileset(real_sample),
        chunksize=15,
        max_chunks=1,
        progress=False,
    )
    acc = r.accounting()
    assert (acc["processed"], acc["not_requested"], acc["in_fileset"]) == (28, 52, 80)
    assert acc["balanced"]
    assert r.output["dy"]["n_events"] == 14


# --------------------------------------------------------------------------- bad inputs
@pytest.mark.parametrize("kind", ["missing", "corrupt", "truncated", "no_tree"])
def test_bad_file_raises_one_line(toy, real_sample, tmp_path, kind):
    bad = make_bad_files(tmp_path, real_sample("dy"))[kind]
    fs = real_fileset(real_sample, bad=bad_entry(kind, bad))
    with pytest.raises(InputFileError) as err:
        run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, progress=False)
    text = str(err.value)
    assert "\n" not in text and str(bad) in text and "--skip-bad-files" in text
    expected = {
        "missing": "does not exist",
        "corrupt": "not a ROOT file",
        "truncated": "truncated",
        "no_tree": "no tree 'Evnts'",
    }[kind]
    assert expected in text


def test_empty_file_warns_and_contributes_nothing(toy, real_sample, tmp_path):
    empty = make_bad_files(tmp_path, real_sample("dy"))["empty"]
    fs = real_fileset(real_sample)
    fs["dy"]["files"][str(empty)] = "Events"
    with pytest.warns(UserWarning, match="zero events"):
        r = run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, progress=False)
    assert r.output["dy"]["n_events"] == 40
    assert [b.kind for b in r.skipped] == ["empty"]


def test_skip_bad_files_reports_and_balances(toy, real_sample, tmp_path):
    bad = make_bad_files(tmp_path, real_sample("dy"))
    fs = real_fileset(real_sample, **{k: bad_entry(k, p) for k, p in bad.items()})
    fs["data"]["files"][str(bad["empty"])] = "Events"  # an empty file inside a good dataset
    r = run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, skip_bad_files=True, progress=False)
    assert sorted(b.kind for b in r.skipped) == [
        "corrupt",
        "empty",
        "empty",
        "missing",
        "no_tree",
        "truncated",
    ]
    acc = r.accounting()
    assert acc["balanced"] and acc["processed"] == 80 and acc["unreadable_files"] == 4
    assert r.output["missing"]["n_events"] == 0
    assert r.output["missing"]["cutflow"] == {
        c: {"events": 0, "weighted": 0.0} for c in toy.ToyProcessor.cut_names
    }
    assert r.output["data"]["cutflow"]["all"]["events"] == 40


def test_unreadable_chunk(toy, real_sample, tmp_path):
    broken = corrupt_basket(real_sample("dy"), tmp_path / "dy_broken.root")
    fs = real_fileset(real_sample)
    fs["dy"]["files"] = {str(broken): "Events"}
    with pytest.raises(InputFileError, match="cannot be read in entries"):
        run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, chunksize=20, progress=False)
    r = run_processor(
        toy.ToyProcessor({"lumi": LUMI}), fs, chunksize=20, skip_bad_files=True, progress=False
    )
    assert [(b.kind, b.num_entries) for b in r.skipped] == [("unreadable_chunk", 20)] * 2
    acc = r.accounting()
    assert acc["balanced"] and acc["per_dataset"]["dy"]["skipped"] == 40 and acc["processed"] == 40


def test_fileset_with_wrong_keys(toy, real_sample):
    fs = real_fileset(real_sample)
    fs["dy"]["file"] = fs["dy"].pop("files")
    with pytest.raises(FilesetError, match="'dy'"):
        run_processor(toy.ToyProcessor({}), fs, progress=False)


@pytest.mark.parametrize("executor", ["iterative", "futures"])
def test_missing_branch_surfaces_through_executor(toy, real_sample, executor):
    with pytest.raises(MissingBranchError) as err:
        run_processor(
            toy.ToyProcessor({"pt_branch": "ptx"}),
            real_fileset(real_sample),
            executor=executor,
            workers=2,
            progress=False,
        )
    assert str(err.value).startswith("Branch 'Muon_ptx' is missing from ")
    assert "\n" not in str(err.value) and err.value.__cause__ is None


@pytest.mark.dask
def test_missing_branch_through_existing_dask_scheduler(toy, real_sample):
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cl:
        with pytest.raises(MissingBranchError, match="Muon_ptx"):
            run_processor(
                toy.ToyProcessor({"pt_branch": "ptx"}),
                real_fileset(real_sample),
                scheduler=cl.scheduler_address,
                progress=False,
            )
        r = run_processor(
            toy.ToyProcessor({"lumi": LUMI}),
            real_fileset(real_sample),
            scheduler=cl.scheduler_address,
            chunksize=20,
            progress=False,
        )
    assert r.settings["executor"] == "dask" and r.accounting()["processed"] == 80


@pytest.mark.parametrize("slots", [1, 2, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 4, 5, 9, 10, 17, 100, 1001])
def test_batches_cover_in_order_balanced_and_rootish(n, slots):
    from hepml_coffea.processing.runner import batches

    out = batches(list(range(n)), slots)
    assert [c for b in out for c in b] == list(range(n))  # every chunk once, in order
    sizes = [len(b) for b in out]
    assert all(sizes) and (not sizes or max(sizes) - min(sizes) <= 1)
    if n > 2 * slots:  # Dask spreads a task group only if it has more than 2 tasks per thread
        assert min(sizes) > 2 * slots, sizes
    if n >= 8 * slots:  # memory: about 4 chunks per slot, not everything at once
        assert max(sizes) <= 6 * slots, sizes
    assert [len(b) for b in batches(list(range(n)), slots, size=3)] == [3] * (n // 3) + (
        [n % 3] if n % 3 else []
    )


def test_folder_given_as_file_one_line_or_skipped(toy, real_sample, tmp_path):
    folder = tmp_path / "looks_like.root"
    folder.mkdir()
    fs = real_fileset(real_sample, odd={"files": [str(folder)], "metadata": {"xsec": 1.0}})
    with pytest.raises(InputFileError) as err:
        run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, progress=False)
    assert f"Input file {folder} (dataset 'odd'): is a folder, not a ROOT file" in str(err.value)
    r = run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, skip_bad_files=True, progress=False)
    assert [(b.dataset, b.kind) for b in r.skipped] == [("odd", "missing")]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_permission_denied_one_line(toy, real_sample, tmp_path):
    locked = tmp_path / "locked.root"
    locked.write_bytes(real_sample("dy").read_bytes())
    locked.chmod(0)
    fs = real_fileset(real_sample, odd={"files": [str(locked)], "metadata": {"xsec": 1.0}})
    with pytest.raises(InputFileError, match="cannot be read"):
        run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, progress=False)


def test_genweight_warnings_name_the_dataset(toy, real_sample):
    fs = real_fileset(real_sample)
    fs["dy"]["metadata"]["is_data"] = True  # simulation marked as data
    with pytest.warns(
        UserWarning, match="dataset 'dy' is marked is_data but its files have genWeight"
    ):
        run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, progress=False)
    fs = real_fileset(real_sample)
    fs["data"]["metadata"].update(is_data=False, xsec=1.0)  # collision data marked as simulation
    with (
        pytest.warns(
            UserWarning, match="dataset 'data' is simulation .* but a file has no genWeight"
        ),
        pytest.raises(MissingBranchError, match="no Runs/genEventSumw and no Events/genWeight"),
    ):
        run_processor(toy.ToyProcessor({"lumi": LUMI}), fs, progress=False)
