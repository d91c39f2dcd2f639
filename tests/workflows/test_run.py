"""The ``run`` step end to end: outputs equal the processor's direct result, round trips, atomicity."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "processing"))
from engine_helpers import real_fileset, write_fileset

from hepml_coffea.config import load_analysis
from hepml_coffea.datasets import load_fileset, sum_genweights
from hepml_coffea.processing.registry import processor_class
from hepml_coffea.processing.runner import run_processor
from hepml_coffea.workflows import run_analysis
from hepml_coffea.workflows.outputs import histogram_paths, split_categories

TOY = Path(__file__).resolve().parents[1] / "processing" / "toy_processor.py"


def _direct(proc, path, dataset, metadata):
    """The processor run by hand on a whole file with plain NanoEventsFactory (no engine)."""
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    meta = {"dataset": dataset, "filename": str(path), **metadata}
    if not metadata["is_data"]:
        meta["sumw"] = sum_genweights([path])
    events = NanoEventsFactory.from_root(
        {str(path): "Events"}, schemaclass=NanoAODSchema, metadata=meta, mode="virtual"
    ).events()
    return proc.process(events)


@pytest.mark.realdata
def test_dimuon_on_real_samples(real_sample, tmp_path):
    fs = write_fileset(tmp_path / "fileset.json", real_fileset(real_sample))
    out = tmp_path / "out"
    summary = run_analysis("dimuon", fs, out, chunksize=15, progress=False)
    assert summary.startswith("dimuon: 80 events of 2 datasets in 6 chunks")
    cfg = load_analysis("dimuon")
    proc = processor_class(cfg)(cfg.to_dict())
    cutflow = json.loads((out / "cutflow.json").read_text())
    assert list(cutflow) == ["dy", "data"]
    for ds, entry in load_fileset(fs).items():
        (path,) = entry["files"]
        full = _direct(proc, path, ds, entry["metadata"])
        ref = full[ds]
        assert list(cutflow[ds]) == list(proc.cut_names)
        for cut in proc.cut_names:
            assert cutflow[ds][cut]["events"] == ref["cutflow"][cut]["events"]
            assert cutflow[ds][cut]["weighted"] == pytest.approx(
                ref["cutflow"][cut]["weighted"], rel=1e-12
            )
        # every histogram, split by its category values (datasets fill disjoint processes)
        n = 0
        with uproot.open(out / "histograms.root") as f:
            for base, h in histogram_paths(full).items():
                for key, part in split_categories(base, h):
                    back = f[key]
                    np.testing.assert_allclose(back.values(), part.values(), rtol=1e-12)
                    np.testing.assert_allclose(back.variances(), part.variances(), rtol=1e-12)
                    n += 1
        assert n > 0
    assert cutflow["data"]["mass_window"]["events"] > 0
    assert not (out / "features").exists()  # dimuon has no ML table
    info = json.loads((out / "run.json").read_text())
    assert info["analysis"] == "dimuon" and info["lumi"] == cfg["lumi"]
    assert info["datasets"]["dy"]["sumw"] == pytest.approx(sum_genweights([real_sample("dy")]))
    assert "sumw" not in info["datasets"]["data"]
    assert info["datasets"]["dy"]["events"]["processed"] == 40 and info["events_balanced"]
    assert info["executor"]["chunksize"] == 15 and info["cut_names"] == list(proc.cut_names)


def test_ttbar_tables_round_trip(generated_fileset, tmp_path):
    out = tmp_path / "out"
    run_analysis("ttbar_ljets", generated_fileset, out, chunksize=500, progress=False)
    info = json.loads((out / "run.json").read_text())
    (lumi,) = {e["metadata"]["lumi"] for e in load_fileset(generated_fileset).values()}
    assert info["lumi"] == info["config"]["lumi"] == lumi  # MC normalised to the pseudo-data's lumi
    cfg = load_analysis("ttbar_ljets", overrides=[f"lumi={lumi!r}"])
    proc = processor_class(cfg)(cfg.to_dict())
    ref = run_processor(
        proc, generated_fileset, chunksize=100_000, progress=False
    )  # one chunk per file
    assert info["feature_names"] == list(cfg["features"])
    cols = [*cfg["features"], "weight", "label", "run", "luminosityBlock", "event"]
    written = sorted(p.name for p in (out / "features").iterdir())
    assert written == sorted(
        f"{ds}.{ext}"
        for ds in ref.metadata  # the datasets (the output also holds merged "hists")
        for ext in ("parquet", "root")
        if len(ref.output[ds]["table"].get("weight", []))
    )
    for ds in ref.metadata:
        res = ref.output[ds]
        table = res["table"]
        if not table:
            continue
        par = pq.read_table(out / "features" / f"{ds}.parquet")
        assert par.column_names == cols
        with uproot.open(out / "features" / f"{ds}.root") as f:
            root = f["Events"].arrays(library="np")
        keys = lambda t: np.lexsort((t["event"], t["luminosityBlock"], t["run"]))  # noqa: E731
        p = {c: par.column(c).to_numpy() for c in cols}
        op, orr, oref = keys(p), keys(root), keys(table)
        for c in cols:
            assert p[c].dtype == root[c].dtype == table[c].dtype
            np.testing.assert_array_equal(p[c][op], table[c][oref], err_msg=c)
            np.testing.assert_array_equal(root[c][orr], table[c][oref], err_msg=c)
        assert info["datasets"][ds]["selected_rows"] == len(table["weight"])
        assert info["datasets"][ds]["events"]["processed"] == res["n_events"]
    assert info["n_chunks"] > len(ref.files)  # several chunks per file, several batches


def _toy_analysis(folder: Path, **extra) -> Path:
    folder.mkdir()
    lines = [f'processor = "{TOY.as_posix()}:ToyProcessor"', "lumi = 1000.0"]
    lines += [f"{k} = {v!r}" for k, v in extra.items()]
    (folder / "config.toml").write_text("\n".join(lines) + "\n")
    return folder


def test_failed_run_leaves_no_output(generated_fileset, tmp_path):
    fs = {
        k: v for k, v in load_fileset(generated_fileset).items() if k in ("ttbar_semilep", "wjets")
    }
    # chunks of 500 in batches of 4: the failing chunks (entries ≥ 2500) come in the second
    # batch, after the first batch's table rows were written to temporary files
    analysis = _toy_analysis(tmp_path / "toy", fail_from_entry=2500)
    out = tmp_path / "out"
    with pytest.raises(Exception, match="toy failure at entry 2500"):
        run_analysis(analysis, fs, out, chunksize=500, progress=False)
    assert not out.exists()  # nothing that looks finished, no temporary folder left
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".out")] == [".out.lock"]
    # the same analysis without the failure writes everything
    _toy_analysis(tmp_path / "toy2")
    run_analysis(tmp_path / "toy2", fs, out, chunksize=500, progress=False)
    assert sorted(p.name for p in out.rglob("*")) == sorted(
        [
            "features",
            "cutflow.json",
            "histograms.root",
            "histograms.json",
            "report.json",
            "run.json",
            "ttbar_semilep.parquet",
            "ttbar_semilep.root",
            "wjets.parquet",
            "wjets.root",
        ]
    )


def test_rerun_replaces_the_folder_as_a_whole(generated_fileset, tmp_path):
    fs = load_fileset(generated_fileset)
    out = tmp_path / "out"
    analysis = _toy_analysis(tmp_path / "toy")
    run_analysis(analysis, {k: fs[k] for k in ("ttbar_semilep", "wjets")}, out, progress=False)
    (out / "features" / "notes.txt").write_text("inside an output folder: replaced with it")
    run_analysis(analysis, {k: fs[k] for k in ("ttbar_semilep",)}, out, progress=False)
    assert sorted(p.name for p in (out / "features").iterdir()) == [
        "ttbar_semilep.parquet",
        "ttbar_semilep.root",
    ]
    assert list(json.loads((out / "cutflow.json").read_text())) == ["ttbar_semilep"]


def test_processed_luminosity_equals_coffea_lumi_tools(run_dir, generated_fileset):
    """run.json gives the luminosity of the lumi sections that pass the golden JSON, as coffea's
    LumiMask + LumiData compute it from the data file, golden.json and lumi.csv."""
    import json

    import numpy as np
    import uproot
    from coffea.lumi_tools import LumiData, LumiList, LumiMask

    info = json.loads((run_dir / "run.json").read_text())
    got = info["processed_luminosity"]["data"]
    folder = Path(generated_fileset).parent
    with uproot.open(folder / "data_0.root") as f:
        ids = f["Events"].arrays(["run", "luminosityBlock"], library="np")
    run, ls = ids["run"].astype(np.uint32), ids["luminosityBlock"].astype(np.uint32)
    passed = LumiMask(str(folder / "golden.json"))(run, ls)
    pairs = {(int(r), int(x)) for r, x in zip(run[passed], ls[passed], strict=True)}
    assert got["lumi_sections"] == len(pairs)
    assert 0 < len(pairs) < len(set(zip(run.tolist(), ls.tolist(), strict=True)))  # some dropped
    expected = LumiData(str(folder / "lumi.csv")).get_lumi(LumiList(run[passed], ls[passed]))
    assert got["luminosity_pb"] == pytest.approx(expected, rel=1e-9)
