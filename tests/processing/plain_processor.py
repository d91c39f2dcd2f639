"""A plain coffea processor written only with coffea, awkward, numpy and hist (no hepml-coffea).

Dimuon selection: events with two opposite-charge muons; histograms of their invariant mass and
of MET, a cutflow of plain counts, Σ genWeight, and the selected masses as a column. Output keyed
by dataset, as coffea users write it. Used by the "any processor" and remote tests.
"""

import awkward as ak
import hist
import numpy as np
from coffea import processor
from coffea.nanoevents.methods import candidate


class DimuonProcessor(processor.ProcessorABC):
    def process(self, events):
        dataset = events.metadata["dataset"]
        is_data = events.metadata.get("is_data", False)
        weight = np.ones(len(events)) if is_data else np.asarray(events.genWeight, np.float64)
        muons = ak.zip(
            {
                "pt": events.Muon.pt,
                "eta": events.Muon.eta,
                "phi": events.Muon.phi,
                "mass": events.Muon.mass,
                "charge": events.Muon.charge,
            },
            with_name="PtEtaPhiMCandidate",
            behavior=candidate.behavior,
        )
        two = ak.num(muons) == 2
        opposite = two & (ak.sum(muons.charge, axis=1) == 0)
        pair = muons[opposite]
        mass = np.asarray((pair[:, 0] + pair[:, 1]).mass)
        h_mass = hist.Hist(
            hist.axis.StrCategory([], growth=True, name="process"),
            hist.axis.Regular(60, 0, 120, name="mass", label="m(μμ) [GeV]"),
            storage=hist.storage.Weight(),
        )
        h_mass.fill(
            process=events.metadata.get("process", dataset), mass=mass, weight=weight[opposite]
        )
        h_met = hist.Hist(hist.axis.Regular(40, 0, 200, name="met"), storage=hist.storage.Weight())
        h_met.fill(met=np.asarray(events.MET.pt), weight=weight)
        return {
            dataset: {
                "mass": h_mass,
                "met": h_met,
                "cutflow": {
                    "all": len(events),
                    "two_muons": int(ak.sum(two)),
                    "opposite": int(ak.sum(opposite)),
                },
                "sumw": float(np.sum(weight)),
                "selected_mass": processor.column_accumulator(mass),
            }
        }

    def postprocess(self, accumulator):
        return accumulator
