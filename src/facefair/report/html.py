"""``facefair report RUN [RUN ...] --out report.html``: one self-contained HTML page.

Everything a reader needs sits in the file: CSS inline, charts and explanation pictures as
base64 ``data:`` PNGs, no script and no link to anything outside, so it opens offline and
can be mailed. Sections: the runs and their configs; every SPEC metric with its bootstrap
interval; the same numbers as ASAC Table 1 and FineFACE Tables 2, 6 and 8; per-group
accuracy and TPR bars; accuracy against fairness with the Pareto front across runs; ASAC
robustness curves; explanation pictures. Every string that comes from data or a config
(group names, ids, labels, paths) goes through :func:`html.escape`.

Runs are named as in ``facefair table``: a run folder (its name is the label) or
``LABEL=GLOB`` for the seeds of one setting (tables show their mean; the per-run metric table
lists each seed with its interval); ``::FILE`` after either reads another evaluation of each
run (a cross-dataset ``metrics-on-utkface.json``).
"""

from __future__ import annotations

import base64
import datetime as _dt
import glob
import html
import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..atomic import write_text
from ..errors import ConfigError
from ..metrics import METRIC_NAMES
from ..metrics.fairness import LOWER_IS_BETTER
from ..runfolder import RunFolder
from .charts import group_bars, png_bytes, tradeoff_scatter
from .paper_tables import Table, asac_tables, attribute_tables, data_cell, group_table_data
from .tables import fmt_value, load_metrics, metrics_path
from .whatif import whatif_html, whatif_run

#: the name each metric has in the papers (SPEC's table)
PAPER_NAMES = {
    "accuracy": "ACC / Accuracy", "demographic_parity_diff": "DDP (ASAC)",
    "equal_opportunity_diff": "DEOp (ASAC) / DEO (FineFACE)", "equalized_odds_mean": "DEO (ASAC)",
    "equalized_odds_sum": "DEOdds (FineFACE)", "best_group_accuracy": "Max grp. Acc.",
    "worst_group_accuracy": "Min grp. Acc.", "accuracy_ratio": "Max/Min", "degree_of_bias": "DoB",
    "tpr": "TPR", "best_group_tpr": "Max grp. TPR", "worst_group_tpr": "Min grp. TPR",
    "auc": "ROC AUC (threshold-free)",
}
#: the metrics' definitions, said where they are used (a reader of the page has no SPEC file)
DEFINITIONS = ("Gaps are max - min over the protected groups: DDP of selection rates P(pred = 1), DEOp of true "
               "positive rates, DEO the mean of the TPR and FPR gaps (ASAC), DEOdds their sum (FineFACE). DoB is "
               "the standard deviation of group accuracies; Max/Min the ratio of best to worst group accuracy.")
TRADEOFF_GAPS = (("equalized_odds_mean", "DEO = mean of TPR and FPR gaps"),
                 ("demographic_parity_diff", "DDP = selection-rate gap"))
CONFIG_KEYS = ("method", "dataset", "target", "protected", "arch", "size", "epochs", "seed")


@dataclass
class RunDoc:
    """What the report reads of one run folder."""

    label: str
    path: Path
    config: dict[str, Any]
    metrics: dict[str, Any]
    robustness: dict[str, Any] | None = None
    explanations: list[tuple[dict[str, Any], bytes]] = field(default_factory=list)
    regions: tuple[dict[str, Any], bytes] | None = None  # facefair regions: shares per face region and group
    setting: str = ""  # the label of the setting (seeds) this run belongs to
    source: Path | None = None  # the metrics file read (metrics.json, or a ``::FILE`` evaluation)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON (line {e.lineno}): {e.msg}") from None


