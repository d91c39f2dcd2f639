"""A user's processor module that registers its own feature (``register_feature``) at import.

Used to check that such features are known on futures and Dask workers, where the module is
unpickled by value and its module-level code does not run again.
"""

import awkward as ak
import hist
import numpy as np
from coffea import processor

from hepml_coffea.features.registry import get_feature, register_feature


@register_feature("user_n_muons", "number of muons", (6, -0.5, 5.5), integer=True)
def user_n_muons(events):
    """Muons per event."""
    return np.asarray(ak.num(events.Muon))


class UserFeatureProcessor(processor.ProcessorABC):
    def process(self, events):
        feature = get_feature("user_n_muons")  # looked up in the worker's registry
        h = hist.Hist(hist.axis.Regular(*feature.bins, name="n"), storage=hist.storage.Double())
        h.fill(n=feature.func(events))
        return {events.metadata["dataset"]: {feature.name: h}}

    def postprocess(self, accumulator):
        return accumulator
