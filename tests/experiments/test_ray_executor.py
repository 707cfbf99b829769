"""The Ray executor on a real local Ray cluster: a head and a second node, each a raylet of
its own with one CPU, on 127.0.0.1, started here and stopped at the end. A grid with a
fine-tune chain, a chosen row and a cross evaluation gives the sequential runner's results;
a training process killed with SIGKILL mid-epoch is retried and resumes to the same results;
a run that fails on its own is reported while the others finish."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers import write_manifest
from tiny_files import RAY_GRID

from facefair.cli import main
from facefair.errors import ConfigError
from facefair.experiments import experiment_status, load_experiment, run_experiment
from facefair.experiments.ray_executor import RaySettings
from facefair.experiments.table import TableFolder

ray = pytest.importorskip("ray", reason="the Ray executor's tests need the extra: pip install 'facefair[ray]'")
from ray.cluster_utils import Cluster

pytestmark = pytest.mark.slow
#: fp32 and one thread a run in both executors: the same numbers bit for bit
SETS = {"precision": "fp32", "threads": 1, "checkpoint_every": 4}


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[Cluster]:
    """A two-node Ray cluster on the loopback address (conftest keeps Ray there): a head and a
    second node, each its own raylet process with one CPU."""
    assert os.environ.get("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER") == "0"
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    try:
        c.add_node(num_cpus=1)
        c.wait_for_nodes()
        assert c.address.startswith("127.0.0.1:")
        yield c
    finally:
        if ray.is_initialized():
            ray.shutdown()
        c.shutdown()


@pytest.fixture
def cluster(ray_cluster: Cluster) -> str:
    return ray_cluster.address


def _driver(path: Path, data: Path, out: Path, *extra: str) -> list[str]:
    """The command a user runs, with the tests' fixed precision and threads."""
    cmd = [sys.executable, "-m", "facefair", "experiment", "run", str(path), "--out", str(out), "--data", str(data),
           "--executor", "ray", "--no-progress", *extra]
    return cmd + [a for k, v in SETS.items() for a in ("--set", f"{k}={json.dumps(v)}")]


def _mid_epoch(folder: Path) -> bool:
    """A run caught inside its first epoch, after a checkpoint within it."""
    return (folder / "checkpoints" / "last.pt").is_file() and not (folder / "best.json").is_file()


@pytest.fixture(scope="module")
def grid(tmp_path_factory) -> tuple[Path, Path]:
    """The experiment file and its data folder (a manifest of synthetic faces)."""
    root = tmp_path_factory.mktemp("raygrid")
    write_manifest(root / "data" / "mine")
    path = root / "grid.toml"
    path.write_text(RAY_GRID)
    return path, root / "data"


@pytest.fixture(scope="module")
def sequential(grid, tmp_path_factory) -> dict:
    """The sequential runner's archive of the grid (the reference), and its results.md."""
    path, data = grid
    out = tmp_path_factory.mktemp("seq") / "out"
    results = run_experiment(load_experiment(path), out, data=data, sets=SETS, progress=False)
    return {**_archive(out), "results.md": results.read_text()}


def _archive(out: Path) -> dict:
    """results.json with the output root replaced by OUT (the documents name their run folder)
    and each run's training record left out: its seconds differ between any two trainings."""
    text = (out / "tiny" / "cpu" / "results.json").read_text()
    doc = json.loads(text.replace(str(out.absolute()), "OUT"))
    for r in doc["runs"]:
        trained = r.pop("trained", None)
        assert r["method"] in ("choose", "postprocess") or trained["train_seconds"] > 0
    return doc


