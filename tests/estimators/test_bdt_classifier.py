"""BDTClassifier against raw xgboost, weight policies, bad input, sklearn tooling."""

from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.datasets import make_classification
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hepml_coffea.errors import ConfigError
from hepml_coffea.estimators import BDTClassifier

PARAMS = {
    "n_estimators": 20,
    "max_depth": 3,
    "learning_rate": 0.3,
    "subsample": 0.8,
    "colsample_bytree": 0.7,
    "random_state": 7,
}


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(n_samples=2000, n_features=8, n_informative=5, random_state=0)
    w = np.random.default_rng(0).uniform(0.5, 2.0, size=len(y))
    return X.astype(np.float32), y, w


def test_equals_raw_xgboost_bit_for_bit(data):
    X, y, w = data
    est = BDTClassifier(**PARAMS).fit(X, y, sample_weight=w)
    raw_params = {  # written out independently of the wrapper
        "objective": "binary:logistic",
        "tree_method": "hist",
        "max_depth": 3,
        "eta": 0.3,
        "subsample": 0.8,
        "colsample_bytree": 0.7,
        "min_child_weight": 1e-5 * 2**20,  # fractions of the total weight, scaled to 2**20
        "lambda": 1e-5 * 2**20,
        "alpha": 0.0,
        "gamma": 0.0,
        "max_bin": 256,
        "seed": 7,
        "eval_metric": "logloss",
        "device": "cpu",
        "verbosity": 0,
    }
    # the wrapper hands xgboost the weights scaled to sum 2**20
    booster = xgb.train(
        raw_params, xgb.QuantileDMatrix(X, label=y, weight=w * (2**20 / w.sum())), 20
    )
    raw = booster.predict(xgb.DMatrix(X))
    proba = est.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert np.array_equal(proba[:, 1], raw.astype(np.float64))
    assert np.array_equal(est.predict(X), (raw > 0.5).astype(int))
    assert est.n_estimators_ == 20


def test_fit_is_bit_reproducible_and_seed_matters(data):
    X, y, _ = data
    p1 = BDTClassifier(**PARAMS).fit(X, y).predict_proba(X)
    p2 = BDTClassifier(**PARAMS).fit(X, y).predict_proba(X)
    p3 = BDTClassifier(**{**PARAMS, "random_state": 8}).fit(X, y).predict_proba(X)
    assert np.array_equal(p1, p2)
    assert not np.array_equal(p1, p3)


def _tree_table(est):
    return est.booster_.trees_to_dataframe()


@pytest.mark.parametrize("scale", [1e-4, 1e4, 2.0, 3.7e-6])
def test_weight_scale_grows_the_same_trees(data, scale):
    """Any overall weight scale (MC xsec x lumi / sum genWeight) grows bit-identical trees."""
    X, y, w = data
    ref = BDTClassifier(**PARAMS).fit(X, y, sample_weight=w)
    est = BDTClassifier(**PARAMS).fit(X, y, sample_weight=scale * w)
    assert _tree_table(est).equals(_tree_table(ref))  # splits, gains, covers, leaf values
    assert np.array_equal(est.predict_proba(X), ref.predict_proba(X))
    assert est.training_weight_ == pytest.approx(scale * w.sum(), rel=1e-12)
    assert est.xgb_params_ == ref.xgb_params_


@pytest.mark.parametrize("n_estimators", [10, 200])
def test_integer_weights_equal_repeated_events_exactly(n_estimators):
    """sklearn's contract at the defaults, bit for bit, also for many rounds (xgboost's float32
    gradients alone made weight 3 and three copies differ by ~3e-7 after 200 rounds)."""
    rng = np.random.default_rng(5)
    X = rng.normal(size=(300, 4))
    y = rng.integers(0, 2, 300)
    sw = rng.integers(0, 4, 300)
    rep = BDTClassifier(n_estimators=n_estimators, random_state=0).fit(
        X.repeat(sw, axis=0), y.repeat(sw)
    )
    perm = rng.permutation(300)
    wtd = BDTClassifier(n_estimators=n_estimators, random_state=0).fit(
        X[perm], y[perm], sample_weight=sw[perm]
    )
    assert np.array_equal(rep.predict_proba(X), wtd.predict_proba(X))
    assert _tree_table(rep).equals(_tree_table(wtd))


