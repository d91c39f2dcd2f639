"""A real external Dask cluster (``dask scheduler`` + 2 ``dask worker`` processes on loopback).

run and apply through ``scheduler=tcp://...`` equal an iterative run; losing a worker (SIGKILL)
mid-run is survived (Dask reschedules its tasks); model folders reach the workers' local
directories (``upload_models``) and are used there when the original path is gone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import uproot

pytestmark = pytest.mark.dask

BIN = Path(sys.executable).parent
START_TIMEOUT = 60  # s, scheduler file and workers
WORKERS = 2


class ExternalCluster:
    """``dask scheduler`` and ``dask worker --no-nanny --nthreads 1`` subprocesses in ``folder``."""

    def __init__(self, folder: Path, n_workers: int = WORKERS) -> None:
        self.folder = folder
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        folder.mkdir(parents=True, exist_ok=True)
        sched_file = folder / "scheduler.json"
        env = {**os.environ, "DASK_DISTRIBUTED__WORKER__DAEMON": "False"}
        log = (folder / "scheduler.log").open("w")
        self.procs.append(
            subprocess.Popen(
                [str(BIN / "dask"), "scheduler", "--host", "127.0.0.1", "--port", "0",
                 "--no-dashboard", "--scheduler-file", str(sched_file)],
                cwd=folder, stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while not sched_file.is_file() or not sched_file.read_text().strip():
            self._check_alive(deadline)
            time.sleep(0.1)
        self.address = json.loads(sched_file.read_text())["address"]
        for i in range(n_workers):
            wdir = folder / f"worker{i}"  # not the repository: workers share no cwd with us
            wdir.mkdir()
            wlog = (folder / f"worker{i}.log").open("w")
            p = subprocess.Popen(
                [str(BIN / "dask"), "worker", self.address, "--nthreads", "1", "--no-nanny",
                 "--no-dashboard", "--local-directory", str(wdir), "--name", f"w{i}"],
                cwd=wdir, stdout=wlog, stderr=subprocess.STDOUT, env=env,
            )  # fmt: skip
            self.procs.append(p)
            self.workers.append(p)
        from distributed import Client

        self.client = Client(self.address, timeout=START_TIMEOUT)
        self.client.wait_for_workers(n_workers, timeout=START_TIMEOUT)

    def _check_alive(self, deadline: float) -> None:
        dead = [p.args[1] for p in self.procs if p.poll() is not None]
        if dead or time.monotonic() > deadline:
            logs = "\n".join(f.read_text()[-2000:] for f in self.folder.glob("*.log"))
            self.close()
            pytest.fail(f"Dask {dead or 'start-up'} failed/timed out:\n{logs}")

    def worker_pids(self) -> dict[str, int]:
        return self.client.run(os.getpid)

    def close(self) -> None:
        client = getattr(self, "client", None)
        if client is not None:
            client.close(timeout=10)
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=15)


@pytest.fixture
def cluster(tmp_path):
    c = ExternalCluster(tmp_path / "cluster")
    try:
        yield c
    finally:
        c.close()


def assert_same_run(a: Path, b: Path) -> None:
    """cutflow.json and every histogram of two run/apply output folders are equal."""
    ca, cb = (json.loads((d / "cutflow.json").read_text()) for d in (a, b))
    assert list(ca) == list(cb)
    for ds in ca:
        assert list(ca[ds]) == list(cb[ds])
        for cut in ca[ds]:
            assert ca[ds][cut]["events"] == cb[ds][cut]["events"], (ds, cut)
            assert ca[ds][cut]["weighted"] == pytest.approx(cb[ds][cut]["weighted"], rel=1e-9)
    with uproot.open(a / "histograms.root") as fa, uproot.open(b / "histograms.root") as fb:
        names = sorted(k for k, v in fa.classnames().items() if v.startswith("TH"))
        assert names == sorted(k for k, v in fb.classnames().items() if v.startswith("TH"))
        assert len(names) > 10
        for k in names:
            np.testing.assert_array_equal(
                fa[k].values(flow=True) != 0, fb[k].values(flow=True) != 0
            )
            np.testing.assert_allclose(fa[k].values(flow=True), fb[k].values(flow=True), rtol=1e-9)
            np.testing.assert_allclose(
                fa[k].variances(flow=True), fb[k].variances(flow=True), rtol=1e-9
            )
    ia, ib = (json.loads((d / "run.json").read_text()) for d in (a, b))
    for ds in ia["datasets"]:
        assert ia["datasets"][ds]["events"] == ib["datasets"][ds]["events"]
        assert ia["datasets"][ds]["selected_rows"] == ib["datasets"][ds]["selected_rows"]


@pytest.fixture(scope="module")
def iterative_and_model(generated_fileset, tmp_path_factory):
    """Iterative run + apply outputs and a small BDT trained on the run's tables."""
    from hepml_coffea.workflows import apply_models, run_analysis, train_model

    base = tmp_path_factory.mktemp("dask_ref")
    run_analysis("ttbar_ljets", generated_fileset, base / "run", chunksize=1000, progress=False)
    model = base / "bdt_small"
    train_model(
        "ttbar_ljets",
        base / "run",
        "bdt",
        model,
        overrides=["training.bdt.n_estimators=20", "training.bdt.max_depth=3"],
        progress=False,
    )
    apply_models(
        "ttbar_ljets", generated_fileset, [model], base / "apply", chunksize=1000, progress=False
    )
    return base, model


