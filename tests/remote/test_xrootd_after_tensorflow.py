"""Loading the XRootD client after TensorFlow crashed the interpreter (segmentation fault).

A job that trains a DNN and then reads root:// files (the demo on remote inputs, a notebook) did
that. hepml-coffea loads XRootD first whenever it imports TensorFlow.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("XRootD") is None, reason="the XRootD Python bindings are missing"
)


def test_keras_then_xrootd_does_not_crash():
    code = (
        "from hepml_coffea.estimators._keras import import_keras\n"
        "tf, keras = import_keras()\n"
        "import XRootD.client\n"
        "from fsspec_xrootd import XRootDFileSystem\n"
        "print('alive', tf.__version__)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "alive" in proc.stdout