def test_merge_rows_keeps_distinct_rows_untouched():
    from hepml_coffea.estimators._xgb import merge_rows

    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 0, 1])
    w = np.ones(6)
    Xm, ym, wm = merge_rows(X, y, w)
    assert Xm is X and ym is y and wm is w  # the usual case costs no copy and no reordering
    X2 = np.vstack([X, X[:2]])
    y2 = np.r_[y, [0, 0]]  # row 0 repeated with its label, row 1 with another label
    w2 = np.r_[w, [2.0, 5.0]]
    w2[3] = 0.0
    Xm, ym, wm = merge_rows(X2, y2, w2)
    got = {(tuple(x), int(c)): float(v) for x, c, v in zip(Xm, ym, wm, strict=True)}
    assert got == {
        ((0.0, 1.0), 0): 3.0,
        ((2.0, 3.0), 1): 1.0,
        ((2.0, 3.0), 0): 5.0,
        ((4.0, 5.0), 0): 1.0,
        ((8.0, 9.0), 0): 1.0,
        ((10.0, 11.0), 1): 1.0,
    }


def test_relative_settings_regularise_like_a_fraction_of_the_weight(data):
    """min_child_weight is a fraction of the total weight W. At the first round p = 0.5, so the
    total hessian is W / 4; 0.2 W per side would need 80 % of the events on each side of a
    split: no split is possible. 1e-3 W allows them."""
    X, y, w = data
    est = BDTClassifier(**{**PARAMS, "n_estimators": 1}, min_child_weight=0.2).fit(X, y, w)
    assert _tree_table(est).shape[0] == 1  # a single leaf
    loose = BDTClassifier(**{**PARAMS, "n_estimators": 1}, min_child_weight=1e-3).fit(X, y, w)
    assert _tree_table(loose).shape[0] > 1
    # the same absolute threshold in raw xgboost terms
    assert loose.xgb_params_["min_child_weight"] == pytest.approx(1e-3 * 2**20)


def test_ignore_negative_weights_equals_removing_them(data):
    X, y, w = data
    w = w.copy()
    neg = np.random.default_rng(1).random(len(w)) < 0.2
    w[neg] *= -1
    p_ignore = (
        BDTClassifier(**{**PARAMS, "subsample": 1.0}, negative_weights="ignore")
        .fit(X, y, sample_weight=w)
        .predict_proba(X)
    )
    p_removed = (
        BDTClassifier(**{**PARAMS, "subsample": 1.0})
        .fit(X[~neg], y[~neg], sample_weight=w[~neg])
        .predict_proba(X)
    )
    # zero-weight rows are left out before xgboost sees them (they used to enter the
    # quantile sketch and shift cuts): exactly the removed sample
    assert np.array_equal(p_ignore, p_removed)
    assert (
        np.mean(
            np.abs(
                p_ignore
                - BDTClassifier(**{**PARAMS, "subsample": 1.0})
                .fit(X, y, sample_weight=np.abs(w))
                .predict_proba(X)
            )
        )
        > 1e-3
    )  # negatives would matter
    p_abs = BDTClassifier(**PARAMS, negative_weights="abs").fit(X, y, sample_weight=w)
    p_absref = BDTClassifier(**PARAMS).fit(X, y, sample_weight=np.abs(w))
    assert np.array_equal(p_abs.predict_proba(X), p_absref.predict_proba(X))
    with pytest.raises(ValueError, match=r"negative sample weights.*xgboost refuses"):
        BDTClassifier(negative_weights="keep").fit(X, y, sample_weight=w)


def test_negative_weights_option_message(data):
    X, y, _ = data
    msg = "The 'negative_weights' parameter must be one of {'ignore','abs','keep'}; got 'drop'."
    with pytest.raises(ConfigError) as exc:
        BDTClassifier(negative_weights="drop").fit(X, y)
    assert str(exc.value) == msg


def test_balanced_class_weight_equalises_totals(data):
    from hepml_coffea.estimators._base import training_weights

    X, y, w = data
    y = np.where(np.arange(len(y)) < 300, 1, 0)  # 300 signal, 1700 background
    est = BDTClassifier(class_weight="balanced")
    est.classes_ = np.array([0, 1])
    out = training_weights(est, X, y, 2, w)
    assert out[y == 1].sum() == pytest.approx(out[y == 0].sum(), rel=1e-12)
    assert out.sum() == pytest.approx(w.sum(), rel=1e-12)
    # after the negative-weight policy: a negative weight counts as |w| with "abs"
    w2 = w.copy()
    w2[:10] *= -1
    est.negative_weights = "abs"
    out2 = training_weights(est, X, y, 2, w2)
    assert np.all(out2 >= 0)
    assert out2[y == 1].sum() == pytest.approx(out2[y == 0].sum(), rel=1e-12)


