"""The report's charts take every name literally: a group or run whose name matplotlib would
read as math (``$...$``) is drawn, not a crash."""

from __future__ import annotations

from facefair.report.charts import group_bars, tradeoff_scatter

PNG = b"\x89PNG"


def test_names_that_look_like_math_are_drawn_as_text() -> None:
    groups = [{"group": "$\\frac{$", "accuracy": 0.8, "tpr": 0.7, "ci": {}},
              {"group": "$x^$", "accuracy": 0.7, "tpr": 0.6, "ci": {}}]
    assert group_bars([("run $\\frac{$", groups)], title="$x^$").startswith(PNG)
    points = [("$\\frac{$", {"accuracy": 0.8, "equalized_odds_mean": 0.1}),
              ("$x^$", {"accuracy": 0.7, "equalized_odds_mean": 0.2})]
    assert tradeoff_scatter(points, [("equalized_odds_mean", "DEO $x^$")]).startswith(PNG)
