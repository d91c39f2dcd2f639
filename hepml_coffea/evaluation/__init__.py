"""Weight-aware evaluation of classifiers and regressions (numpy in, numbers out).

Every metric accepts per-event weights, negative ones included (NLO MC), and equals the
scikit-learn / SciPy reference where that reference is defined (unweighted or non-negative
weights). Nothing here needs coffea. The score of an estimator is always
:func:`hepml_coffea.estimators.signal_score`.
"""

from __future__ import annotations

from hepml_coffea.evaluation.classification import classification_metrics, confusion_matrix_at
from hepml_coffea.evaluation.correlation import correlation_matrices, weighted_corrcoef
from hepml_coffea.evaluation.importance import (
    PermutationImportance,
    auc_scorer,
    permutation_importance,
)
from hepml_coffea.evaluation.learning_curve import (
    LearningCurve,
    learning_curve,
    stratified_subsample,
)
from hepml_coffea.evaluation.multiclass import (
    MulticlassEvaluation,
    evaluate_multiclass,
    multiclass_confusion_matrix,
)
from hepml_coffea.evaluation.overtraining import (
    KS_ALPHA,
    effective_sample_size,
    format_pvalue,
    ks_test,
    overtraining_report,
    overtraining_warnings,
)
from hepml_coffea.evaluation.regression import (
    ResponseResolution,
    response_resolution,
    weighted_quantile,
)
from hepml_coffea.evaluation.roc import background_rejection_at, roc_auc, roc_curve
from hepml_coffea.evaluation.significance import (
    SignificanceScan,
    asimov_significance,
    selection_significance,
    significance_scan,
)
from hepml_coffea.evaluation.summary import BinaryEvaluation

__all__ = [
    "KS_ALPHA",
    "BinaryEvaluation",
    "LearningCurve",
    "MulticlassEvaluation",
    "PermutationImportance",
    "ResponseResolution",
    "SignificanceScan",
    "asimov_significance",
    "auc_scorer",
    "background_rejection_at",
    "classification_metrics",
    "confusion_matrix_at",
    "correlation_matrices",
    "effective_sample_size",
    "evaluate_multiclass",
    "format_pvalue",
    "ks_test",
    "learning_curve",
    "multiclass_confusion_matrix",
    "overtraining_report",
    "overtraining_warnings",
    "permutation_importance",
    "response_resolution",
    "roc_auc",
    "roc_curve",
    "selection_significance",
    "significance_scan",
    "stratified_subsample",
    "weighted_corrcoef",
    "weighted_quantile",
]
