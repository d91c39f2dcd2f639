"""Iterative, futures and Dask executors give identical outputs on a generated ≥100k-event sample."""

from __future__ import annotations

import pytest
from engine_helpers import assert_same_output

from hepml_coffea.config import load_analysis
from hepml_coffea.processing.registry import processor_class
from hepml_coffea.processing.runner import run_processor

CHUNK = 20_000


@pytest.fixture(scope="module")
def big_fileset(tmp_path_factory):
    """25k events per MC process (4) plus pseudo-data: ≈125k events in 10k-event ZSTD files."""
    from hepml_coffea.datasets import generate

    out = tmp_path_factory.mktemp("engine_125k")
    return generate(
        out, n_events=25_000, seed=7, compression="zstd", events_per_file=10_000, progress=False
    )


@pytest.fixture(scope="module")
def ttbar():
    cfg = load_analysis("ttbar_ljets")
    return processor_class(cfg)(cfg.to_dict())


@pytest.fixture(scope="module")
def iterative(ttbar, big_fileset):
    return run_processor(ttbar, big_fileset, executor="iterative", chunksize=CHUNK, progress=False)


def test_iterative_reference_is_complete(iterative):
    acc = iterative.accounting()
    assert acc["balanced"] and acc["processed"] == acc["in_fileset"] >= 100_000
    assert iterative.n_chunks >= 15  # several batches of 4 chunks
    tables = [iterative.output[ds]["table"] for ds in iterative.metadata]
    assert sum(len(t["weight"]) for t in tables) > 5_000


def test_futures_identical(ttbar, big_fileset, iterative):
    futures = run_processor(
        ttbar, big_fileset, executor="futures", workers=2, chunksize=CHUNK, progress=False
    )
    assert futures.settings["workers"] == 2
    assert_same_output(iterative.output, futures.output)


@pytest.mark.dask
def test_dask_identical(ttbar, big_fileset, iterative):
    dask = run_processor(
        ttbar, big_fileset, executor="dask", workers=2, chunksize=CHUNK, progress=False
    )
    assert dask.settings["executor"] == "dask"
    assert_same_output(iterative.output, dask.output)