def test_the_grid_on_two_nodes_equals_the_sequential_run(grid, sequential, cluster, tmp_path: Path, caplog) -> None:
    path, data = grid
    out = tmp_path / "out"
    with caplog.at_level("INFO", logger="facefair"):
        results = run_experiment(load_experiment(path), out, data=data, sets=SETS, progress=False,
                                 executor="ray", ray=RaySettings(cluster))
    assert {**_archive(out), "results.md": results.read_text()} == sequential
    ended = [r.getMessage() for r in caplog.records if r.getMessage().startswith("[")]
    assert len(ended) == 8 + 8 + 2  # runs, their cross evaluations, the chosen rows
    nodes = {line.split("(node ")[1][:8] for line in ended if "(node " in line}
    assert len(nodes) == 2, ended  # the tasks ran on both nodes
    # a fine-tune waited for its base, a chosen row for its candidates, a cross evaluation for its run
    order = [line.split("] ")[1].split(":")[0] for line in ended]
    assert order.index("asac-s0") > order.index("base-s0")
    assert order.index("reg-s1") > max(order.index("w0-s1"), order.index("w1-s1"))
    assert order.index("w0-s0 (metrics-on-mine.json)") > order.index("w0-s0")
    table = TableFolder(out / "tiny" / "cpu")
    assert not table.marker.exists() and not list((table.hidden / table.STATES).glob("*.json"))
    status = experiment_status(load_experiment(path), out, data=data, sets=SETS)
    assert status[-1] == "18 done of 18 step(s)"
    assert status[-2].startswith("driver (ray): ended, on ")


