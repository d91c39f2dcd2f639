"""scikit-learn-compatible estimators for HEP event classification, on plain numpy/pandas.

``BDTClassifier`` (xgboost), ``DNNClassifier`` and ``AutoencoderAnomalyDetector`` (Keras 3,
TensorFlow imported only when one is fitted or loaded), ``KFoldEventClassifier`` (TMVA-style
deterministic cross-validation on the event number), and ``save`` / ``load`` of model folders
with a ``model_card.json`` (safe formats only, SHA-256 checked, never unpickled).
:func:`signal_score` / :func:`class_scores` are the one definition of an estimator's score.
"""

from __future__ import annotations

from hepml_coffea.estimators.bdt import BDTClassifier, BDTRegressor
from hepml_coffea.estimators.persistence import load, load_extra, read_card, save
from hepml_coffea.estimators.scores import class_scores, signal_class_index, signal_score
from hepml_coffea.estimators.wrap import from_keras, from_xgboost

__all__ = [
    "AutoencoderAnomalyDetector",
    "BDTClassifier",
    "BDTRegressor",
    "DNNClassifier",
    "DNNRegressor",
    "KFoldEventClassifier",
    "class_scores",
    "from_keras",
    "from_xgboost",
    "load",
    "load_extra",
    "read_card",
    "save",
    "signal_class_index",
    "signal_score",
]

_LAZY = {
    "DNNClassifier": "hepml_coffea.estimators.dnn",
    "DNNRegressor": "hepml_coffea.estimators.dnn",
    "AutoencoderAnomalyDetector": "hepml_coffea.estimators.autoencoder",
    "KFoldEventClassifier": "hepml_coffea.estimators.kfold",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    msg = f"module 'hepml_coffea.estimators' has no attribute {name!r}"
    raise AttributeError(msg)
