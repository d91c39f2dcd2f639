"""Weight-aware evaluation of signal/background classifiers (numpy in, numbers out).

Every metric accepts per-event weights, negative ones included (NLO MC), and equals the
scikit-learn / SciPy reference where that reference is defined (unweighted or non-negative
weights). Nothing here needs coffea.
"""

from __future__ import annotations

from hepml_coffea.evaluation.classification import classification_metrics, confusion_matrix_at
from hepml_coffea.evaluation.correlation import correlation_matrices, weighted_corrcoef
from hepml_coffea.evaluation.importance import (
    PermutationImportance,
    auc_scorer,
    permutation_importance,
    signal_score,
)
from hepml_coffea.evaluation.learning_curve import LearningCurve, learning_curve
from hepml_coffea.evaluation.overtraining import effective_sample_size, ks_test, overtraining_report
from hepml_coffea.evaluation.roc import background_rejection_at, roc_auc, roc_curve
from hepml_coffea.evaluation.significance import (
    SignificanceScan,
    asimov_significance,
    selection_significance,
    significance_scan,
)

__all__ = [
    "LearningCurve",
    "PermutationImportance",
    "SignificanceScan",
    "asimov_significance",
    "auc_scorer",
    "background_rejection_at",
    "classification_metrics",
    "confusion_matrix_at",
    "correlation_matrices",
    "effective_sample_size",
    "ks_test",
    "learning_curve",
    "overtraining_report",
    "permutation_importance",
    "roc_auc",
    "roc_curve",
    "selection_significance",
    "signal_score",
    "significance_scan",
    "weighted_corrcoef",
]
