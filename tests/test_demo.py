"""The demo a newcomer runs first, in its quick setting: it ends with a report showing the bias."""

from __future__ import annotations

from pathlib import Path

from facefair.cli import main


def test_demo_quick_writes_report(tmp_path: Path, capsys) -> None:
    assert main(["demo", "--quick", "--no-progress", "--out", str(tmp_path / "demo")]) == 0
    out = capsys.readouterr().out
    assert "equal_opportunity_diff" in out and "report:" in out
    report = (tmp_path / "demo" / "report.md").read_text()
    assert "| equal_opportunity_diff |" in report and "## base (ERM): per group" in report
    assert (tmp_path / "demo" / "base" / "predictions.csv").is_file()
