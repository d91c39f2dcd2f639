"""Scoring events with saved models inside processors: lazy, once per worker process, batched.

A :class:`ModelScorer` is what a processor holds for each attached model. It pickles as a few
strings and numbers (the model folder, what its card says, the score cut), never as a model: the
model is loaded lazily on first use in each worker process (coffea's ``nonserializable_attribute``
idea) and kept in a per-process cache, so that the many processor copies a worker unpickles (one
per chunk) share one loaded model. Scoring takes the plain float32 feature table of a chunk
(numpy, shape (n_events, n_features)) and makes one batched call per chunk through
:func:`hepml_coffea.estimators.signal_score` / :func:`~hepml_coffea.estimators.class_scores`.

The scorer interface that processors use (``processing/base.py``)::

    scorer.name           # "bdt": the model folder's name
    scorer.feature_spec   # the card's feature spec (dict); scorer.spec: the FeatureSpec
    scorer.class_names    # None: one score per event; else one name per class (multi-class)
    scorer.columns        # ["score_bdt"] or ["score_bdt_ttbar", "score_bdt_wjets", ...]
    scorer.signal_column  # the column compared with scorer.score_cut
    scorer.score_cut      # float, resolved by the workflow (``apply``)
    scorer.score(X, event=None)          # (n,) signal score, or (n, n_classes) class scores
    scorer.score_columns(X, event=None)  # {column: (n,) float64}, one per entry of columns

Scorers are built by :func:`hepml_coffea.workflows.apply.make_scorers`, which checks each card's
feature spec against the analysis' and resolves the score cut before any event is read.

Model files reach Dask workers that do not share the client's file system by
:func:`upload_models` (a Dask worker plugin per model folder); on a worker a scorer looks for its
folder at the original path first, then in the worker's local directory.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ModelError
from hepml_coffea.features.spec import FeatureSpec

__all__ = ["ModelScorer", "card_spec", "is_test_event", "upload_models"]

_MODEL_CACHE: dict[tuple[str, str], Any] = {}


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a fixed, well-mixed 64-bit hash of uint64 values."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64, copy=True)
        x ^= x >> np.uint64(30)
        x *= np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(27)
        x *= np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(31)
    return x


def is_test_event(
    run: np.ndarray, lumi: np.ndarray, event: np.ndarray, *, test_fraction: float, seed: int = 0
) -> np.ndarray:
    """The train/test split of ``train``: ``hash(seed, run, lumi, event) / 2**64 < test_fraction``.

    A pure function of each event's identity, so ``train``, ``evaluate`` and the processors of
    ``apply`` agree on it whatever the chunking, executor or dataset order.
    """
    h = _mix64(np.full(len(event), seed, dtype=np.uint64))
    for col in (run, lumi, event):
        with np.errstate(over="ignore"):
            h = _mix64(h ^ np.asarray(col).astype(np.uint64))
    u = (h >> np.uint64(11)).astype(np.float64) / float(1 << 53)
    return u < test_fraction


def card_spec(model_dir: str, card: dict[str, Any]) -> FeatureSpec:
    """The feature spec a model card stores, checked against the names the model was fitted on.

    Raises
    ------
    ModelError
        The card stores no feature spec, or its names or order differ from ``feature_names``.
    """
    if not card.get("feature_spec"):
        msg = (
            f"Model {model_dir} stores no feature spec in its card; apply needs it to compute "
            "the features. Train it with `hepml-coffea train` or save(path, "
            "feature_spec=spec.to_dict())."
        )
        raise ModelError(msg)
    spec = FeatureSpec.from_dict(card["feature_spec"])
    fitted = list(card.get("feature_names") or [])
    if list(spec.names) != fitted:
        msg = (
            f"Model {model_dir}: its feature spec lists {list(spec.names)} but the estimator was "
            f"fitted on {fitted}; names and order must be equal. Re-train the model."
        )
        raise ModelError(msg)
    return spec


class ModelScorer:
    """Score events with one saved model; picklable, loads the model lazily once per process.

    The model card is read (and every file's SHA-256 checked) on construction, on the client, so a
    tampered model fails before any event is read.

    Parameters
    ----------
    model_dir : str or path-like
        Folder written by ``save`` of an estimator (``model_card.json`` + model files).
    score_cut : float
        Events whose signal score (column :attr:`signal_column`) is ≥ this fill the after-cut
        histograms; resolved by the workflow (``apply``).
    name : str, optional
        Name used for the score columns (``score_<name>``); defaults to the folder name.
    class_names : sequence of str, optional
        For a multi-class model: one name per column of its class probabilities (in the order of
        its ``classes_``); the scores are then ``score_<name>_<class>``. ``None``: one score.
    signal_index : int
        The class of ``class_names`` that is the signal (its column is cut on).
    training : dict, optional
        The model's ``training.json`` (hash-checked): its ``split`` and ``datasets`` give
        :meth:`honest_weight`.

    Raises
    ------
    ModelError
        The card has no feature spec, its feature names differ from the spec's, it holds a
        regressor, or ``class_names`` do not match the model's classes.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike,
        score_cut: float,
        *,
        name: str | None = None,
        class_names: Sequence[str] | None = None,
        signal_index: int = 0,
        training: dict[str, Any] | None = None,
    ) -> None:
        from hepml_coffea.estimators import read_card

        folder, card = read_card(model_dir)
        self.model_dir = str(Path(folder).resolve())
        self.name = name or Path(self.model_dir).name
        self.card_digest = json.dumps(card.get("files", {}), sort_keys=True)
        self.estimator = str(card.get("estimator"))
        self.feature_names: list[str] = list(card.get("feature_names") or [])
        self.feature_spec: dict | None = card.get("feature_spec")
        self.folds: dict | None = card.get("folds")
        if self.estimator.endswith("Regressor"):
            msg = (
                f"Model {self.model_dir} is a {self.estimator}; apply attaches classifiers and "
                "anomaly detectors (one score per event), not regressors."
            )
            raise ModelError(msg)
        self.spec = card_spec(self.model_dir, card)
        self.class_names = None if class_names is None else [str(c) for c in class_names]
        n_classes = len((card.get("classes") or {}).get("values") or [])
        if self.class_names is not None and len(self.class_names) != n_classes:
            msg = (
                f"Model {self.model_dir} has {n_classes} classes but {len(self.class_names)} "
                f"class names were given ({self.class_names})."
            )
            raise ModelError(msg)
        if self.class_names is not None and not 0 <= signal_index < len(self.class_names):
            msg = f"signal_index {signal_index} is not a class of {self.class_names}."
            raise ModelError(msg)
        self.signal_index = int(signal_index)
        self.score_cut = float(score_cut)
        rng = (training or {}).get("score_range")
        #: histogram range of the score: (0, 1) for probabilities; an anomaly detector's from
        #: its training.json (the scores of the test events, see ``train``)
        self.score_range: tuple[float, float] = (
            (float(rng[0]), float(rng[1])) if rng is not None else (0.0, 1.0)
        )
        split = (training or {}).get("split") or {}
        self.trained_on: list[str] = list((training or {}).get("datasets") or [])
        self.test_fraction: float | None = (
            float(split["test_fraction"]) if split.get("scheme", "").startswith("hash") else None
        )
        self.split_seed = int(split.get("seed", 0))
        self._model: Any = None

    # -- pickling: never the model ---------------------------------------------------------
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_model"] = None
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    # -- the lazy model --------------------------------------------------------------------
    @property
    def model(self) -> Any:
        """The loaded estimator: loaded on first use, once per process (shared cache)."""
        if self._model is None:
            key = (self.model_dir, self.card_digest)
            if key not in _MODEL_CACHE:
                from hepml_coffea.estimators import load

                _MODEL_CACHE[key] = load(self._resolve_dir())
            self._model = _MODEL_CACHE[key]
        return self._model

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
            "`hepml-coffea apply` (which uploads models to Dask workers) or put it on a shared "
            "file system."
        )
        raise ModelError(msg)

    # -- scoring ---------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        """The score column names, in the order of :meth:`score`'s columns."""
        if self.class_names is None:
            return [f"score_{self.name}"]
        return [f"score_{self.name}_{c}" for c in self.class_names]

    @property
    def signal_column(self) -> str:
        """The column holding the signal score (the one :attr:`score_cut` applies to)."""
        return self.columns[self.signal_index if self.class_names is not None else 0]

    def score(self, X: np.ndarray, event: np.ndarray | None = None) -> np.ndarray:
        """Score a feature table in one batched call.

        Parameters
        ----------
        X : ndarray of shape (n_events, n_features)
            The float32 feature table computed with :attr:`spec`.
        event : ndarray of shape (n_events,), optional
            Event numbers: k-fold models score each event with the fold that did not train on it.

        Returns
        -------
        ndarray of float64
            Shape (n_events,): the signal score (higher = more signal-like); for a multi-class
            model shape (n_events, n_classes): the class probabilities.
        """
        import pandas as pd

        from hepml_coffea.estimators import class_scores, signal_score

        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != len(self.feature_names):
            msg = (
                f"Model {self.name!r} expects {len(self.feature_names)} features "
                f"{self.feature_names}; got an array of shape {X.shape}."
            )
            raise ModelError(msg)
        if len(X) == 0:
            shape = (0,) if self.class_names is None else (0, len(self.class_names))
            return np.zeros(shape, dtype=np.float64)
        # a view with the column names the estimator was fitted with (no copy of the data)
        frame = pd.DataFrame(X, columns=self.feature_names, copy=False)
        ev = None if event is None or not self.folds else np.asarray(event)
        if self.class_names is None:
            return signal_score(self.model, frame, event=ev)
        return class_scores(self.model, frame, event=ev)

    def honest_weight(
        self, dataset: str, run: np.ndarray, lumi: np.ndarray, event: np.ndarray
    ) -> np.ndarray:
        """Factor for the weights of events filled into histograms of this model's scores.

        For a dataset the model trained on (``training.json`` ``datasets``) with a train/test
        split: 0 for the events of the training split, ``1 / test_fraction`` for those of the
        test split, so that score histograms hold only events the model did not see, at the full
        luminosity. 1 for every other event: data, other datasets, k-fold models (each event is
        scored by the fold that did not see it), models without ``training.json``.

        Returns
        -------
        ndarray of shape (n_events,), float64
        """
        n = len(event)
        if self.test_fraction is None or dataset not in self.trained_on:
            return np.ones(n, dtype=np.float64)
        test = is_test_event(
            run, lumi, event, test_fraction=self.test_fraction, seed=self.split_seed
        )
        return np.where(test, 1.0 / self.test_fraction, 0.0)

    @property
    def honesty(self) -> str:
        """Which MC events fill this model's score histograms (see :meth:`honest_weight`)."""
        if self.folds:
            return "k-fold: each event scored by the fold that did not train on it"
        if self.test_fraction is not None and self.trained_on:
            return f"test split only (weights x {1 / self.test_fraction:.3g})"
        return "all events (no training record: may include the training events)"

    def score_columns(
        self, X: np.ndarray, event: np.ndarray | None = None
    ) -> dict[str, np.ndarray]:
        """:meth:`score` as ``{column: (n_events,) float64}``, one entry per :attr:`columns`."""
        s = self.score(X, event=event)
        if s.ndim == 1:
            return {self.columns[0]: s}
        return {c: np.ascontiguousarray(s[:, i]) for i, c in enumerate(self.columns)}


def upload_models(client: Any, model_dirs: list[str]) -> None:
    """Send model folders to every worker of a Dask ``client`` (for clusters without a shared disk).

    Each folder is unpacked into ``worker.local_directory`` (where :class:`ModelScorer` looks when
    the original path does not exist on the worker), also on workers that join later.
    """
    from hepml_coffea.processing._upload import ModelFolderPlugin

    for d in model_dirs:
        client.register_plugin(ModelFolderPlugin(d))
