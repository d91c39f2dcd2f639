"""A small correctionlib file with known values, written by the tests (independent of the generator)."""

from __future__ import annotations

import correctionlib.schemav2 as cs
import numpy as np
import pytest

SYST = ("nominal", "up", "down")
MUON_SF = {"nominal": (0.98, 0.95), "up": (0.99, 0.97), "down": (0.97, 0.93)}  # |eta| < / > 1.2
PU_EDGES = [0.0, 15.0, 30.0, 200.0]
PU = {"nominal": (1.2, 1.0, 0.7), "up": (1.3, 1.0, 0.6), "down": (1.1, 1.0, 0.8)}
BTAG = {"nominal": {0: 1.0, 4: 1.0, 5: 1.0}, "up": {0: 1.1, 4: 1.05, 5: 1.03},
        "down": {0: 0.9, 4: 0.95, 5: 0.97}}  # fmt: skip
JES = (0.02, 0.04)  # |eta| < / > 1.5
JER_SF = {"nominal": 1.1, "up": 1.2, "down": 1.0}


def _binned(edges, values, var="abseta"):
    return cs.Binning(
        nodetype="binning", input=var, edges=list(edges), content=list(values), flow="clamp"
    )


def _by_syst(make):
    return cs.Category(
        nodetype="category",
        input="systematic",
        content=[cs.CategoryItem(key=s, value=make(s)) for s in SYST],
    )


def _corr(name, inputs, data):
    types = {"systematic": "string", "flavour": "int"}
    return cs.Correction(
        name=name,
        version=1,
        inputs=[cs.Variable(name=i, type=types.get(i, "real")) for i in inputs],
        output=cs.Variable(name="weight", type="real"),
        data=data,
    )


def write(path):
    corrections = [
        _corr("muon_sf", ["systematic", "abseta", "pt"],
              _by_syst(lambda s: _binned([0, 1.2, 2.5], MUON_SF[s]))),
        _corr("electron_sf", ["systematic", "abseta", "pt"],
              _by_syst(lambda s: _binned([0, 2.5], [0.96 + {"nominal": 0, "up": 0.01, "down": -0.01}[s]]))),
        _corr("pileup_weight", ["systematic", "nTrueInt"],
              _by_syst(lambda s: _binned(PU_EDGES, PU[s], "nTrueInt"))),
        _corr("btag_sf", ["systematic", "flavour", "abseta", "pt"], _by_syst(lambda s: cs.Category(
            nodetype="category", input="flavour",
            content=[cs.CategoryItem(key=f, value=v) for f, v in BTAG[s].items()]))),
        _corr("jes_uncertainty", ["abseta", "pt"], _binned([0, 1.5, 5.0], JES)),
        _corr("jer_resolution", ["abseta", "pt"], _binned([0, 5.0], [0.1])),
        _corr("jer_sf", ["systematic", "abseta"], _by_syst(lambda s: _binned([0, 5.0], [JER_SF[s]]))),
    ]  # fmt: skip
    cset = cs.CorrectionSet(schema_version=2, corrections=corrections)
    path.write_text(cset.model_dump_json(exclude_unset=True))
    return path


@pytest.fixture(scope="session")
def corrections_file(tmp_path_factory):
    """Path of the test correctionlib JSON (values: the constants of this module)."""
    return write(tmp_path_factory.mktemp("corr") / "corrections.json")


def jes_unc(abseta):
    return np.where(abseta < 1.5, JES[0], JES[1])
