"""Shared test fixtures.

Real NanoAOD samples live in ``../shared/data/nanoaod`` beside the repository (CI always has
them). A user's clone does not, so tests that need them skip with a reason.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[1]
NANOAOD_DIR = Path(
    os.environ.get("HEPML_COFFEA_NANOAOD", REPO.parent / "shared" / "data" / "nanoaod")
)
REAL_SAMPLES = {
    "ttbar_2015": "nanoAOD_2015_CMS_Open_Data_ttbar.root",
    "dy": "nano_dy.root",
    "dimuon_data": "nano_dimuon.root",
}


@pytest.fixture(scope="session")
def nanoaod_dir() -> Path:
    """Folder of the real NanoAOD samples; skips the test where they are absent."""
    if not all((NANOAOD_DIR / f).is_file() for f in REAL_SAMPLES.values()):
        pytest.skip(
            f"real NanoAOD samples not found in {NANOAOD_DIR}: put them in ../shared/data/nanoaod "
            "beside the repository or set HEPML_COFFEA_NANOAOD to their folder"
        )
    return NANOAOD_DIR


@pytest.fixture(scope="session")
def real_sample(nanoaod_dir):
    """``real_sample("dy")`` → path of one real NanoAOD sample."""

    def _get(key: str) -> Path:
        return nanoaod_dir / REAL_SAMPLES[key]

    return _get


@pytest.fixture(scope="session")
def plot_dir() -> Path:
    """Where tests save the PNGs they make, to be looked at (tests/_plots, git-ignored)."""
    d = REPO / "tests" / "_plots"
    d.mkdir(exist_ok=True)
    return d


@pytest.fixture(scope="session")
def generated_fileset(tmp_path_factory) -> Path:
    """Path of the ``fileset.json`` of a small generated sample (3000 events per MC process,
    about 3000 pseudo-data events, ZSTD, seed 42), written once per test session."""
    from hepml_coffea.datasets import generate

    out = tmp_path_factory.mktemp("generated")
    return generate(out, n_events=3000, seed=42, compression="zstd", progress=False)
