"""Estimator benchmarks P3 (BDT fit overhead) and P4 (DNN inference), as ratios.

    python bench/bench_estimators.py          # 1e6 events x 25 features
    python bench/bench_estimators.py --quick  # smoke sizes

P3: ``BDTClassifier.fit`` ÷ raw ``xgboost.train`` (same data, params, seed; the raw side builds
its own ``QuantileDMatrix``). Goal ≤ 1.05.
P4: ``DNNClassifier.predict_proba`` over chunks of 100k ÷ raw ``model(x)`` per chunk (goal
≤ 1.1) and ÷ ``model.predict`` per chunk (goal ≤ 0.33); ONNX Runtime on the same chunks.
Each pair is timed side by side, alternating, best of ``repeat``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import numpy as np


def _data(n: int, d: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)).astype(np.float32)
    logit = X[:, :5] @ rng.normal(size=5) + 0.5 * X[:, 5] * X[:, 6]
    y = (logit + rng.logistic(size=n) > 0).astype(np.int64)
    return X, y


def _best(fns, repeat):
    """Run the callables alternately ``repeat`` times; best wall time of each."""
    best = [np.inf] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            t = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - t)
    return best


def bench_bdt_fit(n: int = 1_000_000, d: int = 25, n_estimators: int = 50, repeat: int = 2):
    """P3: return ``{"wrapper_s", "raw_s", "ratio"}``."""
    import xgboost as xgb

    from hepml_coffea.estimators import BDTClassifier

    X, y = _data(n, d)
    est = BDTClassifier(n_estimators=n_estimators, max_depth=6, random_state=0)
    est.fit(X[:1000], y[:1000])  # warm up imports
    params = est.xgb_params_
    # the wrapper hands xgboost weights summing to WEIGHT_SUM (see estimators/_xgb.py)
    from hepml_coffea.estimators._xgb import WEIGHT_SUM

    w = np.full(len(y), WEIGHT_SUM / len(y))

    def raw():
        dtrain = xgb.QuantileDMatrix(X, label=y, weight=w, max_bin=params["max_bin"])
        xgb.train(params, dtrain, n_estimators)

    wrapper_s, raw_s = _best([lambda: est.fit(X, y), raw], repeat)
    return {"wrapper_s": wrapper_s, "raw_s": raw_s, "ratio": wrapper_s / raw_s}


def bench_dnn_predict(n: int = 1_000_000, d: int = 25, chunk: int = 100_000, repeat: int = 3):
    """P4: return times and ratios of wrapper vs ``model(x)``, ``model.predict``, ONNX RT."""
    from hepml_coffea.estimators import DNNClassifier

    X, y = _data(min(n, 20_000), d)
    est = DNNClassifier(
        hidden_layer_sizes=(64, 64, 64), epochs=1, batch_size=1024, random_state=0
    ).fit(X, y)
    X, _ = _data(n, d, seed=1)
    chunks = [X[i : i + chunk] for i in range(0, n, chunk)]
    model = est.model_
    for c in chunks[:1]:  # warm up every path
        est.predict_proba(c)
        model(c, training=False)
        model.predict(c, batch_size=chunk, verbose=0)

    def wrapper():
        for c in chunks:
            est.predict_proba(c)

    def raw_call():
        for c in chunks:
            np.asarray(model(c, training=False))

    def keras_predict():
        for c in chunks:
            model.predict(c, batch_size=chunk, verbose=0)

    fns = [wrapper, raw_call, keras_predict]
    onnx_s = None
    try:
        import onnxruntime as ort

        with tempfile.TemporaryDirectory() as tmp:
            path = est.to_onnx(os.path.join(tmp, "dnn.onnx"))
            sess = ort.InferenceSession(str(path))
        name = sess.get_inputs()[0].name
        sess.run(None, {name: chunks[0]})

        def onnx():
            for c in chunks:
                sess.run(None, {name: c})

        fns.append(onnx)
    except Exception as exc:  # pragma: no cover - report, do not fail the benchmark
        print(f"ONNX Runtime skipped: {type(exc).__name__}: {exc}")
    times = _best(fns, repeat)
    out = {
        "wrapper_s": times[0],
        "model_call_s": times[1],
        "model_predict_s": times[2],
        "ratio_vs_call": times[0] / times[1],
        "ratio_vs_predict": times[0] / times[2],
    }
    if len(times) > 3:
        onnx_s = times[3]
        out.update(onnx_s=onnx_s, ratio_onnx_vs_wrapper=onnx_s / times[0])
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        p3 = bench_bdt_fit(n=50_000, n_estimators=10, repeat=1)
        p4 = bench_dnn_predict(n=100_000, chunk=10_000, repeat=1)
    else:
        p3 = bench_bdt_fit()
        p4 = bench_dnn_predict()
    print(
        f"P3 BDT fit: wrapper {p3['wrapper_s']:.2f} s, raw xgboost.train {p3['raw_s']:.2f} s"
        f" -> ratio {p3['ratio']:.3f} (goal <= 1.05)"
    )
    print(
        f"P4 DNN predict_proba {p4['wrapper_s']:.3f} s; model(x) {p4['model_call_s']:.3f} s"
        f" -> ratio {p4['ratio_vs_call']:.3f} (goal <= 1.1); model.predict "
        f"{p4['model_predict_s']:.3f} s -> ratio {p4['ratio_vs_predict']:.3f} (goal <= 0.33)"
    )
    if "onnx_s" in p4:
        print(f"P4 ONNX Runtime {p4['onnx_s']:.3f} s = {p4['ratio_onnx_vs_wrapper']:.3f} x wrapper")


if __name__ == "__main__":
    main()
