"""Fixtures of the engine tests."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def toy():
    """The toy processor module, imported by path (pickled by value for loky/Dask workers)."""
    from hepml_coffea.processing.registry import import_by_path

    return import_by_path(HERE / "toy_processor.py")
