"""P2: ``apply`` with a BDT and a DNN attached ÷ the same processor with no models.

Same generated sample (≥ 10⁶ events by default), iterative executor (one core), same chunk size.
The models are trained once on a small separate sample. Prints the two times and the ratio.

    python bench/bench_apply.py            # 10⁶ events
    python bench/bench_apply.py --quick    # 10⁵ events
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
    args = parser.parse_args()
    n = args.events or (100_000 if args.quick else 1_000_000)
    r = bench_apply(n)
    print(f"P2 apply(BDT+DNN) / run(no models), {r['events']:,} events, iterative, 1 core:")
    print(f"   run   {r['run_s']:.1f} s")
    print(f"   apply {r['apply_s']:.1f} s")
    print(f"   ratio {r['P2']:.3f}  (goal <= 1.2)")


if __name__ == "__main__":
    main()
