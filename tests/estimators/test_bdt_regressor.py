"""BDTRegressor: raw xgboost equality, weights, early stopping, persistence, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb
from sklearn.metrics import r2_score

from hepml_coffea.errors import ConfigError, ModelError
from hepml_coffea.estimators import BDTRegressor, load, signal_score

PARAMS = {"n_estimators": 30, "max_depth": 4, "learning_rate": 0.3, "random_state": 3}


@pytest.fixture(scope="module")
def data():
    """A jet-response-like target: pT(gen)/pT(reco) depending on two features, plus noise."""
    rng = np.random.default_rng(11)
    X = rng.normal(size=(3000, 5))
    y = 1.0 + 0.1 * X[:, 0] - 0.05 * X[:, 1] ** 2 + 0.02 * rng.normal(size=len(X))
    w = rng.uniform(0.2, 3.0, len(X))
    return X, y, w


def test_equals_raw_xgboost(data):
    X, y, w = data
    est = BDTRegressor(**PARAMS).fit(X, y, sample_weight=w)
    raw_params = {
        "tree_method": "hist",
        "objective": "reg:squarederror",
        "eval_metric": "rmse",
        "max_depth": 4,
        "eta": 0.3,
        "subsample": 1.0,
        "colsample_bytree": 1.0,
        "min_child_weight": 1e-5 * 2**20,
        "lambda": 1e-5 * 2**20,
        "alpha": 0.0,
        "gamma": 0.0,
        "max_bin": 256,
        "seed": 3,
        "device": "cpu",
        "verbosity": 0,
    }
    dtrain = xgb.QuantileDMatrix(X, label=y, weight=w * (2**20 / w.sum()))
    raw = xgb.train(raw_params, dtrain, 30).predict(xgb.DMatrix(X))
    assert np.array_equal(est.predict(X), raw.astype(np.float64))
    assert r2_score(y, est.predict(X), sample_weight=w) > 0.8


@pytest.mark.parametrize("scale", [1e-4, 1e4])
def test_weight_scale_grows_the_same_trees(data, scale):
    X, y, w = data
    ref = BDTRegressor(**PARAMS).fit(X, y, sample_weight=w)
    est = BDTRegressor(**PARAMS).fit(X, y, sample_weight=scale * w)
    assert est.booster_.trees_to_dataframe().equals(ref.booster_.trees_to_dataframe())
    assert np.array_equal(est.predict(X), ref.predict(X))


def test_weights_matter_and_equal_repetition(data):
    X, y, _ = data
    sw = np.random.default_rng(2).integers(0, 4, len(y))
    wtd = BDTRegressor(**PARAMS).fit(X, y, sample_weight=sw)
    rep = BDTRegressor(**PARAMS).fit(X.repeat(sw, axis=0), y.repeat(sw))
    assert np.array_equal(wtd.predict(X), rep.predict(X))
    unweighted = BDTRegressor(**PARAMS).fit(X, y)
    assert not np.allclose(unweighted.predict(X), wtd.predict(X), rtol=1e-4)


def test_early_stopping_truncates_the_booster(data):
    X, y, _ = data
    est = BDTRegressor(
        n_estimators=400, learning_rate=0.5, early_stopping_rounds=5, random_state=0
    ).fit(X, y)
    assert est.n_estimators_ < 400
    assert est.booster_.num_boosted_rounds() == est.n_estimators_
    # plain xgboost on the booster gives our predictions
    plain = est.booster_.predict(xgb.DMatrix(X)).astype(np.float64)
    assert np.array_equal(plain, est.predict(X))


def test_save_load_round_trip(data, tmp_path):
    X, y, w = data
    est = BDTRegressor(**PARAMS).fit(X, y, sample_weight=w)
    est.save(tmp_path / "reg")
    back = load(tmp_path / "reg")
    assert isinstance(back, BDTRegressor)
    assert np.array_equal(back.predict(X), est.predict(X))
    assert back.training_weight_ == pytest.approx(w.sum())


def test_bad_input(data):
    X, y, _ = data
    with pytest.raises(ConfigError, match=r"'objective' parameter must be an xgboost regression"):
        BDTRegressor(objective="binary:logistic").fit(X, y)
    with pytest.raises(ValueError, match="negative sample weights"):
        BDTRegressor(negative_weights="keep").fit(X, y, sample_weight=-np.ones(len(y)))
    est = BDTRegressor(n_estimators=2).fit(X, y)
    with pytest.raises(ModelError, match="BDTRegressor is a regressor"):
        signal_score(est, X)
