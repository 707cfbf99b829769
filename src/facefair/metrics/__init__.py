"""Fairness metrics (numpy only, no torch): the SPEC table, per-group values, bootstrap CIs,
and the threshold-free ROC AUC of the scores."""

from .fairness import (
    LOWER_IS_BETTER,
    METRIC_NAMES,
    FairnessReport,
    GroupCounts,
    average_reports,
    bootstrap_counts,
    fairness_report,
    intersect,
    metrics_from_counts,
    per_group_from_counts,
    report_from_counts,
)
from .groups import GroupLabels
from .predictions import Predictions, read_predictions, write_predictions
from .ranking import group_auc, roc_auc

__all__ = [
    "LOWER_IS_BETTER",
    "METRIC_NAMES",
    "FairnessReport",
    "GroupCounts",
    "GroupLabels",
    "Predictions",
    "average_reports",
    "bootstrap_counts",
    "fairness_report",
    "group_auc",
    "intersect",
    "metrics_from_counts",
    "per_group_from_counts",
    "read_predictions",
    "report_from_counts",
    "roc_auc",
    "write_predictions",
]
