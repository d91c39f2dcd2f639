"""``hepml-coffea run module.py:Class``: any coffea processor, a plain coffea fileset, 3 executors.

The reference is a direct ``coffea.processor.Runner`` call on the real samples.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import uproot

from hepml_coffea.cli import main
from hepml_coffea.processing.registry import import_by_path

pytestmark = pytest.mark.realdata
HERE = Path(__file__).resolve().parent
PLAIN = HERE / "plain_processor.py"


@pytest.fixture(scope="module")
def plain_fileset(nanoaod_dir, tmp_path_factory) -> Path:
    """A plain coffea fileset: list form without metadata, and dict form with is_data only."""
    path = tmp_path_factory.mktemp("fs") / "fileset.json"
    spec = {
        "dy": [str(nanoaod_dir / "nano_dy.root")],
        "data": {
            "files": {str(nanoaod_dir / "nano_dimuon.root"): "Events"},
            "metadata": {"is_data": True},
        },
    }
    path.write_text(json.dumps(spec))
    return path


@pytest.fixture(scope="module")
def reference(nanoaod_dir):
    """The plain processor through coffea's own Runner (no hepml-coffea involved)."""
    from coffea import processor
    from coffea.nanoevents import NanoAODSchema

    proc = import_by_path(PLAIN).DimuonProcessor()
    fileset = {
        "dy": {"files": {str(nanoaod_dir / "nano_dy.root"): "Events"}},
        "data": {
            "files": {str(nanoaod_dir / "nano_dimuon.root"): "Events"},
            "metadata": {"is_data": True},
        },
    }
    runner = processor.Runner(
        executor=processor.IterativeExecutor(), schema=NanoAODSchema, chunksize=15
    )
    return runner(fileset, processor_instance=proc)


def _run(*argv):
    return main(["-q", "run", *map(str, argv)])


@pytest.mark.parametrize(
    "executor",
    ["iterative", "futures", pytest.param("dask", marks=[pytest.mark.dask, pytest.mark.slow])],
)
def test_plain_processor_equals_direct_runner(plain_fileset, reference, tmp_path, executor, capsys):
    out = tmp_path / "out"
    rc = _run(
        f"{PLAIN}:DimuonProcessor",
        "--fileset",
        plain_fileset,
        "--out",
        out,
        "--executor",
        executor,
        "--chunksize",
        15,
    )
    assert rc == 0, capsys.readouterr().err
    with uproot.open(out / "histograms.root") as f:
        for ds in ("dy", "data"):
            ref = reference[ds]
            process = ds  # the plain fileset's default process is the dataset name
            back = f[f"{ds}/mass/{process}"]  # StrCategory "process" split into the path
            np.testing.assert_allclose(
                back.values(), ref["mass"][{"process": process}].values(), rtol=1e-12
            )
            np.testing.assert_allclose(
                back.variances(), ref["mass"][{"process": process}].variances(), rtol=1e-12
            )
            np.testing.assert_allclose(f[f"{ds}/met"].values(), ref["met"].values(), rtol=1e-12)
    numbers = json.loads((out / "output.json").read_text())
    for ds in ("dy", "data"):
        assert numbers[ds]["cutflow"] == reference[ds]["cutflow"]
        assert numbers[ds]["sumw"] == pytest.approx(reference[ds]["sumw"], rel=1e-12)
        col = pq.read_table(out / "columns" / f"{ds}__selected_mass.parquet").column(
            "selected_mass"
        )
        np.testing.assert_allclose(
            np.sort(col.to_numpy()), np.sort(reference[ds]["selected_mass"].value), rtol=1e-12
        )
    # lossless histograms (uhi), never pickle
    import hist
    import uhi.io.json

    saved = json.loads((out / "histograms.json").read_text(), object_hook=uhi.io.json.object_hook)
    assert hist.Hist(saved["dy/mass"]) == reference["dy"]["mass"]
    run = json.loads((out / "run.json").read_text())
    assert run["processor"].endswith("plain_processor.py:DimuonProcessor")
    assert run["datasets"]["dy"]["sumw"] > 0 and "sumw" not in run["datasets"]["data"]
    assert run["executor"]["executor"] == executor


@pytest.mark.parametrize(
    "executor", ["futures", pytest.param("dask", marks=[pytest.mark.dask, pytest.mark.slow])]
)
def test_user_registered_feature_on_workers(plain_fileset, tmp_path, executor, capsys):
    out = tmp_path / "out"
    rc = _run(
        f"{HERE / 'feature_processor.py'}:UserFeatureProcessor",
        "--fileset",
        plain_fileset,
        "--out",
        out,
        "--executor",
        executor,
        "--chunksize",
        15,
    )
    assert rc == 0, capsys.readouterr().err
    with uproot.open(out / "histograms.root") as f:
        assert f["dy/user_n_muons"].values().sum() == 40  # every DY event counted once


def test_unsaveable_output_is_one_line(plain_fileset, tmp_path, capsys):
    module = tmp_path / "odd.py"
    module.write_text(
        "from coffea import processor\n"
        "class Odd(processor.ProcessorABC):\n"
        "    def process(self, events):\n"
        "        return {'dy': {'thing': complex(1, 2), 'n': len(events)}}\n"
        "    def postprocess(self, a):\n"
        "        return a\n"
    )
    rc = _run(f"{module}:Odd", "--fileset", plain_fileset, "--out", tmp_path / "o")
    err = capsys.readouterr().err
    assert rc == 2
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in err
    assert "output key 'dy/thing' holds a builtins.complex, which cannot be saved" in err
    assert not (tmp_path / "o").exists()


def test_not_a_processor_class(plain_fileset, tmp_path, capsys):
    rc = _run(f"{PLAIN}:Nope", "--fileset", plain_fileset, "--out", tmp_path / "o")
    err = capsys.readouterr().err
    assert rc == 2 and "defines no coffea ProcessorABC subclass 'Nope'" in err
