"""Benchmark (issue 12): the ttbar_ljets processor with every configured variation ÷ nominal only.

Both runs read the same generated ttbar sample chunk by chunk (coffea NanoEvents, virtual mode,
as the Runner does) and run the processor with the same attached BDT (xgboost, 300 trees of
depth 4, scoring every selected event: ML inference included):

- **nominal**: ``systematics.shapes=[]``, ``systematics.weights=[]``: one pass per chunk;
- **all**: the configuration's systematics: JES and JER up/down (4 shape passes on top of the
  nominal, each re-running selection, features, the BDT and the histograms) and the 7 weight
  systematics (14 weight variations filled in the nominal pass), corrections from the sample's
  ``corrections.json``.

Each run is a fresh subprocess (so that its peak RSS is its own). Goals: time ratio ≤ 2.0, peak
RSS ratio ≤ 1.5. The AGC goes from 63–71 kHz to 19–25 kHz per worker with its variations (≈ 3×).

    python bench/bench_systematics.py            # 100k events
    python bench/bench_systematics.py --quick    # 30k events
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import warnings
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
CHUNK = 25_000


def sample(n_events: int) -> Path:
    """A generated ttbar_semilep sample (with its corrections.json), cached in bench/results."""
    from hepml_coffea.datasets import generate

    out = RESULTS / f"syst_ttbar_{n_events}"
    fileset = out / "fileset.json"
    if not fileset.is_file():
        generate(out, n_events=n_events, seed=3, processes=["ttbar_semilep"], progress=False)
    return fileset


class BoosterScorer:
    """The scorer contract (see processing/base.py) around a plain xgboost model file."""

    def __init__(self, path: str, spec: dict, names: list[str]) -> None:
        self.name = "bdt"
        self.feature_names = names
        self.feature_spec = spec
        self.score_cut = 0.5
        self.path = path
        self._model = None

    def score(self, X, event=None):
        import xgboost

        if self._model is None:
            self._model = xgboost.XGBClassifier()
            self._model.load_model(self.path)
        return self._model.predict_proba(X)[:, 1]


def _config(mode: str, corrections: Path):
    from hepml_coffea.config import load_analysis

    sets = [f"systematics.corrections={corrections}"]
    if mode == "nominal":
        sets += ["systematics.shapes=[]", "systematics.weights=[]"]
    return load_analysis("ttbar_ljets", sets)


def _chunks(fileset: Path):
    from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

    fs = json.loads(fileset.read_text())
    for ds, entry in fs.items():
        meta = dict(entry["metadata"])
        meta["sumw"] = meta.get("sumw") or 1.0
        for fname in entry["files"]:
            path = str(fileset.parent / fname)
            import uproot

            with uproot.open(path) as f:
                n = f["Events"].num_entries
            for start in range(0, n, CHUNK):
                md = {**meta, "dataset": ds, "filename": path, "entrystart": start}
                yield NanoEventsFactory.from_root(
                    {path: "Events"},
                    schemaclass=NanoAODSchema,
                    metadata=md,
                    entry_start=start,
                    entry_stop=min(start + CHUNK, n),
                ).events()


def worker(mode: str, fileset: Path, model: Path) -> dict:
    """One run (in this process): wall time, events, peak RSS (MiB), histogram count."""
    from coffea.processor import accumulate

    from hepml_coffea.processing.registry import processor_class

    warnings.simplefilter("ignore")
    cfg = _config(mode, fileset.parent / "corrections.json")
    spec = cfg.to_dict()
    cls = processor_class(cfg)
    names = list(cls(spec).feature_spec.names)
    from hepml_coffea.features import FeatureSpec

    scorer = BoosterScorer(str(model), FeatureSpec.from_config(spec["features"]).to_dict(), names)
    proc = cls(spec, models=[scorer])
    tic = time.perf_counter()
    total, n = None, 0
    for events in _chunks(fileset):
        out = proc.process(events)
        n += len(events)
        for res in out.values():
            if isinstance(res, dict):
                res.pop("table", None)
        total = out if total is None else accumulate([total, out])
    wall = time.perf_counter() - tic
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    h = total["hists"]["score_bdt"] if total else None
    return {
        "mode": mode,
        "events": n,
        "wall_s": wall,
        "khz": n / wall / 1e3,
        "peak_rss_mib": rss,
        "n_variations": len(h.axes["variation"]) if h is not None else 0,
    }


def train_model(fileset: Path, path: Path) -> Path:
    """A BDT (300 trees, depth 4) on the nominal table of the first chunk; saved as xgboost JSON."""
    import numpy as np
    import xgboost

    from hepml_coffea.processing.registry import processor_class

    warnings.simplefilter("ignore")
    cfg = _config("nominal", fileset.parent / "corrections.json")
    proc = processor_class(cfg)(cfg.to_dict())
    events = next(iter(_chunks(fileset)))
    table = proc.process(events)[events.metadata["dataset"]]["table"]
    X = np.column_stack([table[n][0] for n in proc.feature_spec.names])
    y = (table["ht"][0] > np.median(table["ht"][0])).astype(int)
    model = xgboost.XGBClassifier(n_estimators=300, max_depth=4, learning_rate=0.1)
    model.fit(X, y)
    model.save_model(path)
    return path


def bench_systematics(n_events: int = 100_000) -> dict:
    """Both runs in fresh subprocesses: ``{"runs", "time_ratio", "rss_ratio", "n_events"}``.

    The entry point for ``bench/run_all.py`` (figures ``time_ratio`` ≤ 2.0, ``rss_ratio`` ≤ 1.5).
    """
    RESULTS.mkdir(parents=True, exist_ok=True)
    fileset = sample(n_events)
    model = train_model(fileset, RESULTS / f"syst_bdt_{n_events}.json")
    runs = {}
    for mode in ("nominal", "all"):
        cmd = [sys.executable, __file__, "--worker", mode, "--fileset", str(fileset)]
        cmd += ["--model", str(model)]
        res = subprocess.run(cmd, capture_output=True, text=True, check=True)
        runs[mode] = json.loads(res.stdout.strip().splitlines()[-1])
    return {
        "n_events": n_events,
        "runs": runs,
        "time_ratio": runs["all"]["wall_s"] / runs["nominal"]["wall_s"],
        "rss_ratio": runs["all"]["peak_rss_mib"] / runs["nominal"]["peak_rss_mib"],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="30k events")
    parser.add_argument("--worker", choices=["nominal", "all"], help=argparse.SUPPRESS)
    parser.add_argument("--fileset", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.fileset, args.model)))
        return 0
    n = 30_000 if args.quick else args.events
    result = bench_systematics(n)
    runs, time_ratio, rss_ratio = result["runs"], result["time_ratio"], result["rss_ratio"]
    if args.json:
        print(json.dumps(result))
        return 0
    for mode, r in runs.items():
        print(
            f"{mode:8s} {r['events']} events  {r['wall_s']:.2f} s  {r['khz']:.1f} kHz  "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB  variations {r['n_variations']}"
        )
    print(f"time ratio all/nominal: {time_ratio:.2f} (goal <= 2.0)")
    print(f"peak RSS ratio all/nominal: {rss_ratio:.2f} (goal <= 1.5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
