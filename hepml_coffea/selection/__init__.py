"""Object and event selection: configurable branches, leptons, jets, b-tagging, weights, cutflow."""

from __future__ import annotations

from hepml_coffea.selection.branches import get_branch, get_collection, split_branch
from hepml_coffea.selection.cutflow import cutflow, cutflow_hist
from hepml_coffea.selection.objects import (
    jets_above,
    leptons,
    make_candidates,
    read_jets,
    select_electrons,
    select_jets,
    select_met,
    select_muons,
)
from hepml_coffea.selection.weights import event_weights

__all__ = [
    "cutflow",
    "cutflow_hist",
    "event_weights",
    "get_branch",
    "get_collection",
    "jets_above",
    "leptons",
    "make_candidates",
    "read_jets",
    "select_electrons",
    "select_jets",
    "select_met",
    "select_muons",
    "split_branch",
]
