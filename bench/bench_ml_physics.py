"""Issue 13 per-object ML costs, same sample, iterative executor (one core), same chunk size:

* assignment: ``run`` with ``TTbarMLProcessor`` and the jet–parton assignment BDT ÷ the plain
  ``ttbar_ljets`` processor (goal ≤ 1.5; the AGC's ML step costs about 4×);
* per-object: ``run`` with ``TTbarMLProcessor`` scoring every selected jet with the jet tagger
  ÷ the plain processor (goal ≤ 1.2).

Both runs do the configured shape variations (the models score every variation). The BDTs have
the ``ml-physics`` step's size (200 trees of depth 5, no early stopping: the largest model that
step can write); their training labels are proxies (the χ² best permutation, ``hadronFlavour``),
since only the cost is measured here.

    python bench/bench_ml_physics.py           # 4 × 50k MC events + pseudo-data
    python bench/bench_ml_physics.py --quick   # 4 × 10k
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
PROC = "processor=../../processors/ttbar_ml.py:TTbarMLProcessor"
TAG_FIELDS = ("pt", "eta", "btagDeepFlavB", "btagCSVV2")


def _train_models(fileset: Path, out: Path) -> tuple[Path, Path]:
    """An assignment BDT and a jet tagger of full size, trained on proxy labels."""
    import awkward as ak
    import numpy as np
    import pandas as pd
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    from hepml_coffea.config import load_analysis
    from hepml_coffea.datasets import load_fileset
    from hepml_coffea.estimators import BDTClassifier, save
    from hepml_coffea.features.permutations import (
        PERMUTATION_FEATURES,
        best_permutation,
        chi2,
        event_permutations,
        permutation_matrix,
    )
    from hepml_coffea.processing.registry import processor_class
    from hepml_coffea.systematics.config import NOMINAL

    cfg = load_analysis("ttbar_ljets")
    proc = processor_class(cfg)(cfg.to_dict())
    fs = load_fileset(fileset)
    name = next(k for k, v in fs.items() if v["metadata"].get("process") == "ttbar")
    path, tree = next(iter(fs[name]["files"].items()))
    events = NanoEventsFactory.from_root(
        {path: tree}, schemaclass=NanoAODSchema, metadata={"dataset": name, **fs[name]["metadata"]}
    ).events()
    objects = proc.select_objects(events)
    vobj = proc.vary_objects(events, objects, NOMINAL, None)
    sel = proc.select_events(events, vobj)
    mask = np.asarray(sel.all(*[c for c in proc.cut_names if c in sel.names]), dtype=bool)
    perms, feats = event_permutations(proc.feature_objects(vobj)[mask])
    label = np.zeros(len(perms), dtype=int)
    best = best_permutation(chi2(feats), perms, higher=False)
    label[best[best >= 0]] = 1
    x = pd.DataFrame(permutation_matrix(feats), columns=list(PERMUTATION_FEATURES))
    params = {"n_estimators": 200, "max_depth": 5, "random_state": 1}
    save(BDTClassifier(**params).fit(x, label), out / "assignment")
    jets = events.Jet
    names = [f"Jet_{f}" for f in TAG_FIELDS]
    xj = pd.DataFrame(
        {n: ak.to_numpy(ak.flatten(jets[f])) for n, f in zip(names, TAG_FIELDS, strict=True)}
    )
    yj = ak.to_numpy(ak.flatten(jets.hadronFlavour)) == 5
    save(BDTClassifier(**params).fit(xj, yj), out / "jet_tag")
    return out / "assignment", out / "jet_tag"


def bench_ml_physics(
    n_events: int = 200_000, chunksize: int = 100_000, repeats: int = 2
) -> dict[str, float]:
    """Time ``run`` plain, with the assignment BDT, and with the jet tagger; return the ratios.

    Each run is repeated ``repeats`` times (interleaved); the fastest counts.
    """
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows import run_analysis

    sample = RESULTS / f"ml_physics_sample_{n_events}"
    fileset = sample / "fileset.json"
    if not fileset.is_file():
        generate(sample, n_events=n_events // 4, compression="zstd", progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        asg, tag = _train_models(fileset, tmp)
        ex = {"executor": "iterative", "chunksize": chunksize, "progress": False}
        runs = {
            "plain": [],
            "assignment": [PROC, "assignment.chi2=false", f"assignment.model={asg}"],
            "per_object": [
                PROC,
                "assignment.chi2=false",
                f"object_features.jet_tag.model={tag}",
                "object_features.jet_tag.fields=[" + ",".join(f'"{f}"' for f in TAG_FIELDS) + "]",
            ],
        }
        times = {name: float("inf") for name in runs}
        for rep in range(repeats):  # interleaved; the fastest of each counts
            for name, overrides in runs.items():
                t0 = time.perf_counter()
                out = tmp / f"run_{name}_{rep}"
                run_analysis("ttbar_ljets", fileset, out, overrides=overrides, **ex)
                times[name] = min(times[name], time.perf_counter() - t0)
    return {
        "n_events": n_events,
        "plain_s": times["plain"],
        "assignment_s": times["assignment"],
        "per_object_s": times["per_object"],
        "assignment": times["assignment"] / times["plain"],
        "per_object": times["per_object"] / times["plain"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="4 × 10k MC events")
    parser.add_argument("--events", type=int, default=None, help="MC events, all processes")
    args = parser.parse_args()
    n = args.events or (40_000 if args.quick else 200_000)
    r = bench_ml_physics(n)
    print(f"issue 13 per-object ML, {n:,} MC events + pseudo-data, iterative, 1 core:")
    print(f"   run, plain ttbar_ljets       {r['plain_s']:.1f} s")
    print(f"   run + assignment BDT         {r['assignment_s']:.1f} s")
    print(f"   run + jet tagger (all jets)  {r['per_object_s']:.1f} s")
    print(f"   assignment ratio {r['assignment']:.3f}  (goal <= 1.5)")
    print(f"   per-object ratio {r['per_object']:.3f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
