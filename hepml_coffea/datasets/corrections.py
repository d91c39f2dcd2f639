"""Corrections of the generated samples: the tables the generator uses, and ``corrections.json``.

Every correction is a binned table defined once here. The generator draws the pseudo-data with
these tables (numpy evaluation, :func:`evaluate`), and :func:`write_corrections` writes the same
tables as a correctionlib ``CorrectionSet`` (schema v2), so that an analysis that applies the
scale factors, the pileup weight and the jet-energy variations from ``corrections.json`` to the
simulation reproduces the pseudo-data (a fit recovers μ = 1 with nuisances ≈ 0).

How the pseudo-data are made consistent with each correction:

- ``pileup_weight(systematic, nTrueInt)``: simulation draws ``Pileup_nTrueInt`` from the MC
  profile, pseudo-data from the data profile (``PV_npvs`` ~ Poisson(0.9 nTrueInt) + 1 in both).
  The weight is the ratio of the two profiles' probabilities in each bin of width 1; "up"/"down"
  shift the data profile by ±4.6% (the minimum-bias cross-section uncertainty).
- ``muon_sf`` / ``electron_sf(systematic, abseta, pt)``: each reconstructed lepton of the
  pseudo-data survives with probability SF (all SF ≤ 1), i.e. ε_data = ε_MC · SF.
- ``btag_sf(systematic, flavour, abseta, pt)``: the pseudo-data are tagged as the simulation
  (nominal SF = 1 exactly); "up"/"down" carry the uncertainty (b, c: 2–4%, light: 10%).
- ``jes_uncertainty(abseta, pt)``: relative 1σ of the jet energy scale (1–4%); the pseudo-data
  have the nominal scale unless generated with ``jes_shift``.
- ``jer_resolution(abseta, pt)`` (relative pT resolution of simulated jets) and
  ``jer_sf(systematic, abseta)``: the pseudo-data jets are smeared to a resolution SF × that of
  the simulation, so simulation must be smeared with the nominal SF (stochastic method:
  ``pt · (1 + N(0, 1) · resolution · sqrt(SF² − 1))``) to match.

All tables clamp out-of-range inputs to the first/last bin (``flow="clamp"``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = [
    "CORRECTIONS",
    "SYSTEMATICS",
    "Table",
    "evaluate",
    "pileup_profile",
    "sample_pileup",
    "write_corrections",
]

SYSTEMATICS = ("nominal", "up", "down")

# --------------------------------------------------------------------------- pileup profiles
PU_EDGES = np.arange(0.0, 100.0 + 1.0, 1.0)
"""Bins of ``Pileup_nTrueInt`` (width 1, 0–100)."""
PU_MC = (32.0, 12.0)
"""Simulation pileup profile: truncated normal (mean, sd) on [0, 100)."""
PU_DATA = (30.0, 11.0)
"""Data pileup profile (nominal); "up"/"down" scale mean and sd by 1 ± ``PU_XSEC_UNC``."""
PU_XSEC_UNC = 0.046


def _data_profile(systematic: str) -> tuple[float, float]:
    scale = {"nominal": 1.0, "up": 1.0 + PU_XSEC_UNC, "down": 1.0 - PU_XSEC_UNC}[systematic]
    return PU_DATA[0] * scale, PU_DATA[1] * scale


def pileup_profile(which: str) -> np.ndarray:
    """Probability of each ``PU_EDGES`` bin for ``which`` in {"mc", "nominal", "up", "down"}."""
    mean, sd = PU_MC if which == "mc" else _data_profile(which)
    cdf = ndtr((PU_EDGES - mean) / sd)
    p = np.diff(cdf)
    return p / p.sum()


def sample_pileup(rng: np.random.Generator, n: int, which: str) -> np.ndarray:
    """``n`` values of nTrueInt (float) from the profile ``which`` ("mc" or "nominal" = data)."""
    mean, sd = PU_MC if which == "mc" else _data_profile(which)
    lo, hi = ndtr((PU_EDGES[0] - mean) / sd), ndtr((PU_EDGES[-1] - mean) / sd)
    x = mean + sd * ndtri(rng.uniform(lo, hi, n))
    return np.clip(x, PU_EDGES[0], np.nextafter(PU_EDGES[-1], 0.0))


# --------------------------------------------------------------------------- tables
@dataclass(frozen=True)
class Table:
    """A binned correction: ``values`` has one axis per entry of ``edges`` (after the
    categorical axes ``categories``: tuples of (input name, keys))."""

    name: str
    description: str
    categories: tuple[tuple[str, tuple], ...]
    inputs: tuple[str, ...]
    edges: tuple[np.ndarray, ...]
    values: np.ndarray


_ABSETA_MU = np.array([0.0, 0.9, 1.2, 2.1, 2.4])
_ABSETA_EL = np.array([0.0, 0.8, 1.444, 1.566, 2.0, 2.5])
_PT_LEP = np.array([10.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 120.0, 500.0])
_ABSETA_JET = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.7])
_PT_JET = np.array([15.0, 20.0, 30.0, 50.0, 80.0, 120.0, 200.0, 400.0, 1000.0, 3000.0])


def _centres(edges: np.ndarray) -> np.ndarray:
    return 0.5 * (edges[:-1] + edges[1:])


def _lepton_table(name: str, abseta: np.ndarray, base: np.ndarray, lep: str) -> Table:
    """SF(abseta, pt) = base(abseta) · (1 − 0.02 · exp(−(pt − 10)/15)); unc 0.5% ⊕ low-pT term."""
    pt = _centres(_PT_LEP)
    nom = base[:, None] * (1.0 - 0.02 * np.exp(-(pt[None, :] - 10.0) / 15.0))
    unc = np.sqrt(0.005**2 + (0.15 / pt[None, :]) ** 2) * np.ones_like(nom)
    vals = np.stack([nom, nom + unc, nom - unc])
    desc = (
        f"{lep} identification+isolation scale factor (data/MC efficiency ratio) vs |eta|, pT "
        "(GeV); the pseudo-data keep each lepton with probability SF"
    )
    return Table(name, desc, (("systematic", SYSTEMATICS),), ("abseta", "pt"),
                 (abseta, _PT_LEP), np.round(vals, 5))  # fmt: skip


def _btag_table() -> Table:
    pt = _centres(_PT_JET)
    unc_b = 0.02 + 0.02 * np.clip((pt - 30.0) / 500.0, 0.0, 1.0)
    unc = {5: unc_b, 4: 2.0 * unc_b, 0: np.full_like(pt, 0.10)}
    vals = np.empty((3, 3, len(_ABSETA_JET) - 1, len(pt)))
    for fi, f in enumerate((0, 4, 5)):
        u = np.broadcast_to(unc[f] * (1.0 + 0.1 * _centres(_ABSETA_JET)[:, None]), vals.shape[2:])
        vals[0, fi], vals[1, fi], vals[2, fi] = 1.0, 1.0 + u, 1.0 - u
    desc = (
        "DeepJet b-tagging scale factor per jet vs hadronFlavour (0, 4, 5), |eta|, pT (GeV); the "
        "pseudo-data are tagged as the simulation, so nominal = 1 and up/down carry the "
        "uncertainty"
    )
    return Table("btag_sf", desc, (("systematic", SYSTEMATICS), ("flavour", (0, 4, 5))),
                 ("abseta", "pt"), (_ABSETA_JET, _PT_JET), np.round(vals, 5))  # fmt: skip


def _pileup_table() -> Table:
    mc = pileup_profile("mc")
    vals = np.stack([pileup_profile(s) / np.maximum(mc, 1e-300) for s in SYSTEMATICS])
    vals = np.where(mc[None, :] > 1e-12, vals, 0.0)
    desc = (
        "pileup weight: data / simulation probability of the true number of interactions "
        "(Pileup_nTrueInt, bins of width 1); up/down: minimum-bias cross section +-4.6%"
    )
    return Table("pileup_weight", desc, (("systematic", SYSTEMATICS),), ("nTrueInt",),
                 (PU_EDGES,), np.round(vals, 6))  # fmt: skip


def _jes_table() -> Table:
    abseta, pt = _centres(_ABSETA_JET), _centres(_PT_JET)
    vals = np.clip(0.009 + 0.003 * abseta[:, None] + 0.5 / pt[None, :], 0.01, 0.045)
    desc = "jet energy scale uncertainty: relative 1 sigma vs |eta|, pT (GeV)"
    return Table("jes_uncertainty", desc, (), ("abseta", "pt"), (_ABSETA_JET, _PT_JET),
                 np.round(vals, 5))  # fmt: skip


JER_STOCHASTIC, JER_CONSTANT = 1.1, 0.05
"""Simulated jet pT resolution sqrt((S/sqrt(pT))² + C²) (relative, pT in GeV)."""


def _jer_tables() -> tuple[Table, Table]:
    pt = _centres(_PT_JET)
    res = np.sqrt((JER_STOCHASTIC / np.sqrt(pt)) ** 2 + JER_CONSTANT**2)
    vals = np.broadcast_to(res, (len(_ABSETA_JET) - 1, len(pt)))
    resolution = Table(
        "jer_resolution",
        "relative jet pT resolution of the simulation vs |eta|, pT (GeV)",
        (), ("abseta", "pt"), (_ABSETA_JET, _PT_JET), np.round(vals, 5),
    )  # fmt: skip
    nom = np.array([1.10, 1.10, 1.12, 1.12, 1.15, 1.20, 1.20])
    sf = np.stack([nom, nom + 0.05 + 0.05 * (nom - 1.1), np.maximum(nom - 0.05, 1.0)])
    scale = Table(
        "jer_sf",
        "jet energy resolution scale factor (data / simulation resolution) vs |eta|",
        (("systematic", SYSTEMATICS),), ("abseta",), (_ABSETA_JET,), np.round(sf, 4),
    )  # fmt: skip
    return resolution, scale


CORRECTIONS: dict[str, Table] = {
    t.name: t
    for t in (
        _btag_table(),
        _lepton_table("muon_sf", _ABSETA_MU, np.array([0.985, 0.978, 0.982, 0.965]), "muon"),
        _lepton_table(
            "electron_sf", _ABSETA_EL, np.array([0.975, 0.965, 0.94, 0.955, 0.945]), "electron"
        ),
        _pileup_table(),
        _jes_table(),
        *_jer_tables(),
    )
}
"""The corrections written to ``corrections.json``, by name."""


def evaluate(name: str, *args) -> np.ndarray:
    """Evaluate correction ``name`` with numpy, exactly as correctionlib does (clamped bins).

    ``args`` are the inputs in the order of the JSON: the categorical ones (a single str/int)
    first, then the real ones (arrays).
    """
    t = CORRECTIONS[name]
    vals = t.values
    for (inp, keys), key in zip(t.categories, args[: len(t.categories)], strict=True):
        if key not in keys:
            msg = f"{name}: {inp} must be one of {list(keys)}; got {key!r}"
            raise ValueError(msg)
        vals = vals[list(keys).index(key)]
    reals = args[len(t.categories) :]
    idx = []
    for x, edges in zip(reals, t.edges, strict=True):
        i = np.searchsorted(edges, np.asarray(x, dtype=np.float64), side="right") - 1
        idx.append(np.clip(i, 0, len(edges) - 2))
    return vals[tuple(idx)]


def _content(t: Table, vals: np.ndarray) -> dict:
    if len(t.inputs) == 1:
        return {
            "nodetype": "binning", "input": t.inputs[0], "edges": t.edges[0].tolist(),
            "content": vals.tolist(), "flow": "clamp",
        }  # fmt: skip
    return {
        "nodetype": "multibinning", "inputs": list(t.inputs),
        "edges": [e.tolist() for e in t.edges], "content": vals.ravel().tolist(), "flow": "clamp",
    }  # fmt: skip


def _node(t: Table, cats: tuple, vals: np.ndarray) -> dict:
    if not cats:
        return _content(t, vals)
    inp, keys = cats[0]
    return {
        "nodetype": "category",
        "input": inp,
        "content": [{"key": k, "value": _node(t, cats[1:], vals[i])} for i, k in enumerate(keys)],
    }


def _correction(t: Table) -> dict:
    types = {"systematic": "string", "flavour": "int"}
    inputs = [{"name": n, "type": types[n]} for n, _ in t.categories]
    inputs += [{"name": n, "type": "real"} for n in t.inputs]
    return {
        "name": t.name,
        "description": t.description,
        "version": 1,
        "inputs": inputs,
        "output": {
            "name": "weight" if "uncertainty" not in t.name else "uncertainty",
            "type": "real",
        },
        "data": _node(t, t.categories, t.values),
    }


def write_corrections(path: str | Path) -> Path:
    """Write every table of ``CORRECTIONS`` as a correctionlib CorrectionSet (schema v2).

    The set is validated with ``correctionlib.schemav2`` before writing.
    """
    import correctionlib.schemav2 as cs

    cset = cs.CorrectionSet(
        schema_version=2,
        description="hepml-coffea generated samples: scale factors, pileup weight, JES/JER",
        corrections=[cs.Correction.model_validate(_correction(t)) for t in CORRECTIONS.values()],
    )
    path = Path(path)
    path.write_text(json.dumps(json.loads(cset.model_dump_json(exclude_unset=True)), indent=1))
    return path
