"""KFoldEventClassifier: no event is scored by a model that trained on it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

from hepml_coffea.estimators import BDTClassifier, KFoldEventClassifier, load

SENTINEL = 0.123


class Memoriser(ClassifierMixin, BaseEstimator):
    """Remembers the ids (column 0) it trained on; scores them with a sentinel."""

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.seen_ = set(np.asarray(X)[:, 0].tolist())
        return self

    def predict_proba(self, X):
        ids = np.asarray(X)[:, 0]
        p = np.where(np.isin(ids, list(self.seen_)), SENTINEL, 0.5)
        return np.column_stack([1 - p, p])


def _events(n=1000, seed=0):
    rng = np.random.default_rng(seed)
    event = rng.choice(10**9, size=n, replace=False).astype(np.uint64)
    X = np.column_stack([np.arange(n), rng.normal(size=(n, 2))])
    y = (X[:, 1] > 0).astype(int)
    return X, y, event


@pytest.mark.parametrize("k", [2, 3, 5])
def test_no_event_scored_by_a_model_that_saw_it(k):
    X, y, event = _events()
    kf = KFoldEventClassifier(Memoriser(), n_splits=k).fit(X, y, event=event)
    p = kf.predict_proba(X, event=event)[:, 1]
    assert np.all(p == 0.5)  # never the sentinel
    for i, est in enumerate(kf.estimators_):  # clone i trained on exactly event % k != i
        expected = set(X[event % k != i, 0].tolist())
        assert est.seen_ == expected
    # the fallback (no event numbers) averages clones that did see the events
    avg = kf.predict_proba(X)[:, 1]
    np.testing.assert_allclose(avg, ((k - 1) * SENTINEL + 0.5) / k)


def test_event_column_dataframe_and_index():
    X, y, event = _events()
    df = pd.DataFrame(X, columns=["id", "a", "b"]).assign(event=event)
    kf = KFoldEventClassifier(Memoriser(), n_splits=3, event_column="event").fit(df, y)
    assert list(kf.feature_names_in_) == ["id", "a", "b", "event"]
    assert np.all(kf.predict_proba(df)[:, 1] == 0.5)
    arr = np.column_stack([X, event.astype(np.float64)])
    kfi = KFoldEventClassifier(Memoriser(), n_splits=3, event_column=3).fit(arr, y)
    assert np.all(kfi.predict_proba(arr)[:, 1] == 0.5)
    with pytest.raises(ValueError, match="event_column='evt' is not a column"):
        KFoldEventClassifier(Memoriser(), event_column="evt").fit(df, y)
    with pytest.raises(ValueError, match="Event numbers must be integers"):
        KFoldEventClassifier(Memoriser()).fit(X, y, event=event + 0.5)


def test_bdt_folds_match_manual_training_and_round_trip(tmp_path):
    X, y, event = _events(600)
    X = X[:, 1:]
    kf = KFoldEventClassifier(BDTClassifier(n_estimators=5, random_state=1), n_splits=2)
    kf.fit(X, y, event=event)
    p = kf.predict_proba(X, event=event)
    for i in range(2):
        ref = BDTClassifier(n_estimators=5, random_state=1).fit(
            X[event % 2 != i], y[event % 2 != i]
        )
        sel = event % 2 == i
        assert np.array_equal(p[sel], ref.predict_proba(X[sel]))
    kf.save(tmp_path / "kf", feature_spec={"features": ["a", "b"]})
    assert (tmp_path / "kf" / "fold_1" / "booster.ubj").is_file()
    back = load(tmp_path / "kf")
    assert np.array_equal(back.predict_proba(X, event=event), p)
