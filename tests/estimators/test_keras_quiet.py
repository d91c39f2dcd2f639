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