def load_run_doc(label: str, path: Path, setting: str = "", metrics_file: str = "") -> RunDoc:
    """A run folder's config, evaluation (``metrics_file``: another one, such as a cross-dataset
    ``metrics-on-utkface.json``), robustness curves and explanation pictures."""
    config = _config_file(path)
    if not config.is_file():
        raise ConfigError(f"{path}: no config.json (nor an audit's audit.json); not a run folder")
    source = metrics_path(path / metrics_file if metrics_file else path)
    doc = RunDoc(label, path, _read_json(config), load_metrics(source), setting=setting or label, source=source)
    if (path / "robustness.json").is_file():
        doc.robustness = _read_json(path / "robustness.json")
    regions = RunFolder(path).regions_file
    if regions.is_file():
        meta = _read_json(regions)
        png = regions.parent / str(meta.get("png", ""))
        if png.is_file() and png.parent == regions.parent:
            doc.regions = (meta, png.read_bytes())
    for j in sorted((path / "explain").glob("*.json")):
        meta = _read_json(j)
        png = j.parent / str(meta.get("png", ""))
        if png.is_file() and png.parent == j.parent:
            doc.explanations.append((meta, png.read_bytes()))
    return doc


def collect(specs: list[str]) -> list[list[RunDoc]]:
    """Settings (lists of runs) from run folders or ``LABEL=GLOB`` specs; labels stay unique."""
    settings: list[list[RunDoc]] = []
    seen: set[str] = set()
    for spec in specs:
        spec, _, metrics_file = spec.partition("::")
        if "=" in spec and not Path(spec).is_dir():
            label, pattern = spec.split("=", 1)
            found = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_dir())
            if not found:
                raise ConfigError(f"{label}: no run folders match {pattern!r}")
        else:
            path = Path(spec)
            if not path.is_dir():
                raise ConfigError(f"{spec}: no such run folder")
            label, found = path.resolve().name, [path]
        base, k = label, 2
        while label in seen:
            label, k = f"{base} ({k})", k + 1
        seen.add(label)
        settings.append([load_run_doc(label if len(found) == 1 else f"{label} [{p.name}]", p, label, metrics_file)
                         for p in found])
    if not settings:
        raise ConfigError("name at least one run folder")
    return settings


# -- HTML pieces ----------------------------------------------------------------------------

def esc(v: Any) -> str:
    return html.escape(str(v), quote=True)


def img(data: bytes, alt: str) -> str:
    return f'<img src="data:image/png;base64,{base64.b64encode(data).decode()}" alt="{esc(alt)}">'


def table_html(t: Table, cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in t.header)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in t.rows)
    title = f"<h3>{esc(t.title)}</h3>" if t.title else ""
    return f'{title}<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _mean(vals: list[Any]) -> float:
    vals = [v for v in vals if v is not None]
    return sum(vals) / len(vals) if vals else math.nan


def metric_table_html(runs: list[RunDoc]) -> str:
    """Every SPEC metric (columns) of every run (rows), and the ROC AUC where scores were kept:
    the value, its bootstrap interval below."""
    names = (*METRIC_NAMES, *(("auc",) if any("auc" in r.metrics["metrics"] for r in runs) else ()))
    head = "".join(f"<th>{esc(k).replace('_', '_<wbr>')}{' ↓' if k in LOWER_IS_BETTER else ' ↑'}<br><span class=\"ci\">"
                   f"{esc(PAPER_NAMES.get(k, ''))}</span></th>" for k in names)
    body = ""
    for r in runs:
        cells = ""
        for k in names:
            ci = (r.metrics.get("ci") or {}).get(k)
            interval = f'<br><span class="ci">[{fmt_value(ci[0])}, {fmt_value(ci[1])}]</span>' if ci else ""
            cells += f"<td>{fmt_value(r.metrics['metrics'].get(k))}{interval}</td>"
        body += f"<tr><td>{esc(r.label)}</td>{cells}</tr>"
    return f'<table class="metrics"><thead><tr><th>run</th>{head}</tr></thead><tbody>{body}</tbody></table>'


