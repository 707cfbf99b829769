"""The HTML report: self-contained, every SPEC metric as in metrics.json, the papers' layouts,
hostile names escaped, the Pareto front's known answer, and a real render in headless
Chromium (no console errors, tables and images shown, a screenshot kept as an artifact)."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from facefair import TrainConfig, train
from facefair.analysis.robustness import robustness
from facefair.cli import main
from facefair.errors import ConfigError, DataError
from facefair.evaluation import evaluate
from facefair.explain import explain_run
from facefair.metrics import METRIC_NAMES
from facefair.mitigation import mitigate
from facefair.report.charts import pareto_front
from facefair.report.html import write_report

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>&'


def test_pareto_front_known_answer() -> None:
    # (gap, accuracy): lower gap and higher accuracy are better
    pts = [(0.20, 0.88), (0.10, 0.90), (0.05, 0.85), (0.10, 0.87), (0.30, 0.91), (0.05, 0.85), (float("nan"), 0.99)]
    assert pareto_front(pts) == [False, True, True, False, True, True, False]
    assert pareto_front([(0.1, 0.9)]) == [True]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Base, two mitigations (ASAC with robustness curves and IG pictures) and a second seed."""
    root = tmp_path_factory.mktemp("report")
    common = {"dataset": "synthetic", "dataset_options": {"n_train": 256, "n_val": 96, "n_test": 128},
              "arch": "tiny", "size": 32, "epochs": 2, "batch_size": 32, "progress": False}
    for seed in (0, 1):
        train(TrainConfig(seed=seed, **common), root / f"base-s{seed}")  # type: ignore[arg-type]
        evaluate(root / f"base-s{seed}", n_boot=50, progress=False)
    mitigate("asac", root / "base-s0", root / "asac", {"probe_epochs": 3}, epochs=1, progress=False)
    mitigate("reweight", root / "base-s0", root / "reweight", epochs=1, progress=False)
    for r in ("asac", "reweight"):
        evaluate(root / r, n_boot=50, progress=False)
    robustness(root / "asac", n=32)
    explain_run(root / "asac", "ig", compare=root / "base-s0", n=2, steps=4)
    return root


def _cells(page: str) -> list[str]:
    return re.findall(r"<td>(.*?)</td>", page)


def test_report_is_self_contained_and_complete(runs: Path) -> None:
    out = write_report([str(runs / "base-s0"), str(runs / "asac"), str(runs / "reweight")], runs / "r.html")
    page = out.read_text()
    # self-contained: its only scripts are the what-if panel's data and code, inline
    assert re.findall(r"<script[^>]*>", page) == ['<script type="application/json" id="whatif-data">', "<script>"]
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    for anchor in ("glance", "whatif", "answer", "runs", "metrics", "asac-table", "groups", "robustness",
                   "explanations"):
        assert f'id="{anchor}"' in page
    # the picture and the scoreboard lead, then the what-if panel, the answer in words; the FineFACE
    # layouts appear only where a FineFACE run is; AUC is a column
    assert page.index('id="glance"') < page.index('id="whatif"') < page.index('id="answer"') < page.index('id="runs"')
    glance = page[page.index('id="glance"'):page.index('id="whatif"')]
    assert glance.index("data:image/png") < glance.index('class="scoreboard"')
    assert "asac" in glance and "reweight" in glance and "base-s0 (base)" in glance
    assert 'id="fineface-tables"' not in page and "SPEC.md" not in page and "auc ↑" in page
    answer = page[page.index('id="answer"'):page.index('id="runs"')]
    assert "asac against base-s0: accuracy" in answer and "reweight against base-s0" in answer
    assert re.search(r"DEO [+-]\d\.\d{4} \[[+-]\d\.\d{4}, [+-]\d\.\d{4}\] \((beyond|within) noise\)", answer)
    assert re.search(r"DEOp \(TPR gap\) \d\.\d{3} -&gt; \d\.\d{3}: (closed|widened|unchanged)", answer)
    assert page.count("data:image/png;base64,") == 1 + 1 + 1 + 1  # bars, scatter, robustness, IG
    cells = _cells(page)
    heads = re.findall(r"<th>(.*?)<br>", page)
    for name in METRIC_NAMES:  # every metric, with its value and interval as metrics.json has them
        assert any(h.replace("<wbr>", "").startswith(name) for h in heads), name
    doc = json.loads((runs / "asac" / "metrics.json").read_text())
    lo, hi = doc["ci"]["equalized_odds_mean"]
    assert f'{doc["metrics"]["equalized_odds_mean"]:.4f}<br><span class="ci">[{lo:.4f}, {hi:.4f}]</span>' in cells
    # ASAC Table 1 in fractions, from the same numbers
    assert f"{doc['metrics']['equal_opportunity_diff']:.3f}" in cells
    assert str(runs / "asac") in page and "config.json" in page


