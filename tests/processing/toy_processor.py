"""A tiny processor following the hepml-coffea processor contract, for the engine's tests.

Imported by path (``hepml_coffea.processing.registry.import_by_path``) so that it is pickled by
value and loky/Dask workers need not import the tests folder.
"""

from __future__ import annotations

import awkward as ak
import hist
import numpy as np
from coffea.processor import ProcessorABC

from hepml_coffea.errors import MissingBranchError
from hepml_coffea.processing.validation import check_physical


class ToyProcessor(ProcessorABC):
    """Leading muon pT: cuts ``all`` → ``one_muon`` → ``pt20``; hist ``mu_pt``; a 2-feature table."""

    cut_names = ("all", "one_muon", "pt20")
    feature_names = ("mu_pt", "mu_eta")

    def __init__(self, config: dict | None = None, models=None) -> None:
        self.config = dict(config or {})
        self.models = list(models or [])

    @property
    def feature_spec(self):
        return None if self.config.get("no_table") else self.feature_names

    def process(self, events):
        md = events.metadata
        dataset = md["dataset"]
        fail_from = self.config.get("fail_from_entry")
        if fail_from is not None and md["entrystart"] >= fail_from:
            msg = f"toy failure at entry {md['entrystart']}"
            raise RuntimeError(msg)
        field = self.config.get("pt_branch", "pt")
        if field not in events.Muon.fields:
            msg = (
                f"Branch 'Muon_{field}' is missing from {md['filename']} (dataset {dataset!r}); "
                "set --set pt_branch=..."
            )
            raise MissingBranchError(msg)
        if md.get("is_data", False):
            weight = np.ones(len(events))
        else:
            if "sumw" not in md:
                raise KeyError("sumw")
            lumi = float(self.config.get("lumi", 1000.0))
            weight = np.asarray(events.genWeight, dtype=np.float64) * md["xsec"] * lumi / md["sumw"]
        check_physical(events, ("Muon",), (field, "eta"))  # corrupt inputs: a bad chunk
        pt = events.Muon[field]
        masks = {
            "all": np.ones(len(events), dtype=bool),
            "one_muon": np.asarray(ak.num(pt) >= 1),
        }
        lead = ak.fill_none(ak.firsts(pt), -1.0)
        masks["pt20"] = masks["one_muon"] & np.asarray(lead > 20)
        cutflow, cum = {}, np.ones(len(events), dtype=bool)
        for cut in self.cut_names:
            cum = cum & masks[cut]
            cutflow[cut] = {"events": int(cum.sum()), "weighted": float(weight[cum].sum())}
        sel = cum
        h = hist.Hist(hist.axis.Regular(20, 0, 200, name="mu_pt"), storage=hist.storage.Weight())
        h.fill(mu_pt=np.asarray(lead)[sel], weight=weight[sel])
        hc = hist.Hist(
            hist.axis.Integer(0, len(self.cut_names), name="cutflow"), storage=hist.storage.Weight()
        )
        hc.fill(
            np.arange(len(self.cut_names)), weight=[cutflow[c]["weighted"] for c in self.cut_names]
        )
        table = {}
        if self.feature_spec is not None:
            eta = ak.fill_none(ak.firsts(events.Muon.eta), -9.0)
            table = {
                "mu_pt": [np.asarray(lead)[sel].astype(np.float32)],
                "mu_eta": [np.asarray(eta)[sel].astype(np.float32)],
                "weight": [weight[sel]],
                "label": [np.full(int(sel.sum()), md.get("label", 0), dtype=np.int32)],
                "run": [np.asarray(events.run)[sel].astype(np.int64)],
                "luminosityBlock": [np.asarray(events.luminosityBlock)[sel].astype(np.int64)],
                "event": [np.asarray(events.event)[sel].astype(np.int64)],
            }
        return {
            dataset: {
                "n_events": len(events),
                "cutflow": cutflow,
                "hists": {"mu_pt": h, "cutflow": hc},
                "table": table,
            }
        }

    def postprocess(self, accumulator):
        return accumulator
