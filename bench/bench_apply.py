"""P2: ``apply`` with a BDT and a DNN attached ÷ the same processor with no models; and
multi-class: ``apply`` with a 3-class BDT ÷ with the binary BDT (issue 13, goal ≤ 1.1).

Same generated sample (≥ 10⁶ events by default), iterative executor (one core), same chunk size.
The models are trained once on a small separate sample. Prints the times and the ratios.

    python bench/bench_apply.py                       # P2, 10⁶ events
    python bench/bench_apply.py --quick               # P2, 10⁵ events
    python bench/bench_apply.py --multiclass --quick  # multi-class ÷ binary, 10⁵ events
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def bench_apply(n_events: int = 1_000_000, chunksize: int = 100_000) -> dict[str, float]:
    """Time ``run_analysis`` and ``apply_models`` (BDT + DNN) on the same sample; return the ratio.

    The sample holds ``n_events / 4`` events of each of the four MC processes plus the pseudo-data
    (``events`` in the result counts them all).
    """
    from hepml_coffea.datasets import generate
    from hepml_coffea.workflows import apply_models, run_analysis, train_model

    sample = RESULTS / f"apply_sample_{n_events}"
    fileset = sample / "fileset.json"
    if not fileset.is_file():
        per_process = n_events // 4  # four MC processes (+ pseudo-data of similar size)
        generate(sample, n_events=per_process, compression="zstd", processes=None, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = generate(tmp / "small", n_events=20_000, compression="zstd", seed=7, progress=False)
        run_analysis("ttbar_ljets", small, tmp / "small_run", progress=False)
        models = []
        for kind in ("bdt", "dnn"):
            train_model("ttbar_ljets", tmp / "small_run", kind, tmp / kind, progress=False)
            models.append(tmp / kind)
        ex = {"executor": "iterative", "chunksize": chunksize, "progress": False}
        t0 = time.perf_counter()
        run_analysis("ttbar_ljets", fileset, tmp / "run", **ex)
        t_run = time.perf_counter() - t0
        t0 = time.perf_counter()
        apply_models("ttbar_ljets", fileset, models, tmp / "apply", **ex)
        t_apply = time.perf_counter() - t0
    return {
        "n_events": n_events,
        "events": _count_events(fileset),  # MC plus pseudo-data: about 1.25 n_events
        "run_s": t_run,
        "apply_s": t_apply,
        "P2": t_apply / t_run,
    }


def bench_multiclass(
    n_events: int = 1_000_000, chunksize: int = 100_000, repeats: int = 2
) -> dict[str, float]:
    """``apply`` with a 3-class BDT (``train --multiclass``) ÷ with a binary BDT, same sample.

    Both BDTs have the same hyperparameters (the multi-class one grows one tree per class and
    round). Each ``apply`` is timed ``repeats`` times; the fastest counts. The ratio is of the
    CPU time of this process (the iterative executor runs everything in it), which a machine
    shared with other jobs disturbs less than the wall time (also returned). Also times the
    scoring alone (:meth:`ModelScorer.score` on one 100k-row table).
    """
    import numpy as np

    from hepml_coffea.datasets import generate
    from hepml_coffea.processing.inference import ModelScorer
    from hepml_coffea.workflows import apply_models, run_analysis, train_model
    from hepml_coffea.workflows.apply import resolve_score_cut

    sample = RESULTS / f"apply_sample_{n_events}"
    fileset = sample / "fileset.json"
    if not fileset.is_file():
        generate(sample, n_events=n_events // 4, compression="zstd", processes=None, progress=False)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        small = generate(tmp / "small", n_events=20_000, compression="zstd", seed=7, progress=False)
        run_analysis("ttbar_ljets", small, tmp / "small_run", progress=False)
        binary, multi = tmp / "binary", tmp / "multi"
        train_model("ttbar_ljets", tmp / "small_run", "bdt", binary, progress=False)
        train_model("ttbar_ljets", tmp / "small_run", "bdt", multi, progress=False, multiclass=True)
        ex = {"executor": "iterative", "chunksize": chunksize, "progress": False}
        times: dict[str, list[float]] = {"binary": [], "multi": []}
        cpu: dict[str, list[float]] = {"binary": [], "multi": []}
        for _ in range(repeats):
            for name, model in (("binary", binary), ("multi", multi)):
                t0, c0 = time.perf_counter(), time.process_time()
                apply_models("ttbar_ljets", fileset, [model], tmp / f"apply_{name}", **ex)
                times[name].append(time.perf_counter() - t0)
                cpu[name].append(time.process_time() - c0)
        X = np.random.default_rng(1).normal(50.0, 20.0, (100_000, _n_features(binary)))
        X = X.astype(np.float32)
        score_s = {}
        for name, model in (("binary", binary), ("multi", multi)):
            scorer = ModelScorer(model, resolve_score_cut(model, -1.0)[0])
            scorer.score(X[:10])  # load once
            t0 = time.process_time()
            scorer.score(X)
            score_s[name] = time.process_time() - t0
    t_bin, t_multi = min(times["binary"]), min(times["multi"])
    c_bin, c_multi = min(cpu["binary"]), min(cpu["multi"])
    return {
        "n_events": n_events,
        "apply_binary_s": t_bin,
        "apply_multiclass_s": t_multi,
        "apply_binary_cpu_s": c_bin,
        "apply_multiclass_cpu_s": c_multi,
        "multiclass": c_multi / c_bin,
        "multiclass_wall": t_multi / t_bin,
        "score_binary_s": score_s["binary"],
        "score_multiclass_s": score_s["multi"],
    }


def _n_features(model: Path) -> int:
    from hepml_coffea.estimators import read_card

    return int(read_card(model)[1]["n_features"])


def _count_events(fileset: Path) -> int:
    import uproot

    from hepml_coffea.datasets import load_fileset

    return sum(
        uproot.open(path)[tree].num_entries
        for ds in load_fileset(fileset).values()
        for path, tree in ds["files"].items()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10⁵ events")
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--multiclass", action="store_true", help="3-class BDT ÷ binary BDT")
    args = parser.parse_args()
    n = args.events or (100_000 if args.quick else 1_000_000)
    if args.multiclass:
        m = bench_multiclass(n)
        print(f"multi-class apply(3-class BDT) / apply(binary BDT), {n:,} MC events, 1 core:")
        print(
            f"   binary      {m['apply_binary_s']:.1f} s wall, {m['apply_binary_cpu_s']:.1f} s CPU"
        )
        print(
            f"   multi-class {m['apply_multiclass_s']:.1f} s wall, "
            f"{m['apply_multiclass_cpu_s']:.1f} s CPU"
        )
        print(
            f"   ratio (CPU) {m['multiclass']:.3f}  (goal <= 1.1); wall {m['multiclass_wall']:.3f}"
        )
        print(
            f"   scoring 100k rows alone: {m['score_binary_s'] * 1e3:.0f} ms binary, "
            f"{m['score_multiclass_s'] * 1e3:.0f} ms 3-class"
        )
        return
    r = bench_apply(n)
    print(f"P2 apply(BDT+DNN) / run(no models), {r['events']:,} events, iterative, 1 core:")
    print(f"   run   {r['run_s']:.1f} s")
    print(f"   apply {r['apply_s']:.1f} s")
    print(f"   ratio {r['P2']:.3f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
