"""Fixtures of the fit tests (helpers in fit_helpers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fit_helpers import toy_templates, write_root


@pytest.fixture
def toy_root(tmp_path: Path) -> Path:
    """A ``histograms.root`` of the toy model with Asimov (mu = 1) data."""
    return write_root(tmp_path / "histograms.root", toy_templates())
