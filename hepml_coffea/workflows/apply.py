"""The ``apply`` step: an analysis' processor with trained models attached.

For every event passing the selection, each model scores the features computed with the feature
spec stored in its model card (names and order checked when the card is read). A k-fold model
scores each event with the fold model that did not train on it (``event % k``). Models are loaded
lazily once per worker process (:class:`~hepml_coffea.processing.inference.ModelScorer`) and
never pickled into the task graph; on Dask their folders are uploaded to the workers.

Outputs in ``DIR``, besides those of ``run`` (``cutflow.json``, ``features/``, ``run.json``,
``report.json``):

- ``histograms.root``: also ``DATASET/score_<model>`` and every feature after the model's score
  cut, ``DATASET/<feature>__<model>``; the cut is ``apply.score_cut`` from the configuration when
  it is ≥ 0, else each model's optimal cut recorded by ``train``;
- ``friends/DATASET/<input file stem>_friend.root``: one friend TTree ``Friends`` per input file,
  with ``run``, ``luminosityBlock``, ``event``, ``entry`` (the event's entry in the input file) and
  ``score_<model>`` for the selected events. In ROOT:
  ``friend->BuildIndex("run", "event"); events->AddFriend(friend)``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = ["apply_models", "write_friend_trees"]


def apply_models(
    analysis: str | os.PathLike,
    fileset: str | os.PathLike | dict,
    model_dirs: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    **kwargs,
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
        The run summary plus the friend trees written.
    """
    from hepml_coffea.workflows.run import run_analysis

    summary = run_analysis(analysis, fileset, out, models=list(model_dirs), **kwargs)
    friends = write_friend_trees(out)
    return f"{summary}; {len(friends)} friend tree(s) in {Path(out) / 'friends'}/"


def write_friend_trees(out: str | os.PathLike) -> list[Path]:
    """Split the scored tables of an ``apply`` output into one friend tree per input file."""
    import pyarrow.parquet as pq
    import uproot

    from hepml_coffea.processing.base import file_id
    from hepml_coffea.processing.outputs import atomic_path

    out = Path(out)
    info = json.loads((out / "run.json").read_text())
    written = []
    for dataset, meta in info["datasets"].items():
        table_file = out / "features" / f"{dataset}.parquet"
        ids = {file_id(str(f)): Path(f) for f in meta.get("files", [])}
        if not table_file.is_file():
            continue
        cols = [c for c in pq.read_schema(table_file).names if c.startswith("score_")]
        keep = ["run", "luminosityBlock", "event", "entry", "file_id", *cols]
        table = pq.read_table(table_file, columns=keep).to_pandas()
        for fid, rows in table.groupby("file_id", sort=False):
            src = ids.get(int(fid))
            stem = src.stem if src is not None else f"file_{int(fid):x}"
            rows = rows.sort_values("entry")
            target = out / "friends" / dataset / f"{stem}_friend.root"
            with atomic_path(target) as tmp, uproot.recreate(tmp) as f:
                f["Friends"] = {
                    c: np.ascontiguousarray(rows[c].to_numpy()) for c in keep if c != "file_id"
                }
            written.append(target)
    return written
