"""The demo a newcomer runs first, in its quick setting: every step runs, the table and the
report's path are printed, and the report holds every run, the charts and the pictures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from facefair.cli import main
from facefair.demo import STEPS


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One quick demo (what the two tests read), and what it printed."""
    import contextlib
    import io

    out = tmp_path_factory.mktemp("demo") / "demo"
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["demo", "--quick", "--no-progress", "--out", str(out)]) == 0
    return out, buf.getvalue()


def test_demo_quick_runs_the_whole_mission(demo: tuple[Path, str]) -> None:
    out, printed = demo
    report = out / "report.html"
    assert f"report: {report.resolve()}" in printed
    assert "equal_opportunity_diff" in printed  # the base model's full table
    for name, *_ in STEPS:  # every run trained, evaluated and in the printed summary
        assert (out / name / "metrics.json").is_file()
        assert any(line.startswith(name + " ") for line in printed.splitlines()), name
    assert {"base", "asac", "fineface"} <= {n for n, *_ in STEPS} and len(STEPS) >= 5
    asac_cfg = json.loads((out / "asac" / "config.json").read_text())
    assert asac_cfg["method"] == "asac" and Path(asac_cfg["init"]).name == "base"
    assert (out / "asac" / "robustness.json").is_file()
    assert (out / "asac" / "explain" / "ig.png").is_file() and (out / "fineface" / "explain" / "cam.png").is_file()
    page = report.read_text()
    assert page.count("data:image/png;base64,") >= 6 and 'id="explanations"' in page
    assert all(f"<td>{name}</td>" in page for name, *_ in STEPS)
    # it opens with the picture and the scoreboard (a row per setting), the paragraphs after
    glance = page[page.index('id="glance"'):page.index('id="whatif"')]
    assert page.index('id="glance"') < page.index('id="answer"') and glance.index("<img") < glance.index("<table")
    assert glance.count("<tr>") == 1 + len(STEPS) and "<td>base (base)</td>" in glance
    # the bias the data plants shows in the base model
    base = json.loads((out / "base" / "metrics.json").read_text())["metrics"]
    assert base["equalized_odds_mean"] > 0.1


def test_demo_resumes_finished_runs(demo: tuple[Path, str], capsys) -> None:
    """A second demo into the same folder reuses every run (same numbers, no retraining)."""
    out = demo[0]
    first = {n: (out / n / "metrics.json").read_text() for n, *_ in STEPS}
    stamps = {n: (out / n / "checkpoints" / "last.pt").stat().st_mtime_ns for n, *_ in STEPS}
    assert main(["demo", "--quick", "--no-progress", "--out", str(out)]) == 0
    capsys.readouterr()
    assert {n: (out / n / "checkpoints" / "last.pt").stat().st_mtime_ns for n, *_ in STEPS} == stamps
    for n, *_ in STEPS:
        a, b = json.loads(first[n]), json.loads((out / n / "metrics.json").read_text())
        assert a["metrics"] == b["metrics"]


def test_a_demo_cut_short_leaves_a_report_saying_how_far_it_got(tmp_path: Path, monkeypatch) -> None:
    import facefair.demo

    made = []
    real = facefair.demo._run

    def cut_after_base(name: str, *args, **kwargs) -> None:
        if made:
            raise KeyboardInterrupt  # Ctrl-C during the second step
        made.append(name)
        real(name, *args, **kwargs)

    monkeypatch.setattr(facefair.demo, "_run", cut_after_base)
    with pytest.raises(KeyboardInterrupt):
        facefair.demo.run_demo(tmp_path / "demo", quick=True, progress=False)
    page = (tmp_path / "demo" / "report.html").read_text()
    assert f"1 of {len(STEPS)} runs done" in page and "<td>base</td>" in page and "<td>asac</td>" not in page
