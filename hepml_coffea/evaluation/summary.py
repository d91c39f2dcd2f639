"""The numbers ``evaluate`` computes for one binary model, as one typed record.

:class:`BinaryEvaluation` is what the evaluate step hands to its plots and writes to
``evaluation.json`` (``to_dict``); :meth:`BinaryEvaluation.summary` is its report line, with KS
p-values in scientific notation and a warning per class when p < 0.05.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from hepml_coffea.evaluation.importance import PermutationImportance
from hepml_coffea.evaluation.learning_curve import LearningCurve
from hepml_coffea.evaluation.overtraining import format_pvalue, overtraining_warnings
from hepml_coffea.evaluation.significance import SignificanceScan

__all__ = ["BinaryEvaluation"]


@dataclass(frozen=True)
class BinaryEvaluation:
    """Evaluation of one signal-versus-background model on the events it did not train on.

    Attributes
    ----------
    name, estimator : str
        Model folder name and estimator class name.
    honesty : str
        Which events the test numbers use (e.g. "out-of-fold scores of the 2 k-fold models").
    n_test : int
    auc_test, auc_train : float
        Weighted AUC of the test and of the training events (NaN if none).
    roc : (fpr, tpr)
        Test ROC curve.
    ks : dict
        :func:`~hepml_coffea.evaluation.overtraining_report` (empty without training events).
    scan : SignificanceScan
        Asimov Z against the score cut (test weights scaled to the full luminosity).
    baseline : dict
        ``s``, ``b``, ``z`` of the cut-based selection (every test event).
    optimal_cut : float
    confusion : ndarray of shape (2, 2)
        Weighted counts ``[[TN, FP], [FN, TP]]`` at ``optimal_cut``, full-luminosity weights.
    metrics_at_cut : dict
        :func:`~hepml_coffea.evaluation.classification_metrics` at ``optimal_cut``.
    score_range : (float, float)
        Range of the plotted score histograms (0-1 for probabilities, the scores' own range
        otherwise, e.g. an autoencoder's reconstruction error).
    importance, learning_curve : optional
    """

    name: str
    estimator: str
    honesty: str
    n_test: int
    auc_test: float
    auc_train: float
    roc: tuple[NDArray[np.float64], NDArray[np.float64]]
    ks: dict[str, dict[str, float]]
    scan: SignificanceScan
    baseline: dict[str, float]
    optimal_cut: float
    confusion: NDArray[np.float64]
    metrics_at_cut: dict[str, float]
    score_range: tuple[float, float]
    importance: PermutationImportance | None = None
    learning_curve: LearningCurve | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def z_optimal(self) -> float:
        """Asimov Z at the optimal cut."""
        return float(self.scan.best_z)

    def all_warnings(self) -> list[str]:
        """Overtraining warnings (KS p < 0.05) followed by any other warning."""
        return [*overtraining_warnings(self.ks, self.name), *self.warnings]

    def summary(self) -> str:
        """One report line: AUC, KS p-values (scientific), optimal cut, Z against cut-based."""
        ks = "; KS p (sig/bkg) " + "/".join(
            format_pvalue(self.ks[c]["pvalue"]) if c in self.ks else "n/a"
            for c in ("signal", "background")
        )
        return (
            f"{self.name}: AUC {self.auc_test:.4f} ({self.honesty}){ks}; optimal cut "
            f"{self.optimal_cut:.3g}: Z = {self.z_optimal:.2f} vs cut-based {self.baseline['z']:.2f}"
        )

    def to_dict(self) -> dict[str, Any]:
        """The ``evaluation.json`` entry of the model."""
        return {
            "estimator": self.estimator,
            "test_events": self.honesty,
            "n_test": self.n_test,
            "auc_test": self.auc_test,
            "auc_train": None if not np.isfinite(self.auc_train) else self.auc_train,
            "ks": self.ks,
            "ks_pvalue_text": {c: format_pvalue(r["pvalue"]) for c, r in self.ks.items()},
            "significance": {**self.scan.to_dict(), "baseline": self.baseline},
            "optimal_cut": self.optimal_cut,
            "z_optimal": self.z_optimal,
            "z_baseline": float(self.baseline["z"]),
            "confusion_matrix": {
                "threshold": self.optimal_cut,
                "weighted_counts": self.confusion.tolist(),
                "matrix": self.confusion.tolist(),
                "rows": "true class (background, signal)",
                "columns": f"predicted (score < {self.optimal_cut:.4g}, score >= {self.optimal_cut:.4g})",
            },
            "metrics_at_cut": self.metrics_at_cut,
            "score_range": list(self.score_range),
            "importance": None if self.importance is None else self.importance.to_dict(),
            "learning_curve": None
            if self.learning_curve is None
            else self.learning_curve.to_dict(),
            "warnings": self.all_warnings(),
        }
