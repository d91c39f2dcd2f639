"""Generator-level collections of the simulated samples: ``GenPart`` and ``GenJet``.

- ``GenPart``: the hard process as NanoAOD stores it: tops, W/Z bosons, the b quarks from the
  tops, the W/Z daughters (quarks, charged leptons, neutrinos). ``genPartIdxMother`` is the
  index of the mother in the same event (-1: none) and always smaller than the particle's own
  index. A quark that radiates (FSR) appears twice: the first copy (status 23, momentum before
  radiation) and a last copy (status 52, after radiation) whose mother is the first copy.
  ``statusFlags`` bits: 0 isPrompt, 7 isHardProcess, 8 fromHardProcess, 12 isFirstCopy,
  13 isLastCopy.
- ``GenJet``: one per final-state parton with pT > ``GENJET_PT_MIN`` (sorted by pT), its
  momentum being the parton's, *neutrinos included* (as the target of the CMS b-jet energy
  regression), with ``hadronFlavour`` (5, 4, 0) and ``partonFlavour`` (|PDG id|, 21 gluon).
  ``Jet_genJetIdx`` points from a reconstructed jet to the GenJet of its parton (-1 for pileup
  jets and jets whose parton made no GenJet).
"""

from __future__ import annotations

import awkward as ak
import numpy as np

from hepml_coffea.datasets import physics as ph
from hepml_coffea.datasets.processes import Truth
from hepml_coffea.datasets.writer import reduce_precision

__all__ = ["GENJET_PT_MIN", "gen_index", "genjets", "genparts"]

GENJET_PT_MIN = 10.0


def gen_index(truth: Truth) -> np.ndarray:
    """(n, G): the ``GenPart`` index of each generator slot (where valid)."""
    return np.cumsum(truth.gen_valid, axis=1) - 1


def genparts(truth: Truth) -> ak.Array:
    """The ``GenPart`` collection (awkward record of jagged fields) of the events in ``truth``."""
    valid = truth.gen_valid
    new_index = gen_index(truth)
    mother = truth.gen_mother
    if len(mother):
        mom = np.where(mother[None, :] >= 0, new_index[:, np.maximum(mother, 0)], -1)
    else:
        mom = np.zeros(valid.shape, np.int64)
    pt, eta, phi = ph.pt_eta_phi(truth.gen_p4)
    m = ph.mass(truth.gen_p4)
    m = np.where(np.isin(np.abs(truth.gen_pdg), (11, 12, 13, 14)), 0.0, m)
    status = np.broadcast_to(truth.gen_status[None, :], valid.shape)
    counts = valid.sum(axis=1)
    fields = {
        "pt": (pt, np.float32), "eta": (eta, np.float32), "phi": (phi, np.float32),
        "mass": (m, np.float32), "pdgId": (truth.gen_pdg, np.int32), "status": (status, np.int32),
        "statusFlags": (truth.gen_flags, np.int32), "genPartIdxMother": (mom, np.int32),
    }  # fmt: skip
    return ak.zip({k: ak.unflatten(_store(v[valid], dt), counts) for k, (v, dt) in fields.items()})


def _store(x: np.ndarray, dtype) -> np.ndarray:
    """Cast to the branch type; floats keep 10 mantissa bits (NanoAOD-like precision)."""
    return reduce_precision(x, 10) if dtype == np.float32 else x.astype(dtype)


def genjets(truth: Truth, hflav: np.ndarray) -> tuple[ak.Array, np.ndarray]:
    """The ``GenJet`` collection and, per parton slot (n, K), the index of its GenJet (-1: none).

    Parameters
    ----------
    truth : Truth
    hflav : ndarray of shape (n, K)
        Hadron flavour (5, 4, 0) of each parton slot.
    """
    p = truth.partons
    pt, eta, phi = ph.pt_eta_phi(p)
    valid = truth.pvalid & (pt > GENJET_PT_MIN)
    order = np.argsort(np.where(valid, -pt, np.inf), axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(order.shape[1])[None, :], axis=1)
    index = np.where(valid, rank, -1)
    counts = valid.sum(axis=1)
    sv = np.arange(valid.shape[1])[None, :] < counts[:, None]
    cols = {
        "pt": (pt, np.float32), "eta": (eta, np.float32), "phi": (phi, np.float32),
        "mass": (ph.mass(p), np.float32), "hadronFlavour": (hflav, np.uint8),
        "partonFlavour": (truth.pflav, np.int16),
    }  # fmt: skip
    out = {
        k: ak.unflatten(_store(np.take_along_axis(v, order, axis=1)[sv], dt), counts)
        for k, (v, dt) in cols.items()
    }
    return ak.zip(out), index
