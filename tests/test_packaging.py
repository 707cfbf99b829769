"""The package works where pip puts it: a wheel built from this checkout holds every module
and every file the package reads at run time (the experiment files), and the version is one."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import facefair
from facefair.cli import main
from facefair.experiments import find_experiments
from facefair.experiments.spec import experiment_dir

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT / "src" / "facefair"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from a copy of the checkout (no build folder left in it), offline."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", ".git", "runs", "build", "dist", "*.egg-info",
                                                             "__pycache__", "demo-output", "test-artifacts"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp / "dist"), str(src)], check=True)
    (built,) = (tmp / "dist").glob("facefair-*.whl")
    return zipfile.ZipFile(built)


def test_the_wheel_holds_every_file_of_the_package(wheel: zipfile.ZipFile) -> None:
    names = set(wheel.namelist())
    files = [p for p in SOURCE.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    data = [p for p in files if p.suffix != ".py"]
    assert data, "the package reads its experiment files at run time"
    missing = [p.relative_to(SOURCE.parent).as_posix() for p in files
               if p.relative_to(SOURCE.parent).as_posix() not in names]
    assert not missing, f"not in the wheel: {missing}"
    # every experiment the command lists, as the installed package would find it
    packaged = {n.rsplit("/", 1)[1] for n in names if n.startswith("facefair/experiments/papers/")}
    assert packaged == {p.name for p in find_experiments().values()} and len(packaged) >= 10
    meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
    assert f"Version: {facefair.__version__}" in wheel.read(meta).decode()


def test_experiments_are_found_inside_the_package_by_name(tmp_path: Path, monkeypatch, capsys) -> None:
    assert experiment_dir() == SOURCE / "experiments" / "papers"
    monkeypatch.chdir(tmp_path)  # nothing read from the working folder
    assert facefair.load_experiment("asac_table1").name == "asac_table1"
    assert main(["experiment", "list"]) == 0
    assert capsys.readouterr().out.count(".toml") == len(find_experiments())
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0 and capsys.readouterr().out.strip() == f"facefair {facefair.__version__}"
