"""What-if thresholds in the report: per-group sliders (or one shared) that recompute accuracy,
TPR, FPR and selection rate per group and the gaps from the scores embedded in the page, in
the page's own script (no server; it works offline).

A decision is ``score >= threshold`` (score = P(positive class)), the rule of post-processing;
at 0.5 it is the model's own argmax decision except on exact ties. A post-processing run's
fitted thresholds are marked on each group's slider (ticks, and the one of largest weight as
its start; its rule mixes them at random, which one slider cannot show). The gaps are those of
:func:`facefair.metrics.fairness.metrics_from_counts`: max - min over the groups where the
rate is defined, DEO the mean of the TPR and FPR gaps, DEOdds their sum.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..metrics import read_predictions
from ..metrics.groups import group_codes
from .comparisons import predictions_path

#: the most runs a page embeds scores of (one per setting: its first seed)
MAX_RUNS = 12


def whatif_run(label: str, metrics_source: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """One run's scores, labels and groups for the page (from the predictions file beside its
    metrics file), or None where it kept no scores."""
    path = predictions_path(metrics_source)
    if path is None:
        return None
    p = read_predictions(path)
    if p.score is None:
        return None
    codes, names = group_codes(p.group, "group")
    marks: dict[str, list[float]] = {g: [0.5] for g in names}
    start = {g: 0.5 for g in names}
    opts = config.get("method_options") or {}
    if config.get("method") == "postprocess" and opts.get("groups"):
        for g, ts, ws in zip(opts["groups"], opts.get("thresholds", []), opts.get("weights", [])):
            if str(g) in marks:
                real = [(float(t), float(w)) for t, w in zip(ts, ws) if float(t) <= 1.0]
                marks[str(g)] = [t for t, _ in real] or [1.0]
                start[str(g)] = max(real, key=lambda tw: tw[1])[0] if real else 1.0
    return {"label": label, "groups": names, "y": p.y.astype(int).tolist(), "g": codes.astype(int).tolist(),
            "s": np.round(p.score.astype(float), 5).tolist(), "marks": marks, "start": start,
            "postprocess": config.get("method") == "postprocess"}


SCRIPT = r"""
(function () {
  const data = JSON.parse(document.getElementById('whatif-data').textContent);
  const pick = document.getElementById('whatif-run'), shared = document.getElementById('whatif-shared');
  const box = document.getElementById('whatif-sliders'), out = document.getElementById('whatif-out');
  const f = v => (v === null || Number.isNaN(v)) ? 'n/a' : v.toFixed(4);
  const gap = vals => { const d = vals.filter(v => !Number.isNaN(v));
                        return d.length < 2 ? NaN : Math.max(...d) - Math.min(...d); };
  function build() {
    const run = data[pick.value]; box.innerHTML = '';
    run.groups.forEach((g, k) => {
      const row = document.createElement('div'); row.className = 'whatif-row';
      const ticks = 'whatif-marks-' + k;
      row.innerHTML = '<label><span class="whatif-g">' + g.replace(/</g, '&lt;') + '</span> <input type="range" min="0" max="1" step="0.01" ' +
        'data-group="' + k + '" list="' + ticks + '" value="' + run.start[g] + '"> <output>' +
        Number(run.start[g]).toFixed(2) + '</output></label><datalist id="' + ticks + '">' +
        run.marks[g].map(t => '<option value="' + t + '"></option>').join('') + '</datalist>' +
        '<span class="ci"> marked: ' + run.marks[g].map(t => t.toFixed(3)).join(', ') +
        (run.postprocess ? ' (post-processing thresholds)' : ' (the model\'s own rule)') + '</span>';
      box.appendChild(row);
    });
    box.querySelectorAll('input').forEach(el => el.addEventListener('input', ev => {
      if (shared.checked) box.querySelectorAll('input').forEach(o => { o.value = ev.target.value; });
      update();
    }));
    update();
  }
  function update() {
    const run = data[pick.value], G = run.groups.length;
    const t = Array.from(box.querySelectorAll('input')).map(el => parseFloat(el.value));
    box.querySelectorAll('output').forEach((o, k) => { o.textContent = t[k].toFixed(2); });
    const c = Array.from({length: G}, () => [0, 0, 0, 0]);  // tn fp fn tp
    for (let i = 0; i < run.y.length; i++) {
      const p = run.s[i] >= t[run.g[i]] ? 1 : 0; c[run.g[i]][run.y[i] * 2 + p] += 1;
    }
    const rows = c.map(([tn, fp, fn, tp]) => ({n: tn + fp + fn + tp, acc: (tn + tp) / (tn + fp + fn + tp),
      tpr: (tp + fn) ? tp / (tp + fn) : NaN, fpr: (tn + fp) ? fp / (tn + fp) : NaN,
      sel: (fp + tp) / (tn + fp + fn + tp)}));
    const correct = c.reduce((a, [tn, fp, fn, tp]) => a + tn + tp, 0);
    const tg = gap(rows.map(r => r.tpr)), fg = gap(rows.map(r => r.fpr));
    const overall = {accuracy: correct / run.y.length, equal_opportunity_diff: tg, equalized_odds_mean: (tg + fg) / 2,
      equalized_odds_sum: tg + fg, demographic_parity_diff: gap(rows.map(r => r.sel))};
    let html = '<table><thead><tr><th>group</th><th>n</th><th>threshold</th><th>accuracy</th><th>TPR</th><th>FPR</th>' +
      '<th>selection rate</th></tr></thead><tbody>';
    rows.forEach((r, k) => { html += '<tr><td>' + run.groups[k].replace(/</g, '&lt;') + '</td><td>' + r.n + '</td><td>' +
      t[k].toFixed(2) + '</td><td data-m="accuracy-' + k + '">' + f(r.acc) + '</td><td data-m="tpr-' + k + '">' +
      f(r.tpr) + '</td><td data-m="fpr-' + k + '">' + f(r.fpr) + '</td><td data-m="selection_rate-' + k + '">' +
      f(r.sel) + '</td></tr>'; });
    html += '</tbody></table><table><thead><tr><th>accuracy</th><th>DEO (mean of TPR and FPR gaps)</th>' +
      '<th>DEOp (TPR gap)</th><th>DEOdds (sum)</th><th>DDP (selection-rate gap)</th></tr></thead><tbody><tr>' +
      ['accuracy', 'equalized_odds_mean', 'equal_opportunity_diff', 'equalized_odds_sum', 'demographic_parity_diff']
        .map(k => '<td data-m="' + k + '">' + f(overall[k]) + '</td>').join('') + '</tr></tbody></table>';
    out.innerHTML = html;
  }
  pick.addEventListener('change', build);
  shared.addEventListener('change', () => { if (shared.checked) { const first = box.querySelector('input');
    box.querySelectorAll('input').forEach(o => { o.value = first.value; }); update(); } });
  build();
})();
"""


def whatif_html(runs: list[dict[str, Any]]) -> str:
    """The what-if panel for these runs (from :func:`whatif_run`), or "" where none kept scores."""
    runs = [r for r in runs if r is not None][:MAX_RUNS]
    if not runs:
        return ""
    options = "".join(f'<option value="{i}">{html.escape(str(r["label"]))}</option>' for i, r in enumerate(runs))
    # no "<" at all in the embedded JSON (a group named "</script>" cannot end the block)
    payload = json.dumps(runs, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")
    return ('<p class="note">Move a group\'s threshold (a decision is score &ge; threshold) and the table '
            "recomputes from the test scores embedded in this page: nothing is sent anywhere. Ticks mark the "
            "model's own rule (0.5) or a post-processing run's fitted thresholds. Thresholds chosen here on test "
            "data are for exploring only: fit them on validation (<code>facefair postprocess</code>).</p>"
            f'<p><label>run <select id="whatif-run">{options}</select></label> '
            '<label><input type="checkbox" id="whatif-shared"> one threshold for every group</label></p>'
            '<div id="whatif-sliders"></div><div id="whatif-out"></div>'
            f'<script type="application/json" id="whatif-data">{payload}</script><script>{SCRIPT}</script>')