def test_fineface_layouts_appear_with_a_fineface_run(runs: Path, tmp_path: Path) -> None:
    run = tmp_path / "ff"
    shutil.copytree(runs / "reweight", run)
    cfg = json.loads((run / "config.json").read_text())
    (run / "config.json").write_text(json.dumps({**cfg, "method": "fineface"}))
    page = write_report([str(runs / "base-s0"), str(run)], tmp_path / "ff.html").read_text()
    assert 'id="fineface-tables"' in page and 'id="asac-table"' not in page
    doc = json.loads((run / "metrics.json").read_text())  # FineFACE Table 2 in percent
    assert f"{100 * doc['metrics']['degree_of_bias']:.2f}" in _cells(page)


def test_seeds_of_one_setting_are_averaged(runs: Path) -> None:
    page = write_report([f"Base={runs}/base-s*", str(runs / "asac")], runs / "seeds.html").read_text()
    accs = [json.loads((runs / f"base-s{s}" / "metrics.json").read_text())["metrics"]["accuracy"] for s in (0, 1)]
    cells = _cells(page)
    i = cells.index("Base")  # the ASAC table row: label, seeds, DEO, DEOp, DDP, ACC
    assert cells[i + 1] == "2" and cells[i + 5] == f"{sum(accs) / 2:.3f}"
    assert "Base [base-s0]" in page and "Base [base-s1]" in page  # each seed in the metric table


def test_names_from_data_are_escaped(runs: Path, tmp_path: Path) -> None:
    run = tmp_path / "hostile"
    shutil.copytree(runs / "reweight", run)
    doc = json.loads((run / "metrics.json").read_text())
    doc["groups"][0]["group"] = HOSTILE
    doc["target"] = HOSTILE
    (run / "metrics.json").write_text(json.dumps(doc))
    cfg = json.loads((run / "config.json").read_text())
    cfg["target"] = HOSTILE
    (run / "config.json").write_text(json.dumps(cfg))
    page = write_report([str(run)], tmp_path / "h.html", title=HOSTILE).read_text()
    assert HOSTILE not in page and "<img src=x" not in page
    assert len(re.findall(r"<script", page)) == 2  # the what-if panel's own two, nothing from the data
    escaped = "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;&amp;"
    assert page.count(escaped) >= 4  # title, heading, group column, config


