"""The notebooks in notebooks/ run top to bottom on tiny settings and print sensible numbers."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"

# notebook → (regex on its text output, check on the captured number)
EXPECTED = {
    "01_quickstart.ipynb": (r"AUC = ([0-9.]+)", lambda x: 0.8 < x <= 1.0),
    "02_estimators_in_plain_analysis.ipynb": (
        r"k-fold out-of-fold AUC = ([0-9.]+)",
        lambda x: 0.7 < x <= 1.0,
    ),
    "03_plotting_from_saved_histograms.ipynb": (r"(\d+) data events", lambda x: x > 50),
}


def _outputs(nb) -> str:
    text = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text.append(out["text"])
            elif "data" in out and "text/plain" in out["data"]:
                text.append(out["data"]["text/plain"])
    return "\n".join(text)


def test_notebooks_have_no_outputs():
    import nbformat

    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), path.name


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_notebook_runs(name, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")

    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    # the kernel must be this interpreter (the venv's), whatever kernelspecs the machine has
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent), prepend=":")
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = nbclient.NotebookClient(
        nb, kernel_name="python3", timeout=120, resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    pattern, check = EXPECTED[name]
    match = re.search(pattern, _outputs(nb))
    assert match, f"{name}: no {pattern!r} in the outputs"
    assert check(float(match.group(1))), match.group(0)
    if name == "01_quickstart.ipynb":  # the plot is displayed
        assert any("image/png" in o.get("data", {}) for c in nb.cells for o in c.get("outputs", []))
