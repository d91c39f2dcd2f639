"""The per-object models inside `run` on every executor give the same histograms."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import uproot

from hepml_coffea.estimators import BDTClassifier, save
from hepml_coffea.features.permutations import PERMUTATION_FEATURES


@pytest.mark.slow
def test_assignment_and_tagger_same_on_every_executor(tmp_path):
    """~60 s: iterative, futures (2 processes) and Dask (LocalCluster) runs of TTbarMLProcessor."""
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows import run_analysis

    gen = tmp_path / "gen"
    generate(
        gen,
        n_events=2000,
        processes=["ttbar_semilep", "wjets"],
        compression="zstd",
        events_per_file=1000,
        progress=False,
    )
    rng = np.random.default_rng(3)
    x = pd.DataFrame(
        rng.normal(100, 50, size=(500, len(PERMUTATION_FEATURES))),
        columns=list(PERMUTATION_FEATURES),
    )
    save(BDTClassifier(n_estimators=10, random_state=0).fit(x, x["m_w_had"] > 90), tmp_path / "asg")
    xj = pd.DataFrame(rng.uniform(size=(500, 2)), columns=["Jet_pt", "Jet_btagDeepFlavB"])
    save(
        BDTClassifier(n_estimators=10, random_state=0).fit(xj, xj["Jet_btagDeepFlavB"] > 0.5),
        tmp_path / "tag",
    )
    overrides = [
        "processor=../../processors/ttbar_ml.py:TTbarMLProcessor",
        f"assignment.model={tmp_path / 'asg'}",
        f"object_features.jet_tag.model={tmp_path / 'tag'}",
        'object_features.jet_tag.fields=["pt", "btagDeepFlavB"]',
    ]
    hists = {}
    for executor in ("iterative", "futures", "dask"):
        out = tmp_path / executor
        run_analysis(
            "ttbar_ljets",
            gen / "fileset.json",
            out,
            overrides=overrides,
            executor=executor,
            workers=2,
            chunksize=500,
            progress=False,
        )
        with uproot.open(out / "histograms.root") as f:
            hists[executor] = {
                k: f[k].values()
                for k in (
                    "m_top_had/4j1b/ttbar/nominal",
                    "m_top_had/4j2b/ttbar/JESUp",
                    "m_top_had_chi2/4j1b/wjets/nominal",
                    "n_jets_tagged/4j1b/ttbar/nominal",
                )
            }
    assert hists["iterative"]["m_top_had/4j1b/ttbar/nominal"].sum() > 0
    for executor in ("futures", "dask"):
        for k, v in hists["iterative"].items():
            np.testing.assert_allclose(hists[executor][k], v, rtol=1e-9, err_msg=f"{executor} {k}")
