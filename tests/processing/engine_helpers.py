"""Helpers of the engine tests: filesets of the real samples and bad input files (cases 1-5)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np


def real_fileset(real_sample, **extra) -> dict:
    """Fileset of the real DY (MC) and dimuon (data) samples, plus ``extra`` datasets."""
    fs = {
        "dy": {
            "files": {str(real_sample("dy")): "Events"},
            "metadata": {"is_data": False, "xsec": 6077.22, "process": "dy", "label": 0},
        },
        "data": {
            "files": {str(real_sample("dimuon_data")): "Events"},
            "metadata": {"is_data": True, "xsec": 0.0, "process": "data", "label": -1},
        },
    }
    fs.update(extra)
    return fs


def make_bad_files(folder: Path, good: Path) -> dict[str, Path]:
    """Bad inputs of cases 1-5, derived from the real file ``good``."""
    folder.mkdir(parents=True, exist_ok=True)
    data = good.read_bytes()
    files = {
        "missing": folder / "does_not_exist.root",
        "corrupt": folder / "corrupt.root",
        "truncated": folder / "truncated.root",
        "no_tree": folder / "no_tree.root",
        "empty": folder / "empty.root",
    }
    files["corrupt"].write_bytes(np.random.default_rng(1).bytes(20_000))
    files["truncated"].write_bytes(data[: len(data) // 2])
    shutil.copy(good, files["no_tree"])  # opened with tree name "Evnts"
    import uproot

    with uproot.recreate(files["empty"]) as f:
        f.mktree("Events", {"run": np.uint32, "genWeight": np.float32})
    return files


def bad_entry(kind: str, path: Path) -> dict:
    tree = "Evnts" if kind == "no_tree" else "Events"
    return {
        "files": {str(path): tree},
        "metadata": {"is_data": False, "xsec": 1.0, "process": kind, "label": 0},
    }


def write_fileset(path: Path, fileset: dict) -> Path:
    path.write_text(json.dumps(fileset))
    return path


def corrupt_basket(src: Path, dst: Path, branch: str = "Muon_pt") -> Path:
    """Copy ``src`` with the compressed payload of ``branch``'s first basket scrambled."""
    import uproot

    with uproot.open(src) as f:
        b = f["Events"][branch]
        seek, nbytes = int(b.member("fBasketSeek")[0]), int(b.member("fBasketBytes")[0])
    data = bytearray(src.read_bytes())
    for i in range(seek + 120, seek + nbytes - 10):
        data[i] = (data[i] * 7 + 13) % 256
    dst.write_bytes(bytes(data))
    os.utime(dst)
    return dst


def assert_same_output(a, b) -> None:
    """Two RunResult outputs agree: cutflow counts exactly, weighted sums and histograms to
    float tolerance (accumulation order differs between executors), tables equal row by row
    after sorting by (run, luminosityBlock, event)."""
    assert set(a) == set(b)
    for ds in a:
        if ds == "hists":  # histograms merged over datasets (region, process, variation, x)
            _assert_same_hists(a[ds], b[ds], "hists")
            continue
        ca, cb = a[ds]["cutflow"], b[ds]["cutflow"]
        assert list(ca) == list(cb)
        assert [c["events"] for c in ca.values()] == [c["events"] for c in cb.values()], ds
        np.testing.assert_allclose(
            [c["weighted"] for c in ca.values()], [c["weighted"] for c in cb.values()], rtol=1e-12
        )
        assert a[ds]["n_events"] == b[ds]["n_events"]
        _assert_same_hists(a[ds].get("hists", {}), b[ds].get("hists", {}), ds)
        ta, tb = a[ds]["table"], b[ds]["table"]
        assert list(ta) == list(tb)
        if not ta:
            continue
        oa = np.lexsort((ta["event"], ta["luminosityBlock"], ta["run"]))
        ob = np.lexsort((tb["event"], tb["luminosityBlock"], tb["run"]))
        for col in ta:
            assert ta[col].dtype == tb[col].dtype
            np.testing.assert_array_equal(ta[col][oa], tb[col][ob], err_msg=f"{ds}:{col}")


def _assert_same_hists(ha: dict, hb: dict, where: str) -> None:
    """Same histograms, compared per combination of category values (growth order may differ)."""
    from hepml_coffea.workflows.outputs import split_categories

    assert set(ha) == set(hb), where
    for name, h in ha.items():
        pa = dict(split_categories(f"{where}/{name}", h))
        pb = dict(split_categories(f"{where}/{name}", hb[name]))
        assert set(pa) == set(pb), name
        for key, part in pa.items():
            for what in ("values", "variances"):
                np.testing.assert_allclose(
                    getattr(part, what)(flow=True),
                    getattr(pb[key], what)(flow=True),
                    rtol=1e-10,
                    atol=1e-12,
                    err_msg=f"{key} {what}",
                )