def test_a_run_killed_mid_epoch_is_retried_and_resumes_to_the_same_table(grid, sequential, cluster,
                                                                         tmp_path: Path) -> None:
    path, data = grid
    out = tmp_path / "out"
    table = TableFolder(out / "tiny" / "cpu")
    driver = subprocess.Popen(_driver(path, data, out, "--address", cluster), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        killed, seen_running = None, []
        deadline = time.monotonic() + 240
        while killed is None and time.monotonic() < deadline and driver.poll() is None:
            record = table.read("base-s0") or {}
            if record.get("state") == "running" and _mid_epoch(table.path / "base-s0"):
                seen_running = experiment_status(load_experiment(path), out, data=data, sets=SETS)
                os.kill(record["pid"], signal.SIGKILL)  # the process training base-s0, mid-epoch 1
                killed = record["pid"]
            time.sleep(0.02)
        printed, _ = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert killed is not None, f"base-s0 was never caught mid-epoch:\n{printed}"
    assert driver.returncode == 0, printed
    assert "base-s0: resumed on " in printed, printed  # Ray retried the task; it resumed from last.pt
    assert {**_archive(out), "results.md": (table.path / "results.md").read_text()} == sequential
    line = next(x for x in seen_running if x.startswith("  base-s0:"))
    assert line.startswith(f"  base-s0: running (on {os.uname().nodename} (pid {killed}, node ")
    # what `experiment status` said during the table, and what the driver said (its own lines)
    print("\n".join(seen_running), f"\nkill -9 {killed}", *(x for x in printed.splitlines() if "pid=" not in x),
          sep="\n")


def test_a_failing_run_is_reported_while_the_others_finish(grid, cluster, tmp_path: Path, capsys) -> None:
    path, data = grid
    bad = tmp_path / "bad.toml"
    bad.write_text(path.read_text().replace('options = { weight = 0.1 }', 'options = { weight = 0.1 }\ntrain = { lr = 1e30 }')
                   + '\n[[run]]\nid = "after"\nlabel = "After w0"\nfrom = "w0"\nmethod = "erm"\ncpu = { epochs = 1 }\n')
    out = tmp_path / "out"
    code = main(["experiment", "run", str(bad), "--out", str(out), "--data", str(data), "--seeds", "0",
                 "--executor", "ray", "--address", cluster, "--no-progress", "--set", "precision='fp32'"])
    err = capsys.readouterr().err
    assert code != 0
    assert "w0-s0: FloatingPointError: loss is " in err
    assert "after-s0: not run, it needs w0-s0, which failed" in err
    assert "reg-s0: not run, it needs w0-s0, which failed" in err
    folder = out / "tiny" / "cpu"
    for done in ("base-s0", "asac-s0", "w1-s0"):
        assert (folder / done / "metrics.json").is_file()
    assert "| ASAC |" in (folder / "results.md").read_text()
    status = "\n".join(experiment_status(load_experiment(bad), out, data=data, seeds=[0],
                                         sets={"precision": "fp32"}))
    assert "  w0-s0: failed (FloatingPointError: loss is " in status and "  after-s0: to run" in status


def test_a_second_driver_on_the_same_table_is_refused(grid, tmp_path: Path) -> None:
    path, data = grid
    out = tmp_path / "out"
    held = TableFolder(out / "tiny" / "cpu").claim_driver("ray")
    with held, pytest.raises(ConfigError, match=r"another facefair experiment driver is running this table \(host "):
        run_experiment(load_experiment(path), out, data=data, seeds=[0], progress=False)
    assert not (out / "tiny" / "cpu" / "base-s0").exists()


def test_a_worker_that_cannot_see_the_table_names_its_node_and_the_path(tmp_path: Path) -> None:
    from facefair.experiments.ray_executor import SharedStorageError, check_shared

    table = TableFolder(tmp_path / "t" / "x" / "cpu")
    with pytest.raises(SharedStorageError, match=rf"node {os.uname().nodename} \(.*\) cannot see {table.path}: "
                                                 "--out must be a folder every worker sees"):
        check_shared(table.marker, "token")
    table.hidden.mkdir(parents=True)
    table.marker.write_text("another driver's token")
    with pytest.raises(SharedStorageError):
        check_shared(table.marker, "token")
    table.marker.write_text("token")
    check_shared(table.marker, "token")


def test_ctrl_c_cancels_the_tasks_and_every_run_resumes(grid, sequential, tmp_path: Path) -> None:
    """Without --address the driver starts Ray on this machine (127.0.0.1 only) and stops it."""
    path, data = grid
    out = tmp_path / "out"
    cmd = _driver(path, data, out)
    table = TableFolder(out / "tiny" / "cpu")
    # the command as a terminal starts it, Ctrl-C raising KeyboardInterrupt: a shell's background
    # job (as CI may run the tests) ignores SIGINT, and a child would inherit that
    start = ("import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
             "sys.argv[0] = 'facefair'; from facefair.cli import entry; entry()")
    interruptible = [sys.executable, "-c", start, *cmd[3:]]
    driver = subprocess.Popen(interruptible, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and driver.poll() is None:
            if (out / "tiny" / "cpu" / "base-s0" / "checkpoints" / "last.pt").is_file():
                break
            time.sleep(0.02)
        workers = [(table.read(k) or {}).get("pid") for k in ("base-s0", "w1-s0", "w0-s0", "base-s1")]
        driver.send_signal(signal.SIGINT)
        printed, _ = driver.communicate(timeout=120)
    finally:
        if driver.poll() is None:
            driver.kill()
    assert driver.returncode == 130, printed
    assert "cancelled the table's 18 Ray task(s); every run resumes" in printed, printed
    for pid in filter(None, workers):  # the tasks' processes are gone with the Ray the driver started
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert not table.marker.exists()
    again = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "base-s0: resumed on " in again.stdout + again.stderr
    assert {**_archive(out), "results.md": (table.path / "results.md").read_text()} == sequential


def test_a_node_that_dies_mid_run_has_its_run_retried_elsewhere(grid, sequential, ray_cluster: Cluster,
                                                                tmp_path: Path) -> None:
    path, data = grid
    out = tmp_path / "out"
    table = TableFolder(out / "tiny" / "cpu")
    doomed = ray_cluster.add_node(num_cpus=1)  # a third node, to be removed mid-run
    ray_cluster.wait_for_nodes()
    driver = subprocess.Popen(_driver(path, data, out, "--address", ray_cluster.address), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        victim = None
        deadline = time.monotonic() + 240
        while victim is None and time.monotonic() < deadline and driver.poll() is None:
            for record_file in (table.hidden / table.STATES).glob("*-s?.json"):
                record = table.read(record_file.stem) or {}
                if (record.get("state") == "running" and record.get("node") == doomed.node_id
                        and _mid_epoch(table.path / record_file.stem)):
                    ray_cluster.remove_node(doomed, allow_graceful=False)  # the node and its processes die
                    victim = record_file.stem
                    break
            time.sleep(0.02)
        printed, _ = driver.communicate(timeout=600)
    finally:
        if driver.poll() is None:
            driver.kill()
        if victim is None:
            ray_cluster.remove_node(doomed)
    assert victim is not None, f"no run was caught mid-epoch on the third node:\n{printed}"
    assert driver.returncode == 0, printed
    assert f"{victim}: resumed on " in printed, printed
    assert {**_archive(out), "results.md": (table.path / "results.md").read_text()} == sequential