def test_run_and_apply_on_external_cluster(
    cluster, generated_fileset, iterative_and_model, tmp_path
):
    from hepml_coffea.workflows import apply_models, run_analysis

    base, model = iterative_and_model
    run_analysis(
        "ttbar_ljets", generated_fileset, tmp_path / "run", chunksize=1000,
        scheduler=cluster.address, progress=False,
    )  # fmt: skip
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["executor"]["executor"] == "dask"
    assert info["executor"]["scheduler"] == cluster.address
    assert_same_run(base / "run", tmp_path / "run")

    apply_models(
        "ttbar_ljets", generated_fileset, [model], tmp_path / "apply", chunksize=1000,
        scheduler=cluster.address, progress=False,
    )  # fmt: skip
    assert_same_run(base / "apply", tmp_path / "apply")
    with uproot.open(tmp_path / "apply" / "histograms.root") as f:
        # <observable>/<region>/<process>/<variation> (histograms merged over datasets)
        assert any(k.split(";")[0].startswith("score_bdt_small/") for k in f.keys(recursive=True))
    # both workers did work and got the model folder in their own local directory (upload_models)
    local = cluster.client.run(
        lambda dask_worker: sorted(
            p.name for p in (Path(dask_worker.local_directory) / "bdt_small").iterdir()
        )
    )
    assert len(local) == WORKERS
    expected = sorted(p.name for p in model.iterdir())
    assert all(v == expected for v in local.values())
    # the scores are the same as in the iterative apply (friend trees of the selected events)
    import pyarrow.parquet as pq

    for ds in ("ttbar_semilep", "wjets"):
        a = pq.read_table(base / "apply" / "features" / f"{ds}.parquet").to_pandas()
        b = pq.read_table(tmp_path / "apply" / "features" / f"{ds}.parquet").to_pandas()
        a, b = (t.sort_values(["run", "event"]).reset_index(drop=True) for t in (a, b))
        np.testing.assert_allclose(b["score_bdt_small"], a["score_bdt_small"], rtol=1e-6)


def test_uploaded_model_used_when_original_path_is_gone(cluster, iterative_and_model, tmp_path):
    """A worker without the model's path (no shared disk) scores with its uploaded copy."""
    import shutil

    from hepml_coffea.processing.inference import ModelScorer, upload_models

    _, model = iterative_and_model
    copy = tmp_path / "bdt_moved"
    shutil.copytree(model, copy)
    scorer = ModelScorer(copy, score_cut=0.5)  # the cut does not enter the score
    X = np.random.default_rng(0).normal(size=(50, len(scorer.feature_names))).astype(np.float32)
    ref = scorer.score(X)
    upload_models(cluster.client, [str(copy)])
    shutil.rmtree(copy)  # the original path no longer exists anywhere
    fresh = ModelScorer.__new__(ModelScorer)
    fresh.__setstate__(scorer.__getstate__())  # as unpickled on a worker: no model loaded
    got = cluster.client.submit(lambda s, x: s.score(x), fresh, X, pure=False).result(timeout=60)
    np.testing.assert_allclose(got, ref, rtol=1e-6)


@pytest.mark.slow  # ~55 s: 80 chunks of 250 events on 2 workers, one killed
def test_worker_killed_mid_run(cluster, generated_fileset, iterative_and_model, tmp_path):
    """SIGKILL one of two workers while it processes chunks: the run completes, results equal."""
    from hepml_coffea.workflows import run_analysis

    base, _ = iterative_and_model
    pids = cluster.worker_pids()
    victim_addr = sorted(pids)[0]
    victim = next(p for p in cluster.workers if p.pid == pids[victim_addr])
    state: dict = {}
    stop = threading.Event()

    def kill_when_busy() -> None:
        from distributed import Client

        with Client(cluster.address, timeout=30) as c:
            deadline = time.monotonic() + 120
            while not stop.is_set() and time.monotonic() < deadline:
                info = c.run_on_scheduler(
                    lambda dask_scheduler, a=victim_addr: (
                        len(dask_scheduler.workers[a].processing),
                        sum(len(w.has_what) for w in dask_scheduler.workers.values()),
                        dask_scheduler.transition_counter,
                    )
                )
                processing, _, transitions = info
                # after some chunks finished (transitions), while the victim runs one
                if processing and transitions > 60:
                    os.kill(victim.pid, signal.SIGKILL)
                    state["killed_at"] = time.monotonic()
                    state["processing"] = processing
                    return
                time.sleep(0.02)

    t = threading.Thread(target=kill_when_busy, daemon=True)
    t.start()
    try:
        run_analysis(
            "ttbar_ljets", generated_fileset, tmp_path / "run", chunksize=250,
            scheduler=cluster.address, progress=False,
        )  # fmt: skip
        finished = time.monotonic()
    finally:
        stop.set()
        t.join(timeout=30)
    assert "killed_at" in state, "the worker was not killed during the run"
    assert state["killed_at"] < finished and state["processing"] >= 1
    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert len(cluster.client.scheduler_info()["workers"]) == WORKERS - 1
    info = json.loads((tmp_path / "run" / "run.json").read_text())
    assert info["n_chunks"] > 40 and info["events_balanced"]
    assert_same_run(base / "run", tmp_path / "run")
