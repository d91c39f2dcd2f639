"""The ``apply`` step: an analysis' processor with trained models attached.

Before any event is read, :func:`make_scorers` checks each model against the analysis:

- the analysis must compute a feature table (a ``features`` list in its configuration);
- the model card's feature spec (names, order, pad values, dtype) must equal the analysis' —
  :meth:`~hepml_coffea.features.FeatureSpec.check_compatible`; a swapped or re-padded spec is
  refused with one line;
- the score cut is resolved here and passed to the processor as a number: ``apply.score_cut``
  from the configuration when it is ≥ 0, else the optimal cut that ``train`` recorded in the
  model's ``training.json`` — only when that file is covered by the model card's SHA-256 hashes.
  A model without a hash-checked ``training.json`` (e.g. wrapped with ``from_xgboost``) is
  refused unless ``--set apply.score_cut=VALUE`` is given;
- a multi-class model (``train --multiclass``) gets its class names from ``training.json`` and
  writes one score per class, ``score_<model>_<class>``; its cut is for the signal class
  (``scorer.signal_column``).

A k-fold model scores each event with the fold model that did not train on it (``event % k``).
Models are loaded lazily once per worker process
(:class:`~hepml_coffea.processing.inference.ModelScorer`) and never pickled into the task graph;
on Dask their folders are uploaded to the workers.

Outputs in ``DIR``, besides those of ``run``: the score columns in the tables, score histograms
and the features after each model's score cut in ``histograms.root``, and
``friends/DATASET/<input file stem>_friend.root``: one friend TTree ``Friends`` per input file,
with ``run``, ``luminosityBlock``, ``event``, ``entry`` (the event's entry in the input file) and
the score columns, for the selected events. Friend trees of an earlier ``apply`` into the same
folder are removed first. In ROOT:
``friend->BuildIndex("run", "event"); events->AddFriend(friend)``.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hepml_coffea.errors import ConfigError, ModelError
from hepml_coffea.features.spec import FeatureSpec

__all__ = ["apply_models", "make_scorers", "resolve_score_cut", "write_friend_trees"]


def apply_models(
    analysis: str | os.PathLike,
    fileset: str | os.PathLike | dict,
    model_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    **kwargs: Any,
) -> str:
    """Run ``analysis`` over ``fileset`` with the models in ``model_dirs`` attached.

    Parameters
    ----------
    analysis, fileset, out, **kwargs
        As :func:`hepml_coffea.workflows.run.run_analysis` (``overrides``, executor options).
    model_dirs : sequence of path
        Model folders written by ``train`` (``model_card.json`` + files).

    Returns
    -------
    str
        The run summary, the score cut used per model, and the friend trees written.
    """
    from hepml_coffea.filesets import load_fileset
    from hepml_coffea.workflows.run import run_analysis

    if not model_dirs:
        msg = "apply needs at least one model folder (--model DIR); to run without one use `run`."
        raise ConfigError(msg)
    files = {ds: list(meta["files"]) for ds, meta in load_fileset(fileset).items()}
    friends: list[Path] = []

    def finalize(tmp: Path) -> None:  # inside the run's temporary folder: committed with it
        friends.extend(write_friend_trees(tmp, files))

    # the friend trees are split from the Parquet tables: keep them whatever else is asked for
    formats = list(kwargs.pop("table_formats", ("parquet", "root")))
    formats += [] if "parquet" in formats else ["parquet"]
    summary = run_analysis(
        analysis,
        fileset,
        out,
        models=list(model_dirs),
        finalize=finalize,
        table_formats=formats,
        **kwargs,
    )
    cuts = _cuts_used(analysis, model_dirs, kwargs)
    return f"{summary}; {cuts}; {len(friends)} friend tree(s) in {Path(out) / 'friends'}/"


def _cuts_used(analysis: Any, model_dirs: Sequence[Any], kwargs: dict[str, Any]) -> str:
    """``score cuts: bdt >= 0.62 (training.json), ...``, as :func:`make_scorers` resolved them."""
    from hepml_coffea.config import load_analysis

    cfg = load_analysis(analysis, overrides=list(kwargs.get("overrides", ())))
    configured = float(cfg.get("apply.score_cut", -1.0))
    parts = []
    for d in model_dirs:
        cut, source = resolve_score_cut(d, configured)
        parts.append(f"{Path(d).name} >= {cut:.4g} ({source})")
    return "score cuts: " + ", ".join(parts)


def resolve_score_cut(model_dir: str | os.PathLike, configured: float) -> tuple[float, str]:
    """The score cut of a model: ``(cut, where it comes from)``.

    Parameters
    ----------
    model_dir : path
        The model folder.
    configured : float
        ``apply.score_cut`` of the configuration; used when ≥ 0.

    Raises
    ------
    ModelError
        ``configured < 0`` and the model has no ``training.json`` covered by its card's hashes.
    """
    from hepml_coffea.workflows.train import read_training_info

    if configured >= 0:
        return float(configured), "apply.score_cut"
    info = read_training_info(model_dir)
    cut = None if info is None else (info.get("selection") or {}).get("optimal_cut")
    if cut is None:
        msg = (
            f"Model {model_dir} has no hash-checked training.json with an optimal score cut "
            "(only `hepml-coffea train` writes one); give the cut with --set apply.score_cut=VALUE."
        )
        raise ModelError(msg)
    return float(cut), "training.json"


def make_scorers(model_dirs: Sequence[str | os.PathLike], cfg: Any) -> list:
    """One :class:`~hepml_coffea.processing.inference.ModelScorer` per model folder, checked.

    Parameters
    ----------
    model_dirs : sequence of path
    cfg : AnalysisConfig
        The loaded analysis configuration (``features``, ``apply.score_cut``).

    Raises
    ------
    ModelError
        The analysis computes no features, a model's feature spec differs from the analysis',
        or its score cut cannot be resolved (see :func:`resolve_score_cut`).
    ConfigError
        Two model folders with the same name.
    """
    from hepml_coffea.estimators import read_card
    from hepml_coffea.processing.inference import ModelScorer, card_spec
    from hepml_coffea.workflows.train import read_training_info

    if not model_dirs:
        return []
    features = cfg.get("features", None)
    if not features:
        msg = (
            f"Analysis {cfg.name!r} computes no feature table (no 'features' in its "
            f"configuration), so model {model_dirs[0]} cannot be applied to it; apply models to "
            "the analysis they were trained on."
        )
        raise ModelError(msg)
    spec = FeatureSpec.from_config(features)
    configured = float(cfg.get("apply.score_cut", -1.0))
    scorers = []
    for d in model_dirs:
        folder, card = read_card(d)
        spec.check_compatible(card_spec(str(folder), card), f"model {d}")
        cut, _ = resolve_score_cut(d, configured)
        info = read_training_info(d) or {}
        classes = info.get("classes")
        signal = classes.index(info["signal_class"]) if classes else 0
        scorer = ModelScorer(
            d, cut, class_names=classes, signal_index=signal, training=info or None
        )
        scorers.append(scorer)
    names = [s.name for s in scorers]
    if len(set(names)) != len(names):
        msg = f"Model folders must have distinct names (they name the score columns); got {names}."
        raise ConfigError(msg)
    return scorers


def write_friend_trees(
    out: str | os.PathLike, files: dict[str, list[str]] | None = None
) -> list[Path]:
    """Split the scored tables of an ``apply`` output into one friend tree per input file.

    Parameters
    ----------
    out : path
        The output folder (``features/*.parquet`` with score columns).
    files : dict, optional
        ``{dataset: [input file paths]}`` (names the friend files); default: ``run.json``'s.

    Friend trees of an earlier ``apply`` into ``out`` are removed first, so that the folder
    holds only the scores of this run.
    """
    import pyarrow.parquet as pq
    import uproot

    from hepml_coffea.processing.base import file_id
    from hepml_coffea.workflows.outputs import atomic_path

    out = Path(out)
    if files is None:
        info = json.loads((out / "run.json").read_text())
        files = {ds: list(meta.get("files", [])) for ds, meta in info["datasets"].items()}
    friends = out / "friends"
    if friends.is_dir():
        shutil.rmtree(friends)
    written = []
    for dataset, paths in files.items():
        table_file = out / "features" / f"{dataset}.parquet"
        ids = {file_id(str(f)): Path(f) for f in paths}
        if not table_file.is_file():
            continue
        cols = [c for c in pq.read_schema(table_file).names if c.startswith("score_")]
        keep = ["run", "luminosityBlock", "event", "entry", "file_id", *cols]
        table = pq.read_table(table_file, columns=keep).to_pandas()
        for fid, rows in table.groupby("file_id", sort=False):
            src = ids.get(int(fid))
            stem = src.stem if src is not None else f"file_{int(fid):x}"
            rows = rows.sort_values("entry")
            target = friends / dataset / f"{stem}_friend.root"
            with atomic_path(target) as tmp, uproot.recreate(tmp) as f:
                f["Friends"] = {
                    c: np.ascontiguousarray(rows[c].to_numpy()) for c in keep if c != "file_id"
                }
            written.append(target)
    return written
