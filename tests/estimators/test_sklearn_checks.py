"""scikit-learn's own estimator checks over every estimator.

The BDT and the k-fold wrapper run all checks by default. The Keras estimators (tiny nets,
few epochs) run a fast subset by default and the full set under ``-m slow`` (~2.5 min each
on two busy cores).
"""

from __future__ import annotations

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from hepml_coffea.estimators import (
    AutoencoderAnomalyDetector,
    BDTClassifier,
    BDTRegressor,
    DNNClassifier,
    DNNRegressor,
    KFoldEventClassifier,
)

FLOAT32_WEIGHTS = (
    "Keras trains in float32: fitting with integer weights equals fitting on repeated events "
    "only to ~1e-6 relative, not sklearn's rtol=1e-7 (checked at 1e-5 in "
    "test_keras_estimators.py::test_dnn_weights_equal_repetition)"
)

FAST_KERAS_CHECKS = {
    "check_estimators_pickle",
    "check_fit_idempotent",
    "check_classifiers_train",
    "check_outliers_train",
    "check_regressors_train",
    "check_n_features_in_after_fitting",
    "check_dict_unchanged",
    "check_all_zero_sample_weights_error",
    "check_estimators_nan_inf",
    "check_estimators_unfitted",
    "check_no_attributes_set_in_init",
    "check_parameters_default_constructible",
    "check_get_params_invariance",
    "check_set_params",
}


def _expected(est):
    if isinstance(est, DNNClassifier | DNNRegressor | AutoencoderAnomalyDetector):
        return {"check_sample_weight_equivalence_on_dense_data": FLOAT32_WEIGHTS}
    return {}


@parametrize_with_checks(
    [
        # the defaults: weight-scale settings relative to the total weight satisfy both
        # sklearn's integer-weight = repetition contract and weight-scale invariance
        BDTClassifier(),
        BDTRegressor(),
        KFoldEventClassifier(BDTClassifier(n_estimators=5), n_splits=3),
    ],
    expected_failed_checks=_expected,
)
def test_sklearn_checks_trees(estimator, check):
    check(estimator)


def _keras_params():
    ests = [
        DNNClassifier(
            hidden_layer_sizes=(8,), epochs=20, batch_size=64, learning_rate=0.05, random_state=0
        ),
        AutoencoderAnomalyDetector(
            hidden_layer_sizes=(4, 2), epochs=5, batch_size=64, learning_rate=0.05, random_state=0
        ),
        DNNRegressor(
            hidden_layer_sizes=(8,), epochs=20, batch_size=64, learning_rate=0.05, random_state=0
        ),
    ]
    gen = parametrize_with_checks(ests, expected_failed_checks=_expected)
    ids = gen.mark.kwargs["ids"]
    params = []
    for p in gen.mark.args[1]:
        est, check = p.values if hasattr(p, "values") else p
        name = getattr(check, "func", check).__name__
        marks = list(getattr(p, "marks", ()))
        if name not in FAST_KERAS_CHECKS:
            marks.append(pytest.mark.slow)
        pid = f"{ids(est)}-{ids(check)}"
        params.append(pytest.param(est, check, marks=[*marks, pytest.mark.keras], id=pid))
    return params


@pytest.mark.parametrize(("estimator", "check"), _keras_params())
def test_sklearn_checks_keras(estimator, check):
    check(estimator)
