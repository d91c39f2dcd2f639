"""Keras training is quiet: no TensorFlow start-up noise, no ANSI progress bars."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.keras

SCRIPT = """
import numpy as np
from hepml_coffea.estimators import DNNClassifier
X = np.random.default_rng(0).normal(size=(300, 3)).astype(np.float32)
y = (X[:, 0] > 0).astype(int)
DNNClassifier(hidden_layer_sizes=(4,), epochs=2, verbose={verbose}).fit(X, y)
print("done")
"""


@pytest.mark.parametrize("verbose", [0, 1])
def test_fit_prints_no_noise(verbose):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.pop("TF_ENABLE_ONEDNN_OPTS", None)
    run = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(verbose=verbose)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=True,
    )
    out = run.stdout + run.stderr
    assert "\x1b[" not in out  # no ANSI escape codes
    assert "━" not in out  # no progress bar
    for noise in ("cuda", "oneDNN", "cpu_feature_guard", "absl"):
        assert noise not in out, out
    if verbose:
        assert out.count("Epoch ") == 2  # one plain line per epoch
    else:
        assert out.strip() == "done"


def test_worker_processes_are_quiet_too():
    """A futures/Dask worker inherits TF_CPP_MIN_LOG_LEVEL from the process that set it: the
    marker tells it the level was hepml-coffea's, so it hides TF's start-up lines as well (they
    landed inside the progress bar of `apply` with a DNN)."""
    parent = (
        "import os, subprocess, sys\n"
        "from hepml_coffea.estimators._keras import import_keras\n"
        "import_keras()\n"
        f"child = {SCRIPT.format(verbose=0)!r}\n"
        "r = subprocess.run([sys.executable, '-c', child], capture_output=True, text=True)\n"
        "print(r.stdout + r.stderr)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    env.pop("HEPML_COFFEA_QUIET_TF", None)
    run = subprocess.run(
        [sys.executable, "-c", parent], capture_output=True, text=True, env=env, timeout=300,
        check=True,
    )  # fmt: skip
    child_out = run.stdout
    for noise in ("cuda", "oneDNN", "cpu_feature_guard", "absl"):
        assert noise not in child_out, child_out
    assert "done" in child_out
