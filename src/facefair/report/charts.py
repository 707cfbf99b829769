"""The report's charts as PNG bytes (matplotlib, headless): per-group accuracy and TPR bars
with their bootstrap intervals, and the accuracy-fairness trade-off with its Pareto front."""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from typing import Any


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plain_text(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Draw ``fn``'s figure with every text taken literally: a group or run named ``$x$`` (or
    with one ``$``) would otherwise be parsed as math and crash the report."""
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with _plt().rc_context({"text.parse_math": False}):
            return fn(*args, **kwargs)
    return wrapped


def png_bytes(fig: Any, dpi: int = 100) -> bytes:
    """Render and close a figure."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    _plt().close(fig)
    return buf.getvalue()


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Which (gap, accuracy) points no other point dominates (gap no larger and accuracy no
    smaller, one of them strictly): the runs worth choosing between. NaN points are never on it."""
    ok = [not (math.isnan(g) or math.isnan(a)) for g, a in points]
    front = []
    for i, (g, a) in enumerate(points):
        if not ok[i]:
            front.append(False)
            continue
        dominated = any(ok[j] and g2 <= g and a2 >= a and (g2 < g or a2 > a)
                        for j, (g2, a2) in enumerate(points) if j != i)
        front.append(not dominated)
    return front


@plain_text
def group_bars(runs: Sequence[tuple[str, list[dict[str, Any]]]], title: str = "") -> bytes:
    """Two panels, accuracy and TPR per protected group, one bar per run, with 95% CI whiskers.

    ``runs``: (label, the ``groups`` list of a metrics.json) pairs.
    """
    plt = _plt()
    groups: list[str] = []
    for _, gs in runs:
        groups += [g["group"] for g in gs if g["group"] not in groups]
    n = max(len(runs), 1)
    width = 0.8 / n
    fig, axes = plt.subplots(1, 2, figsize=(max(6.0, 1.3 * len(groups) * n ** 0.5 + 3), 3.4))
    for ax, key, name in ((axes[0], "accuracy", "accuracy"), (axes[1], "tpr", "true positive rate")):
        for i, (label, gs) in enumerate(runs):
            by = {g["group"]: g for g in gs}
            vals, lo, hi = [], [], []
            for grp in groups:
                g = by.get(grp, {})
                v = g.get(key)
                v = math.nan if v is None else float(v)
                ci = g.get(f"{key}_ci") or [v, v]
                vals.append(v)
                lo.append(max(0.0, v - ci[0]) if ci[0] is not None and not math.isnan(v) else 0.0)
                hi.append(max(0.0, ci[1] - v) if ci[1] is not None and not math.isnan(v) else 0.0)
            xs = [k + (i - (n - 1) / 2) * width for k in range(len(groups))]
            ax.bar(xs, vals, width, yerr=[lo, hi], capsize=2, label=label)
        finite = [float(g[key]) for _, gs in runs for g in gs if g.get(key) is not None]
        bottom = max(0.0, min(finite, default=0.0) - 0.15)
        ax.set_ylim(bottom, 1.0)
        ax.set_xticks(range(len(groups)), groups, rotation=30 if len(groups) > 3 else 0, ha="right" if len(groups) > 3 else "center")
        ax.set_ylabel(name)
        ax.set_title(f"{name} per group", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=min(len(runs), 4), frameon=False,
               bbox_to_anchor=(0.5, -0.1 - 0.06 * ((len(runs) - 1) // 4)))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return png_bytes(fig)


#: the least span of a trade-off chart's axes (fractions): 0.1 = 10 points of accuracy or gap
MIN_SPAN = 0.1


def _interval(ci: Any, v: float) -> tuple[float, float]:
    """(low, high) of a [low, high] pair around ``v``; ``v`` itself where there is none."""
    if not ci or ci[0] is None or ci[1] is None:
        return v, v
    return min(float(ci[0]), v), max(float(ci[1]), v)


@plain_text
def tradeoff_scatter(points: Sequence[tuple[str, dict[str, float]]],
                     gaps: Sequence[tuple[str, str]], title: str = "") -> bytes:
    """Accuracy against each fairness gap (one panel per gap), Pareto front drawn as a step line.

    ``points``: (label, metrics) pairs, where ``metrics[f"{name}_ci"]`` may hold an interval
    drawn as whiskers; ``gaps``: (metric name, axis label) pairs. The axes do not zoom into
    the points: the gap axis starts at 0 and each axis spans at least ``MIN_SPAN``, so a
    difference far inside the intervals does not look decisive. Settings are told apart by
    colour and marker in a legend under the panels, never by text beside the points (labels
    of nearby points overlapped).
    """
    plt = _plt()
    colours = plt.get_cmap("tab10" if len(points) <= 10 else "tab20").colors
    markers = "osD^vP*X<>h"
    legend_rows = -(-(len(points) + 1) // 4)
    fig, axes = plt.subplots(1, len(gaps), figsize=(4.6 * len(gaps), 3.8 + 0.3 * legend_rows), squeeze=False)
    handles: dict[str, Any] = {}
    for ax, (key, name) in zip(axes[0], gaps):
        pts = [(float(m.get(key, math.nan) if m.get(key) is not None else math.nan),
                float(m.get("accuracy", math.nan))) for _, m in points]
        front = pareto_front(pts)
        xs_seen, ys_seen = [0.0], []
        for i, ((label, m), (g, a), f) in enumerate(zip(points, pts, front)):
            if math.isnan(g) or math.isnan(a):
                continue
            xci, yci = _interval(m.get(f"{key}_ci"), g), _interval(m.get("accuracy_ci"), a)
            h = ax.errorbar([g], [a], xerr=[[g - xci[0]], [xci[1] - g]], yerr=[[a - yci[0]], [yci[1] - a]],
                            fmt=markers[i % len(markers)], color=colours[i % len(colours)], ms=7 if f else 5,
                            mfc=colours[i % len(colours)] if f else "none", capsize=2, elinewidth=0.8, zorder=3)
            handles.setdefault(label, h)
            xs_seen += list(xci)
            ys_seen += list(yci)
        fp = sorted((p for p, f in zip(pts, front) if f))
        if fp:
            (line,) = ax.step([p[0] for p in fp], [p[1] for p in fp], where="post", color="gray", ls="--", lw=1)
            handles.setdefault("Pareto front (filled markers)", line)
        if ys_seen:
            ax.set_xlim(0.0, max(MIN_SPAN, 1.15 * max(xs_seen)))
            lo, hi = min(ys_seen), max(ys_seen)
            pad = max(0.0, MIN_SPAN - (hi - lo)) / 2 + 0.01
            ax.set_ylim(max(0.0, lo - pad), min(1.0, hi + pad))
        ax.set_xlabel(f"{name} (lower is fairer)")
        ax.set_ylabel("accuracy")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title, fontsize=10)
    ncol = min(4, max(1, len(handles)))
    rows = -(-len(handles) // ncol)
    fig.tight_layout(rect=(0, min(0.5, 0.3 * rows / (3.8 + 0.3 * legend_rows) + 0.03), 1, 1))
    if handles:
        fig.legend(list(handles.values()), list(handles), loc="lower center", ncol=ncol, fontsize=7, frameon=False)
    return png_bytes(fig)
