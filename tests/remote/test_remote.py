"""Remote files through real servers: root:// (XRootD) and http:// (nginx) equal local reads."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
from pathlib import Path

import numpy as np
import pytest
import uproot
from servers import free_port, start_xrootd

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "processing"))

from hepml_coffea.errors import InputFileError
from hepml_coffea.filesets import file_genweight_sum
from hepml_coffea.processing.registry import import_by_path
from hepml_coffea.processing.runner import run_processor
from hepml_coffea.workflows import run_analysis

pytestmark = pytest.mark.realdata
HERE = Path(__file__).resolve().parents[1] / "processing"
REAL = {"dy": "nano_dy.root", "data": "nano_dimuon.root"}


@pytest.fixture(scope="module")
def plain():
    return import_by_path(HERE / "plain_processor.py").DimuonProcessor


def _fileset(location) -> dict:
    """The real DY + dimuon data and two generated files; ``location(name)`` gives the path/URL."""
    return {
        "dy": {"files": [location(REAL["dy"])], "metadata": {"xsec": 6077.22, "process": "dy"}},
        "data": {"files": [location(REAL["data"])], "metadata": {"is_data": True}},
        "gen": {
            "files": [location("gen_0.root"), location("gen_1.root")],
            "metadata": {"xsec": 2.0},
        },
    }


def _where(kind, served, xrootd_url, http_url):
    if kind == "local":
        return lambda name: str(served / name)
    if kind == "root":
        return lambda name: f"{xrootd_url}{served / name}"
    return lambda name: f"{http_url}{name}"


def _assert_equal(a, b):
    assert set(a) == set(b)
    for ds in a:
        assert a[ds]["cutflow"] == b[ds]["cutflow"]
        assert a[ds]["sumw"] == pytest.approx(b[ds]["sumw"], rel=1e-12)
        np.testing.assert_array_equal(
            np.sort(a[ds]["selected_mass"].value), np.sort(b[ds]["selected_mass"].value)
        )
        for name in ("mass", "met"):
            np.testing.assert_allclose(
                a[ds][name].values(flow=True), b[ds][name].values(flow=True), rtol=1e-12
            )
            np.testing.assert_allclose(
                a[ds][name].variances(flow=True), b[ds][name].variances(flow=True), rtol=1e-12
            )


@pytest.mark.parametrize("kind", ["root", "http"])
def test_remote_equals_local(plain, served, xrootd_url, http_url, kind):
    local = run_processor(
        plain(),
        _fileset(_where("local", served, xrootd_url, http_url)),
        chunksize=2000,
        progress=False,
    )
    remote = run_processor(
        plain(),
        _fileset(_where(kind, served, xrootd_url, http_url)),
        chunksize=2000,
        progress=False,
    )
    _assert_equal(remote.output, local.output)
    assert (
        remote.output["gen"]["cutflow"]["all"] == 10_000 and remote.n_chunks == local.n_chunks == 6
    )
    for ds in ("dy", "gen"):  # Σ genWeight from the Runs trees, read remotely
        assert remote.metadata[ds]["sumw"] == local.metadata[ds]["sumw"]
    assert remote.metadata["gen"]["sumw"] == pytest.approx(
        sum(
            uproot.open(served / f)["Runs"]["genEventSumw"].array(library="np").sum()
            for f in ("gen_0.root", "gen_1.root")
        ),
        rel=1e-12,
    )
    assert all("://" in f.path for f in remote.files)


@pytest.mark.parametrize("kind", ["root", "http"])
def test_analysis_cutflow_remote_equals_local(served, xrootd_url, http_url, kind, tmp_path):
    outs = {}
    for where in ("local", kind):
        loc = _where(where, served, xrootd_url, http_url)
        fs = {k: v for k, v in _fileset(loc).items() if k != "gen"}
        run_analysis("dimuon", fs, tmp_path / where, chunksize=15, progress=False)
        outs[where] = tmp_path / where
    assert json.loads((outs[kind] / "cutflow.json").read_text()) == json.loads(
        (outs["local"] / "cutflow.json").read_text()
    )
    with (
        uproot.open(outs["local"] / "histograms.root") as a,
        uproot.open(outs[kind] / "histograms.root") as b,
    ):
        keys = [k for k, c in a.classnames().items() if c.startswith("TH")]
        assert keys and keys == [k for k, c in b.classnames().items() if c.startswith("TH")]
        for k in keys:
            np.testing.assert_array_equal(a[k].values(), b[k].values())


def test_unreachable_server_one_line_or_skipped_with_right_normalisation(plain, served):
    dead = f"root://127.0.0.1:{free_port()}/{served / 'gen_1.root'}"
    fs = {"gen": {"files": [str(served / "gen_0.root"), dead], "metadata": {"xsec": 2.0}}}
    with pytest.raises(InputFileError) as err:
        run_processor(plain(), fs, timeout=3, progress=False)
    text = str(err.value)
    assert dead in text and "\n" not in text and "--skip-bad-files" in text
    r = run_processor(plain(), fs, timeout=3, skip_bad_files=True, progress=False)
    assert [(b.kind, b.path) for b in r.skipped] == [("unreachable", dead)]
    # normalisation covers exactly the readable file
    assert r.metadata["gen"]["sumw"] == pytest.approx(
        file_genweight_sum(str(served / "gen_0.root")), rel=1e-12
    )
    assert r.accounting()["processed"] == 5000 and r.accounting()["balanced"]


@pytest.mark.parametrize("kind", ["root", "http"])
def test_missing_remote_file_one_line(plain, served, xrootd_url, http_url, kind):
    url = _where(kind, served, xrootd_url, http_url)("no_such_file.root")
    with pytest.raises(
        InputFileError, match=r"not found on the server|does not exist|cannot be opened"
    ) as err:
        run_processor(plain(), {"x": [url]}, timeout=3, progress=False)
    assert url in str(err.value) and "\n" not in str(err.value)


def test_server_dying_mid_read(served, tmp_path):
    """The server is killed while the run reads: one line naming the URL; skipped and renormalised."""
    url, proc, work = start_xrootd(served)
    toy = import_by_path(HERE / "toy_processor.py")

    class Killer(toy.ToyProcessor):
        def process(self, events):
            if events.metadata["entrystart"] >= 2500 and not self.config.get("killed"):
                os.kill(self.config["pid"], signal.SIGKILL)  # iterative: this process
                self.config["killed"] = True
            return super().process(events)

    fs = {"gen": {"files": [f"{url}{served / 'gen_0.root'}"], "metadata": {"xsec": 2.0}}}
    try:
        with pytest.raises(InputFileError) as err:
            run_processor(
                Killer({"lumi": 1000.0, "pid": proc.pid}),
                fs,
                chunksize=2500,
                timeout=3,
                retries=0,
                progress=False,
            )
        text = str(err.value)
        assert f"{url}{served / 'gen_0.root'}" in text and "entries 2500-5000" in text
        assert "\n" not in text
        # with --skip-bad-files the chunk is skipped; its genWeight cannot be read from the dead
        # server, so the run refuses rather than normalise wrongly
        url2, proc2, work2 = start_xrootd(served)
        fs = {"gen": {"files": [f"{url2}{served / 'gen_0.root'}"], "metadata": {"xsec": 2.0}}}
        try:
            with pytest.raises(InputFileError, match="cannot be normalised to what was processed"):
                run_processor(
                    Killer({"lumi": 1000.0, "pid": proc2.pid}),
                    fs,
                    chunksize=2500,
                    timeout=3,
                    retries=0,
                    skip_bad_files=True,
                    progress=False,
                )
        finally:
            if proc2.poll() is None:
                proc2.kill()
                proc2.wait()
            shutil.rmtree(work2, ignore_errors=True)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(work, ignore_errors=True)