def test_report_errors_name_the_folder(runs: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such run folder"):
        write_report([str(tmp_path / "nope")], tmp_path / "r.html")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty.*config.json"):
        write_report([str(tmp_path / "empty")], tmp_path / "r.html")
    unevaluated = tmp_path / "uneval"
    shutil.copytree(runs / "reweight", unevaluated)
    (unevaluated / "metrics.json").unlink()
    with pytest.raises(DataError, match="facefair evaluate"):
        write_report([str(unevaluated)], tmp_path / "r.html")
    with pytest.raises(ConfigError, match="no run folders match"):
        write_report([f"X={tmp_path}/zzz*"], tmp_path / "r.html")
    assert not (tmp_path / "r.html").exists()


def _chromium() -> str:
    for name in (os.environ.get("FACEFAIR_CHROMIUM", ""), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return str(shutil.which(name))
    pytest.skip("no Chromium on this machine (apt-get install chromium); the browser check is skipped")


def test_report_renders_in_headless_chromium(runs: Path, capsys: pytest.CaptureFixture[str]) -> None:
    browser = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    out = runs / "browser.html"
    assert main(["report", str(runs / "base-s0"), str(runs / "asac"), str(runs / "reweight"),
                 "--out", str(out), "--title", "browser check"]) == 0
    assert str(out) in capsys.readouterr().out
    artifacts = Path(os.environ.get("FACEFAIR_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    shot = artifacts / "report-screenshot.png"
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = b.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("console", lambda m: problems.append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
            page.goto(out.resolve().as_uri(), wait_until="load")
            state = page.evaluate("""() => ({
                tables: Array.from(document.querySelectorAll('table')).filter(t => t.querySelectorAll('tbody tr')
                        .length > 0).map(t => t.closest('section').id),
                folded: Array.from(document.querySelectorAll('#answer details')).map(d => d.open),
                images: Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.offsetWidth]),
                board: Array.from(document.querySelectorAll('table.scoreboard')).map(t =>
                       [t.getBoundingClientRect().right, document.body.getBoundingClientRect().right]),
                title: document.title, h2: Array.from(document.querySelectorAll('h2')).map(h => h.textContent)})""")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            b.close()
    assert problems == []
    assert state["title"] == "browser check"
    # the scoreboard, the what-if panel's two (filled by its script), two comparisons' per-group
    # changes (folded), runs, metrics, ASAC Table 1
    assert state["tables"] == ["glance", "whatif", "whatif", "answer", "answer", "runs", "metrics", "asac-table"]
    assert state["folded"] == [False, False]
    # the scoreboard fits the page at 1280 px (its verdict words wrap; nothing is cut off)
    assert state["board"] and all(right <= body + 1 for right, body in state["board"])
    assert len(state["images"]) == 4 and all(c and w > 100 and shown > 100 for c, w, shown in state["images"])
    assert "ASAC robustness curves" in state["h2"] and "Where the models look" in state["h2"]
    assert shot.stat().st_size > 20_000
    print(f"screenshot: {shot}")


def test_a_setting_spanning_targets_is_split_by_task(runs: Path) -> None:
    """One label over runs of two targets: each target's block holds only its own runs."""
    from facefair.report.html import _blocks, collect

    other = runs / "other-target"
    if not other.exists():
        shutil.copytree(runs / "reweight", other)
        doc = json.loads((other / "metrics.json").read_text())
        doc["target"] = "hair"
        (other / "metrics.json").write_text(json.dumps(doc))
    blocks = _blocks(collect([f"Mixed={runs}/*t*", str(runs / "base-s0")]))
    assert set(blocks) == {("synthetic", "smile", "group"), ("synthetic", "hair", "group")}
    assert [[r.path.name for r in s] for s in blocks[("synthetic", "hair", "group")]] == [["other-target"]]
    assert [[r.path.name for r in s] for s in blocks[("synthetic", "smile", "group")]] == [["reweight"], ["base-s0"]]


def test_whatif_sliders_recompute_what_the_metrics_module_computes(runs: Path) -> None:
    """Move each group's threshold in headless Chromium: the page's numbers equal
    facefair.metrics on the same scores cut at those thresholds; the shared box moves all."""
    browser = _chromium()
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    from facefair.metrics import fairness_report, read_predictions

    out = write_report([str(runs / "base-s0"), str(runs / "asac")], runs / "whatif.html")
    p = read_predictions(runs / "asac" / "predictions.csv")
    groups = np.asarray(p.group)
    names = sorted(set(groups.tolist()))
    artifacts = Path(os.environ.get("FACEFAIR_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=browser, args=["--no-sandbox", "--disable-gpu"])
        try:
            page = b.new_page(viewport={"width": 1280, "height": 900})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(out.resolve().as_uri(), wait_until="load")
            read = """() => Object.fromEntries(Array.from(document.querySelectorAll('#whatif-out [data-m]'))
                      .map(td => [td.dataset.m, td.textContent]))"""
            at_half = page.evaluate(read)
            page.select_option("#whatif-run", "1")  # asac
            cuts = {names[0]: 0.3, names[1]: 0.8}
            for k, name in enumerate(names):
                page.evaluate(f"""() => {{ const el = document.querySelector('#whatif-sliders input[data-group="{k}"]');
                                  el.value = '{cuts[name]}'; el.dispatchEvent(new Event('input')); }}""")
            moved = page.evaluate(read)
            page.locator("#whatif").screenshot(path=str(artifacts / "whatif-panel.png"))
            page.check("#whatif-shared")
            page.evaluate("""() => { const el = document.querySelector('#whatif-sliders input[data-group="0"]');
                             el.value = '0.65'; el.dispatchEvent(new Event('input')); }""")
            shared = page.evaluate(read)
            values = page.evaluate("() => Array.from(document.querySelectorAll('#whatif-sliders input')).map(e => e.value)")
        finally:
            b.close()
    assert errors == []

    def expected(thresholds: np.ndarray) -> dict[str, str]:
        pred = (p.score >= thresholds).astype(int)
        rep = fairness_report(p.y, pred, groups)
        want = {k: f"{rep.overall[k]:.4f}" for k in ("accuracy", "equalized_odds_mean", "equal_opportunity_diff",
                                                       "equalized_odds_sum", "demographic_parity_diff")}
        for k, name in enumerate(names):
            row = next(r for r in rep.groups if r["group"] == name)
            for m in ("accuracy", "tpr", "fpr", "selection_rate"):
                want[f"{m}-{k}"] = f"{row[m]:.4f}"
        return want

    base = read_predictions(runs / "base-s0" / "predictions.csv")
    assert at_half["accuracy"] == f"{np.mean((base.score >= 0.5) == base.y):.4f}"
    assert moved == expected(np.where(groups == names[0], 0.3, 0.8))
    assert values == ["0.65", "0.65"] and shared == expected(np.full(len(groups), 0.65))


def test_whatif_marks_a_postprocessing_runs_fitted_thresholds(runs: Path) -> None:
    from facefair.report.whatif import whatif_run

    cfg = {"method": "postprocess", "method_options": {"groups": ["A", "B"], "thresholds": [[0.42, 0.61], [0.3, 2.0]],
                                                       "weights": [[0.25, 0.75], [0.6, 0.4]]}}
    doc = whatif_run("pp", runs / "base-s0" / "metrics.json", cfg)
    assert doc is not None and doc["postprocess"] and doc["groups"] == ["A", "B"]
    # each group's thresholds are marked (the never-positive 2.0 is not a place on a slider) and
    # its slider starts at the threshold of largest weight
    assert doc["marks"] == {"A": [0.42, 0.61], "B": [0.3]} and doc["start"] == {"A": 0.61, "B": 0.3}
    plain = whatif_run("base", runs / "base-s0", {"method": "erm"})
    assert plain is not None and plain["marks"] == {"A": [0.5], "B": [0.5]} and len(plain["s"]) == len(plain["y"])
