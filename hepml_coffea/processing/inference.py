"""Scoring events with saved models inside processors: lazy, once per worker process, batched.

A :class:`ModelScorer` is what a processor holds for each attached model. It pickles as a few
strings (the model folder and what its card says), never as a model: the model is created lazily
on first use in each worker process, through coffea's
:class:`~coffea.ml_tools.helper.nonserializable_attribute`, and kept in a per-process cache so that
the many processor copies a worker unpickles (one per chunk) share one loaded model.
:class:`~coffea.ml_tools.helper.numpy_call_wrapper` does the awkward → numpy conversion around one
batched ``predict_proba`` call per chunk.

``import coffea.ml_tools`` imports TensorFlow (its ``tf_wrapper``), which costs seconds per worker.
The two helper classes live in ``coffea/ml_tools/helper.py``, which needs only numpy and awkward, so
that file is loaded on its own (see :func:`_coffea_ml_helper`) and runs with only BDTs never import
TensorFlow.

Model files reach Dask workers that do not share the client's file system by
:func:`upload_models` (a Dask worker plugin per model folder); on a worker a
scorer looks for its folder at the original path first, then in the worker's local directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import awkward as ak
import numpy as np

from hepml_coffea.errors import ModelError

_MODEL_CACHE: dict[tuple[str, str], Any] = {}


def _coffea_ml_helper() -> ModuleType:
    """``coffea/ml_tools/helper.py`` imported on its own, without the TensorFlow-importing package."""
    name = "hepml_coffea._coffea_ml_helper"
    if name in sys.modules:
        return sys.modules[name]
    if "coffea.ml_tools.helper" in sys.modules:  # already imported by the user: reuse it
        return sys.modules["coffea.ml_tools.helper"]
    spec = importlib.util.find_spec("coffea")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "ml_tools" / "helper.py"
    mspec = importlib.util.spec_from_file_location(name, path)
    assert mspec is not None and mspec.loader is not None
    module = importlib.util.module_from_spec(mspec)
    sys.modules[name] = module
    mspec.loader.exec_module(module)
    return module


_helper = _coffea_ml_helper()


class ModelScorer(_helper.nonserializable_attribute, _helper.numpy_call_wrapper):
    """Score events with one saved model; picklable, loads the model lazily once per process.

    The model card is read (and every file's SHA-256 checked) on construction, on the client, so a
    tampered model or a feature mismatch fails before any event is read.

    Parameters
    ----------
    model_dir : str or path-like
        Folder written by ``save`` of an estimator (``model_card.json`` + model files).
    name : str, optional
        Name used for the score (``score_<name>``); defaults to the folder name.
    score_cut : float, optional
        Events with score ≥ this fill the after-cut histograms. Default: the optimal cut that
        ``train`` recorded in ``training.json``, else 0.5.

    Raises
    ------
    ModelError
        The card has no feature spec, or its feature names and order differ from the spec's.
    """

    def __init__(
        self, model_dir: str | os.PathLike, name: str | None = None, score_cut: float | None = None
    ):
        from hepml_coffea.estimators import read_card
        from hepml_coffea.features import FeatureSpec

        folder, card = read_card(model_dir)
        self.model_dir = str(Path(folder).resolve())
        self.name = name or Path(self.model_dir).name
        self.card_digest = json.dumps(card.get("files", {}), sort_keys=True)
        self.feature_names: list[str] = list(card.get("feature_names") or [])
        self.feature_spec: dict | None = card.get("feature_spec")
        self.folds: dict | None = card.get("folds")
        self.estimator = str(card.get("estimator"))
        if not self.feature_spec:
            msg = (
                f"Model {self.model_dir} stores no feature spec in its card; apply needs it to compute "
                "the features. Train it with `hepml-coffea train` or save(path, feature_spec=spec.to_dict())."
            )
            raise ModelError(msg)
        spec_names = list(FeatureSpec.from_dict(self.feature_spec).names)
        if spec_names != self.feature_names:
            msg = (
                f"Model {self.model_dir}: its feature spec lists {spec_names} but the estimator was "
                f"fitted on {self.feature_names}; names and order must be equal. Re-train the model."
            )
            raise ModelError(msg)
        if score_cut is None:
            training = Path(self.model_dir) / "training.json"
            info = json.loads(training.read_text()) if training.is_file() else {}
            score_cut = (info.get("selection") or {}).get("optimal_cut")
        self.score_cut = 0.5 if score_cut is None else float(score_cut)
        _helper.nonserializable_attribute.__init__(self, ["model"])

    # -- lazy model -----------------------------------------------------------------
    def _resolve_dir(self) -> str:
        if Path(self.model_dir).is_dir():
            return self.model_dir
        try:  # on a Dask worker that got the folder through upload_models
            from distributed import get_worker

            local = Path(get_worker().local_directory) / Path(self.model_dir).name
            if local.is_dir():
                return str(local)
        except (ImportError, ValueError):
            pass
        msg = (
            f"Model folder {self.model_dir} is not reachable on this worker; run through "
            "`hepml-coffea apply` (which uploads models to Dask workers) or put it on a shared file system."
        )
        raise ModelError(msg)

    def _create_model(self) -> Any:
        key = (self.model_dir, self.card_digest)
        if key not in _MODEL_CACHE:
            from hepml_coffea.estimators import load

            _MODEL_CACHE[key] = load(self._resolve_dir())
        return _MODEL_CACHE[key]

    # -- numpy_call_wrapper ---------------------------------------------------------
    def prepare_awkward(self, features: ak.Array, event: ak.Array | None = None) -> tuple:
        return (features,), ({} if event is None else {"event": event})

    def validate_numpy_input(self, X: np.ndarray, event: np.ndarray | None = None) -> None:
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            msg = (
                f"Model {self.name!r} expects {len(self.feature_names)} features "
                f"{self.feature_names}; got an array of shape {X.shape}."
            )
            raise ModelError(msg)

    def numpy_call(self, X: np.ndarray, event: np.ndarray | None = None) -> np.ndarray:
        if len(X) == 0:
            return np.zeros(0, dtype=np.float64)
        import pandas as pd

        model = self.model
        X = pd.DataFrame(X, columns=self.feature_names, copy=False)  # names checked by the model
        if not hasattr(model, "predict_proba"):  # anomaly detector: reconstruction error
            return -np.asarray(model.score_samples(X), dtype=np.float64)
        if self.folds and event is not None:
            proba = model.predict_proba(X, event=np.asarray(event))
        else:
            proba = model.predict_proba(X)
        return np.asarray(proba)[:, -1].astype(np.float64)

    def score(self, X: np.ndarray, event: np.ndarray | None = None) -> np.ndarray:
        """Signal probability for each row of ``X`` (shape (n_events, n_features)), batched."""
        X = np.ascontiguousarray(X, dtype=np.float32)
        if event is not None:
            return np.asarray(self(ak.Array(X), event=ak.Array(np.asarray(event))))
        return np.asarray(self(ak.Array(X)))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call_awkward(*args, **kwargs)


def upload_models(client: Any, model_dirs: list[str]) -> None:
    """Send model folders to every worker of a Dask ``client`` (for clusters without a shared disk).

    Each folder is unpacked into ``worker.local_directory`` (where :class:`ModelScorer` looks when
    the original path does not exist on the worker), also on workers that join later.
    """
    from hepml_coffea.processing._upload import ModelFolderPlugin

    for d in model_dirs:
        client.register_plugin(ModelFolderPlugin(d))
