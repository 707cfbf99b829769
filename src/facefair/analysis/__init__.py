"""Analyses of trained runs beyond the metrics: ASAC's robustness view."""

from .robustness import plot_robustness, robustness

__all__ = ["plot_robustness", "robustness"]