def runs_table(runs: list[RunDoc]) -> Table:
    t = Table(["run", *CONFIG_KEYS, "scored on", "images scored", "init from"])
    for r in runs:
        c = r.config
        t.rows.append([r.label, *[str(c.get(k, "")) for k in CONFIG_KEYS], data_cell([r.metrics]),
                       str(r.metrics.get("n", "")), Path(c["init"]).name if c.get("init") else ""])
    return t


def _task(r: RunDoc) -> tuple[str, str, str]:
    m = r.metrics
    return str(m.get("dataset", "?")), str(m.get("target", "?")), str(m.get("protected", "?"))


def _blocks(settings: list[list[RunDoc]]) -> dict[tuple[str, str, str], list[list[RunDoc]]]:
    """Each setting's runs split by task (dataset, target, protected), so charts compare like
    with like; a setting that spans several targets appears in each target's block."""
    out: dict[tuple[str, str, str], list[list[RunDoc]]] = defaultdict(list)
    for s in settings:
        by_task: dict[tuple[str, str, str], list[RunDoc]] = defaultdict(list)
        for r in s:
            by_task[_task(r)].append(r)
        for key, runs in by_task.items():
            out[key].append(runs)
    return out


def _mean_groups(runs: list[RunDoc]) -> list[dict[str, Any]]:
    """Per-group rows averaged over a setting's seeds; the interval of a single run, or the
    min-max range over several seeds."""
    if len(runs) == 1:
        return runs[0].metrics["groups"]
    acc: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    for r in runs:
        for g in r.metrics["groups"]:
            for k in ("accuracy", "tpr"):
                acc[g["group"]][k].append(g.get(k))
    rows = []
    for name, vals in acc.items():
        row: dict[str, Any] = {"group": name}
        for k, v in vals.items():
            finite = [x for x in v if x is not None]
            row[k] = _mean(finite)
            row[f"{k}_ci"] = [min(finite), max(finite)] if finite else None
        rows.append(row)
    return rows


def _point(runs: list[RunDoc]) -> dict[str, Any]:
    """A setting's metrics for the trade-off chart: the seeds' means, with ``NAME_ci`` the
    single run's bootstrap interval or the min-max range over seeds."""
    out: dict[str, Any] = {}
    for k in METRIC_NAMES:
        vals = [r.metrics["metrics"].get(k) for r in runs]
        out[k] = _mean(vals)
        finite = [v for v in vals if v is not None]
        if len(runs) == 1:
            out[f"{k}_ci"] = (runs[0].metrics.get("ci") or {}).get(k)
        elif finite:
            out[f"{k}_ci"] = [min(finite), max(finite)]
    return out


def _config_file(path: Path) -> Path:
    folder = RunFolder(path)
    return folder.config_file if folder.config_file.is_file() else folder.audit_file


def _setting_label(s: list[RunDoc]) -> str:
    return s[0].setting


CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
color:#222;line-height:1.4;padding:0 1em}
h1{border-bottom:2px solid #446;padding-bottom:.2em}h2{margin-top:2em;border-bottom:1px solid #ccd}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.85em}
th,td{border:1px solid #ccd;padding:.25em .55em;text-align:right;white-space:nowrap}
th{background:#eef}td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#f7f7fb}table.text td,table.text th{text-align:left}
.wide{overflow-x:auto}img{max-width:100%;border:1px solid #ddd;margin:.4em 0}
pre{background:#f6f6f8;padding:.6em;overflow-x:auto;font-size:.8em}
.note{color:#555;font-size:.9em}.ci{color:#667;font-size:.85em;font-weight:normal}
table.metrics td,table.metrics th{white-space:normal;min-width:5em}.whatif-g{display:inline-block;min-width:10em}
.whatif-row input{width:16em;vertical-align:middle}figure{margin:1em 0}figcaption{font-size:.85em;color:#444}
table.scoreboard td:nth-last-child(-n+3),table.scoreboard th:nth-last-child(-n+3){white-space:normal;min-width:5.5em;text-align:left}
"""


def _signed(v: Any, digits: int = 3) -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:+.{digits}f}"


def _comparisons(settings: list[list[RunDoc]], base: str | None) -> list[tuple[tuple[str, str, str], str, list[Any]]]:
    """Per task block: (task, base label, [(label, SettingComparison)]) for every setting
    against the base (the first of the block unless ``base`` names one)."""
    from .comparisons import compare_setting

    out = []
    for key, ss in _blocks(settings).items():
        if len(ss) < 2:
            continue
        labels = [_setting_label(s) for s in ss]
        b = labels.index(base) if base in labels else 0
        found = [(labels[i], compare_setting([r.source or r.path for r in ss[b]], [r.source or r.path for r in s],
                                             labels[i], labels[b])) for i, s in enumerate(ss) if i != b]
        out.append((key, labels[b], found))
    return out


def answer_html(comparisons: list[tuple[tuple[str, str, str], str, list[Any]]]) -> str:
    """Per task, each setting against the base in words, then the per-group changes; each
    setting folded (its first sentence is the summary line)."""
    out = ""
    for (ds, target, prot), base_label, found in comparisons:
        out += f"<h3>{esc(ds)}: {esc(target)}, protected {esc(prot)}; base: {esc(base_label)}</h3>"
        for label, sc in found:
            cls = ALARM if sc.comparison.collapse else ""
            first, *rest = sc.lines()
            body = "<ul>" + "".join(
                f"<li{ALARM if line.startswith(('COLLAPSED', 'WORSE')) else ''}>{esc(line)}</li>" for line in rest) + "</ul>"
            t = Table(["group", "Δ TPR", "Δ FPR", "Δ accuracy", "Δ AUC"])
            for g in sc.comparison.groups:
                t.rows.append([g["group"], *[_signed(g.get(f"{k}_change")) for k in ("tpr", "fpr", "accuracy", "auc")]])
            out += f"<details><summary{cls}>{esc(first)}</summary>{body}{table_html(t)}</details>"
    if not out:
        return ""
    return ('<p class="note">Each setting against the base (open one for its per-group changes): the paired '
            "difference of each metric with its 95% interval (per seed when both sides have the same seeds; a "
            "paired bootstrap on the same test images for two single runs), whether it is beyond noise, and how "
            "each gap closed: by improving the worse group (levelling up) or by making the better one worse "
            "(levelling down). Δ = setting - base.</p>" + out)


#: a levelling verdict (analysis.comparison) in a word, for the scoreboard
def verdict_word(verdict: str) -> str:
    """'closed by improving the worse group (levelling up)' -> 'up', and so on."""
    for key, word in (("partly levelling down", "both (partly down)"), ("levelling up", "up"),
                      ("levelling down", "down"), ("raising the lower group and lowering", "both"),
                      ("raising the lower", "up"), ("lowering the higher", "down"), ("widened", "widened"),
                      ("unchanged", "unchanged"), ("undefined", "n/a")):
        if key in verdict:
            return word
    return "closed"


SCORE_GAPS = (("equalized_odds_mean", "DEO"), ("equal_opportunity_diff", "DEOp"), ("demographic_parity_diff", "DDP"))


def _diff_cell(d: Any) -> str:
    if d is None or math.isnan(d.mean):
        return "n/a"
    mark = "?" if math.isnan(d.low) else "" if d.beyond_noise else " ~"
    tip = "no interval" if math.isnan(d.low) else f"95% interval [{d.low:+.4f}, {d.high:+.4f}]"
    return f'<span title="{esc(tip)}">{d.mean:+.4f}{mark}</span>'


def scoreboard_html(settings: list[list[RunDoc]],
                    comparisons: list[tuple[tuple[str, str, str], str, list[Any]]]) -> str:
    """One row per setting: its accuracy and gaps, and against the base the change of each
    with its noise mark, how the TPR and FPR gaps moved in a word, and a flag."""
    out = ""
    by_task = {key: (base_label, found) for key, base_label, found in comparisons}
    for key, ss in _blocks(settings).items():
        ds, target, prot = key
        base_label, found = by_task.get(key, (None, []))
        sc_of = dict(found)
        head = ["setting", "seeds", "accuracy", *[n for _, n in SCORE_GAPS]]
        if found:
            head += ["Δ accuracy", *[f"Δ {n}" for _, n in SCORE_GAPS], "TPR gap", "FPR gap", "flag"]
        rows = ""
        for s in ss:
            label = _setting_label(s)
            p = _point(s)
            cells = [esc(label) + (" (base)" if label == base_label else ""), str(len(s)), fmt_value(p["accuracy"]),
                     *[fmt_value(p[k]) for k, _ in SCORE_GAPS]]
            sc = sc_of.get(label)
            if found and sc is None:
                cells += [""] * (len(head) - len(cells))
            elif sc is not None:
                d = sc.differences
                flag = []
                if sc.comparison.collapse:
                    flag.append("COLLAPSED")
                if any(line.startswith("WORSE") for line in sc.lines()):
                    flag.append("worse than base")
                words = {g.rate: verdict_word(g.verdict) for g in sc.comparison.gaps}
                cells += [_diff_cell(d.get("accuracy")), *[_diff_cell(d.get(k)) for k, _ in SCORE_GAPS],
                          words.get("tpr", "n/a"), words.get("fpr", "n/a"),
                          f"<b{ALARM}>{esc(', '.join(flag))}</b>" if flag else ""]
            rows += "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"
        out += (f"<h3>{esc(ds)}: {esc(target)}, protected {esc(prot)}</h3><div class=\"wide\"><table class=\"scoreboard\">"
                "<thead><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head)
                + f"</tr></thead><tbody>{rows}</tbody></table></div>")
    return out


ALARM = ' style="color:#a00;font-weight:bold"'

#: the methods each paper layout reports; its section appears when a run is of one of them
ASAC_METHODS = ("asac", "zhang_sang")
FINEFACE_METHODS = ("fineface",)


def render(settings: list[list[RunDoc]], title: str, note: str = "", base: str | None = None) -> str:
    """The report page as a string; ``base`` names the setting the others are compared with."""
    runs = [r for s in settings for r in s]
    sections: list[str] = []
    toc: list[tuple[str, str]] = []

    def section(anchor: str, heading: str, body: str) -> None:
        toc.append((anchor, heading))
        sections.append(f'<section id="{anchor}"><h2>{esc(heading)}</h2>{body}</section>')

    comparisons = _comparisons(settings, base)
    blocks = _blocks(settings)
    scatter = ""
    for (ds, target, prot), ss in blocks.items():
        pts = [(_setting_label(s), _point(s)) for s in ss]
        scatter += img(tradeoff_scatter(pts, TRADEOFF_GAPS, f"{ds}: {target}, protected {prot}"),
                       f"accuracy against fairness, {ds} {target}")
    section("glance", "At a glance",
            scatter + '<p class="note">Accuracy against each gap, one marker per setting (mean over its seeds); '
            "whiskers: the 95% bootstrap interval of a single run, or the range over seeds; filled markers on the "
            "dashed line form the Pareto front. Axes start at a 0 gap and span at least 10 points, so points closer "
            "than their whiskers are not told apart. The table: each setting's accuracy and gaps (lower is "
            "fairer) and, against the base, each change (~: within noise, its 95% interval holds 0; ?: no "
            "interval; hover for the interval), how the TPR and FPR gaps moved (up: the worse group improved; "
            "down: the better group got worse) and a flag.</p>" + '<div class="wide">'
            + scoreboard_html(settings, comparisons) + "</div>")
    whatif = whatif_html([whatif_run(_setting_label(s), s[0].source or s[0].path, s[0].config) for s in settings])
    if whatif:
        section("whatif", "What if the thresholds moved", whatif)
    answer = answer_html(comparisons)
    if answer:
        section("answer", "What changed against the base", answer)
    methods = {str(r.config.get("method", "")) for r in runs}

    configs = "".join(f"<details><summary>{esc(r.label)}: {esc(_config_file(r.path))}</summary><pre>"
                      f"{esc(json.dumps(r.config, indent=2, sort_keys=True))}</pre></details>" for r in runs)
    section("runs", "Runs", '<div class="wide">' + table_html(runs_table(runs), "text") + "</div>" + configs)
    level = runs[0].metrics.get("ci_level", 0.95)
    section("metrics", "Every metric",
            f'<p class="note">Each value on the test split with its {100 * level:.0f}% bootstrap interval '
            f"(resampling test images). ↓: lower is fairer; ↑: higher is better. {DEFINITIONS}</p>" + '<div class="wide">' + metric_table_html(runs) + "</div>"
            + "".join(f'<p class="note">{esc(r.label)}: {esc(w)}</p>' for r in runs for w in r.metrics.get("warnings", [])))
    rows = {_setting_label(s): [str(r.path) for r in s] for s in settings}
    if methods & set(ASAC_METHODS):
        paper = "".join(table_html(t) for t in asac_tables(rows))
        section("asac-table", "ASAC Table 1 layout",
                '<p class="note">Fractions, as the ASAC paper prints them: DEO = mean of the TPR and FPR gaps, '
                "DEOp = TPR gap, DDP = selection-rate gap, ACC = accuracy (mean over seeds).</p>" + paper)
    if methods & set(FINEFACE_METHODS):
        ff = ""
        for (ds, target, prot), ss in blocks.items():
            t2 = group_table_data({_setting_label(s): [str(r.path) for r in s] for s in ss})
            t2.title = f"{ds}: {target}, accuracy (%) per group of {prot}"
            ff += table_html(t2)
        t6, t8 = attribute_tables(rows)
        section("fineface-tables", "FineFACE Tables 2, 6 and 8 layout",
                '<p class="note">Percent, as the FineFACE paper prints them. Table 2: accuracy of each protected '
                "group, Max/Min ratio, overall accuracy, DoB (std of group accuracies). Table 6: each metric averaged "
                "over the target attributes (DEO here = TPR gap, DEOdds = TPR gap + FPR gap). Table 8: worst-group "
                "accuracy per attribute.</p>" + ff + '<div class="wide">' + table_html(t6) + table_html(t8) + "</div>")
    charts = ""
    for (ds, target, prot), ss in blocks.items():
        what = f"{ds}: {target}, protected {prot}"
        charts += img(group_bars([(_setting_label(s), _mean_groups(s)) for s in ss], what), f"per-group bars, {what}")
    section("groups", "Accuracy and TPR per group",
            '<p class="note">Whiskers: the 95% bootstrap interval of each group for a single run; the '
            "range over seeds (min to max) for a setting of several seeds, whose bar is their mean.</p>" + charts)
    rob = [r for r in runs if r.robustness]
    if rob:
        from ..analysis.robustness import robustness_figure

        body = '<p class="note">ASAC section 4.2.1 / Figure 4: images built to fool the protected classifier C. ' \
               "Before fine-tuning they also move the target model M; after ASAC, M should hold its decision " \
               "while the frozen C is still fooled.</p>"
        for r in rob:
            assert r.robustness is not None
            body += f"<h3>{esc(r.label)}</h3>" + img(png_bytes(robustness_figure(r.robustness)), f"robustness {r.label}")
        section("robustness", "ASAC robustness curves", body)
    ex = [r for r in runs if r.explanations]
    if ex:
        body = '<p class="note">Rows: test images (id, true label, group). With a reference run its columns come ' \
               "first, so a row reads before, after (ASAC Figure 3); FineFACE shows each expert's CAM and the " \
               "overall map (FineFACE Figure 3).</p>"
        for r in ex:
            for meta, data in r.explanations:
                scores = meta.get("scores") or {}
                cap = f"{r.label}: {str(meta.get('method', '')).upper()}"
                if scores:
                    cap += "; P(" + str(meta.get("score_of", "positive")) + ") per image: " + "; ".join(
                        f"{k}: " + ", ".join(f"{v:.2f}" for v in vs) for k, vs in scores.items())
                body += f"<figure>{img(data, cap)}<figcaption>{esc(cap)}</figcaption></figure>"
        section("explanations", "Where the models look", body)
    reg = [r for r in runs if r.regions]
    if reg:
        body = ('<p class="note">Each image\'s |attribution| summed per face region (regions from five landmarks), '
                "as a share of the image's total; the mean share per group and class with its 95% bootstrap "
                "interval over images, and each group minus the first (* where that interval excludes 0).</p>")
        for r in reg:
            assert r.regions is not None
            meta, data = r.regions
            body += (f"<h3>{esc(r.label)}</h3><p>{esc(meta.get('summary', ''))}</p>"
                     f"<p class=\"note\">{esc(meta.get('n_images'))} images, {esc(meta.get('method'))}; landmarks: "
                     f"{esc(meta.get('landmarks'))}</p>" + img(data, f"region shares {r.label}")
                     + region_table(meta))
        section("regions", "Where in the face, per group", body)
    nav = " · ".join(f'<a href="#{a}">{esc(h)}</a>' for a, h in toc)
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    intro = f'<p class="note">{esc(note)}</p>' if note else ""
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{esc(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{esc(title)}</h1>{intro}"
            f'<p class="note">{len(runs)} run(s) in {len(settings)} setting(s); written {stamp} by facefair.</p>'
            f"<nav>{nav}</nav>" + "".join(sections) + "</body></html>\n")


def _share(v: float, low: float, high: float, sign: str = "") -> str:
    """A share in percent with its interval, where it has one."""
    text = f"{100 * v:{sign}.1f}"
    return text if math.isnan(low) else text + f" [{100 * low:{sign}.1f}, {100 * high:{sign}.1f}]"


def region_table(doc: dict[str, Any]) -> str:
    """The region shares as a table: one row per region, a column per (group, class), then the
    differences from the reference group."""
    cells = doc.get("cells", [])
    cols = [(c["group"], c["class"]) for c in cells]
    diffs = {(d["group"], d["class"], d["region"]): d for d in doc.get("differences", [])}
    dcols = list(dict.fromkeys((d["group"], d["reference"], d["class"]) for d in doc.get("differences", [])))
    head = "".join(f"<th>{esc(g)}, {esc(c)}</th>" for g, c in cols) + "".join(
        f"<th>{esc(g)} - {esc(ref)}, {esc(c)}</th>" for g, ref, c in dcols)
    rows = ""
    for region in doc.get("regions", []):
        row = "".join(f"<td>{_share(*c['share'][region])}</td>" for c in cells)
        for g, _ref, c in dcols:
            d = diffs[(g, c, region)]
            row += f"<td>{_share(d['diff'], d['low'], d['high'], '+')}" + ("*" if d["beyond_noise"] else "") + "</td>"
        rows += f"<tr><td>{esc(region)}</td>{row}</tr>"
    return f"<table><tr><th>region (%)</th>{head}</tr>{rows}</table>"


def write_report(specs: list[str], out: str | Path, title: str = "facefair report", note: str = "",
                 base: str | None = None) -> Path:
    """One self-contained HTML page of runs, written atomically; returns its path.

    Parameters
    ----------
    specs
        evaluated run folders, or ``LABEL=GLOB`` for the seeds of one setting.
    out
        the HTML file to write.
    title
        the page's title.
    note
        a paragraph under the title (what the runs are).
    base
        the setting (label) the others are compared with (default: the first of each task).
    """
    page = render(collect(specs), title, note, base)
    out = write_text(out, page)
    return out