def test_early_stopping_uses_validation_and_stops(data):
    X, y, _ = data
    est = BDTClassifier(
        n_estimators=500, learning_rate=0.5, early_stopping_rounds=5, random_state=0
    ).fit(X, y)
    loss = est.evals_result_["validation"]["logloss"]
    assert est.n_estimators_ < 500
    assert est.best_iteration_ == int(np.argmin(loss))
    assert len(loss) == est.best_iteration_ + 1 + 5


def test_bad_input_errors(data):
    X, y, _ = data
    Xn = X.copy()
    Xn[3, 2] = np.nan
    with pytest.raises(ValueError, match=r"NaN.*allow_nan=True"):
        BDTClassifier(n_estimators=2).fit(Xn, y)
    est = BDTClassifier(n_estimators=5, allow_nan=True).fit(Xn, y)
    assert np.isfinite(est.predict_proba(Xn)).all()
    Xi = X.copy()
    Xi[0, 0] = np.inf
    with pytest.raises(ValueError, match="infinity"):
        BDTClassifier(n_estimators=2, allow_nan=True).fit(Xi, y)
    with pytest.raises(ValueError, match="one class only"):
        BDTClassifier().fit(X, np.ones_like(y))
    with pytest.raises(ValueError, match="at least one non-zero"):
        BDTClassifier().fit(X, y, sample_weight=np.zeros(len(y)))
    with pytest.raises(ValueError, match="total sample weight must be positive"):
        BDTClassifier(negative_weights="ignore").fit(X, y, sample_weight=-np.ones(len(y)))
    fitted = BDTClassifier(n_estimators=2).fit(X, y)
    with pytest.raises(ValueError, match="X has 7 features, but BDTClassifier is expecting 8"):
        fitted.predict_proba(X[:, :7])
    cols = [f"f{i}" for i in range(8)]
    fdf = BDTClassifier(n_estimators=2).fit(pd.DataFrame(X, columns=cols), y)
    assert list(fdf.feature_names_in_) == cols
    with pytest.raises(ValueError, match="feature names should match"):
        fdf.predict(pd.DataFrame(X, columns=cols[::-1]))


def test_sklearn_tooling(data):
    X, y, w = data
    X, y, w = X[:600], y[:600], w[:600]
    scores = cross_val_score(BDTClassifier(n_estimators=10), X, y, cv=3, scoring="roc_auc")
    assert scores.shape == (3,) and np.all(scores > 0.8)
    grid = GridSearchCV(BDTClassifier(n_estimators=10), {"max_depth": [1, 3]}, cv=2).fit(
        X, y, sample_weight=w
    )
    assert grid.best_params_["max_depth"] in (1, 3)
    pipe = make_pipeline(StandardScaler(), BDTClassifier(n_estimators=5)).fit(
        X, y, bdtclassifier__sample_weight=w
    )
    est = pipe[-1]
    again = pickle.loads(pickle.dumps(est))
    assert np.array_equal(again.predict_proba(X), est.predict_proba(X))


def test_importing_and_using_bdt_does_not_import_tensorflow():
    code = (
        "import sys, numpy as np\n"
        "from hepml_coffea.estimators import BDTClassifier, KFoldEventClassifier, load\n"
        "X = np.random.default_rng(0).normal(size=(200, 3)); y = (X[:, 0] > 0).astype(int)\n"
        "KFoldEventClassifier(BDTClassifier(n_estimators=3)).fit(X, y).predict_proba(X)\n"
        "bad = [m for m in ('tensorflow', 'keras', 'coffea') if m in sys.modules]\n"
        "assert not bad, bad\n"
        "print('clean')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


def test_bdt_onnx_matches_predict_proba(data, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    X, y, _ = data
    est = BDTClassifier(n_estimators=30, max_depth=4, early_stopping_rounds=3, random_state=0).fit(
        X, y
    )
    path = est.to_onnx(tmp_path / "bdt.onnx")
    sess = ort.InferenceSession(str(path))
    assert sess.get_inputs()[0].name == "input"
    label, proba = sess.run(None, {"input": X.astype(np.float32)})
    np.testing.assert_allclose(proba, est.predict_proba(X), rtol=0, atol=1e-5)
    assert np.array_equal(label, est.predict(X))
