"""PNG files for the evaluate and plot steps: thin loops over :mod:`hepml_coffea.plotting`."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np


def _save(ax: Any, path: Path) -> Path:
    from hepml_coffea.plotting import savefig

    savefig(ax, path)
    return path


def model_plots(
    folder: Path, name: str, m: dict, res: dict, scan: Any, imp: Any, lc: Any, lumi: float | None
) -> list[Path]:
    """Overtraining, score distributions, significance, confusion matrix, importance, learning curve."""
    from hepml_coffea import plotting as pl

    kw = {"lumi": lumi}
    written = []
    if len(m["train_y"]):
        ax = pl.overtraining(
            m["train_y"], m["train_score"], m["test_y"], m["test_score"], m["train_w"], m["test_w"],
            xlabel=f"{name} score", **kw,
        )  # fmt: skip
        written.append(_save(ax, folder / f"overtraining_{name}.png"))
    ys, ss, ws = m["test_y"], m["test_score"], m["test_w"]
    ax = pl.score_distributions(
        {"Signal": (ss[ys == 1], ws[ys == 1]), "Background": (ss[ys == 0], ws[ys == 0])},
        xlabel=f"{name} score", **kw,
    )  # fmt: skip
    written.append(_save(ax, folder / f"scores_{name}.png"))
    ax = pl.significance_scan(
        scan.cuts,
        scan.z,
        best_cut=res["optimal_cut"],
        baseline_z=res["z_baseline"],
        xlabel=f"Cut on {name} score",
        **kw,
    )
    written.append(_save(ax, folder / f"significance_{name}.png"))
    ax = pl.confusion_matrix(np.asarray(res["confusion_matrix"]["matrix"]), normalized=True, **kw)
    written.append(_save(ax, folder / f"confusion_{name}.png"))
    ax = pl.feature_importance(imp.feature_names, imp.importances_mean, imp.importances_std, **kw)
    written.append(_save(ax, folder / f"importance_{name}.png"))
    if lc is not None:
        ax = pl.learning_curve(lc.train_sizes, lc.train_auc, lc.validation_auc, **kw)
        written.append(_save(ax, folder / f"learning_curve_{name}.png"))
    return written


def correlation_plots(
    folder: Path, corr: Mapping[str, np.ndarray], names: list[str], lumi: float | None
) -> list[Path]:
    from hepml_coffea import plotting as pl

    out = []
    for cls in ("signal", "background"):
        ax = pl.correlation_matrix(
            corr[cls], names, title=f"{cls.capitalize()} correlations", lumi=lumi
        )
        out.append(_save(ax, folder / f"correlation_{cls}.png"))
    return out


def roc_plot(folder: Path, rocs: Mapping[str, tuple], lumi: float | None) -> Path:
    from hepml_coffea import plotting as pl

    ax = pl.roc_curves(dict(rocs), lumi=lumi)
    return _save(ax, folder / "roc.png")
