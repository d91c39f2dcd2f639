"""One small end-to-end chain shared by the train/evaluate/apply/plot tests (built once per session).

``generated_fileset`` (3000 events per MC process) → ``run`` → ``train`` a BDT (with
``--set training.bdt.max_depth=2``) and a 2-fold k-fold BDT → ``apply`` both. ``evaluate`` runs in
its own fixture (it is the slowest step, ~10 s). Everything uses the iterative executor.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

ANALYSIS = "ttbar_ljets"
BDT_SETS = ("training.bdt.max_depth=2", "training.bdt.n_estimators=80")
KFOLD_SETS = ("training.bdt.n_estimators=40", "training.n_folds=2")


@pytest.fixture(scope="session")
def chain_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("chain")


@pytest.fixture(scope="session")
def run_dir(generated_fileset, chain_dir) -> Path:
    from hepml_coffea.workflows import run_analysis

    out = chain_dir / "run"
    run_analysis(ANALYSIS, generated_fileset, out, executor="iterative", progress=False)
    return out


@pytest.fixture(scope="session")
def bdt_dir(run_dir, chain_dir) -> Path:
    from hepml_coffea.workflows import train_model

    out = chain_dir / "models" / "bdt"
    train_model(ANALYSIS, run_dir, "bdt", out, overrides=BDT_SETS, progress=False)
    return out


@pytest.fixture(scope="session")
def kfold_dir(run_dir, chain_dir) -> Path:
    from hepml_coffea.workflows import train_model

    out = chain_dir / "models" / "kbdt"
    train_model(ANALYSIS, run_dir, "kfold-bdt", out, overrides=KFOLD_SETS, progress=False)
    return out


@pytest.fixture(scope="session")
def apply_dir(generated_fileset, bdt_dir, kfold_dir, chain_dir) -> Path:
    from hepml_coffea.workflows import apply_models

    out = chain_dir / "apply"
    apply_models(
        ANALYSIS, generated_fileset, [bdt_dir, kfold_dir], out, executor="iterative", progress=False
    )
    return out


@pytest.fixture(scope="session")
def eval_dir(run_dir, bdt_dir, kfold_dir, chain_dir) -> Path:
    from hepml_coffea.workflows import evaluate_models

    out = chain_dir / "evaluation"
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # e.g. sklearn's feature-name mismatch
        evaluate_models([bdt_dir, kfold_dir], run_dir, out, progress=False)
    return out


@pytest.fixture(scope="session")
def pairwise_auc():
    """Weighted AUC from its definition, P(s_sig > s_bkg) + ½ P(tie), O(n_sig × n_bkg); any weights
    (negative ones too, where sklearn's ``roc_auc_score`` is undefined)."""
    return _pairwise_auc


def _pairwise_auc(y, score, w) -> float:
    import numpy as np

    y, score, w = np.asarray(y), np.asarray(score, np.float64), np.asarray(w, np.float64)
    ss, ws = score[y == 1], w[y == 1]
    sb, wb = score[y == 0], w[y == 0]
    gt = (ss[:, None] > sb[None, :]).astype(np.float64)
    gt += 0.5 * (ss[:, None] == sb[None, :])
    return float(ws @ gt @ wb / (ws.sum() * wb.sum()))
