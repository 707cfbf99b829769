"""Analyses of trained runs beyond the metrics: ASAC's robustness view, linear probes of features."""

from .probe import ProbeResult, frozen_features, linear_probe
from .robustness import plot_robustness, robustness

__all__ = ["ProbeResult", "frozen_features", "linear_probe", "plot_robustness", "robustness"]
