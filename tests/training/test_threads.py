"""CPU threads: one per usable core, fewer while other processes keep the cores busy."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from facefair import TrainConfig, train
from facefair.errors import ConfigError
from facefair.threads import ThreadGovernor, busy_seconds, thread_count


class FakeMachine:
    """A clock, the cores' busy seconds and this process's own CPU seconds, advanced by hand."""

    def __init__(self) -> None:
        self.t, self.busy, self.own = 0.0, 0.0, 0.0
        self.set: list[int] = []

    def run(self, seconds: float, ours: float, others: float) -> None:
        """``seconds`` pass with this process on ``ours`` cores and others on ``others``."""
        self.t += seconds
        self.own += ours * seconds
        self.busy += (ours + others) * seconds

    def governor(self, requested: int | None = None) -> ThreadGovernor:
        return ThreadGovernor(requested, interval=2.0, set_threads=self.set.append,
                              busy=lambda: self.busy, own=lambda: self.own, clock=lambda: self.t)


@pytest.fixture
def four_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("facefair.threads.usable_cores", lambda: 4)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)


def test_thread_count(four_cores: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert thread_count(None) == (4, "one per usable core of 4")
    assert thread_count(3) == (3, "asked for")
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "3")  # torchrun: 3 processes share the machine
    assert thread_count(None)[0] == 1
    with pytest.raises(ConfigError, match="--threads"):
        thread_count(0)


def test_governor_uses_the_cores_others_leave_free(four_cores: None) -> None:
    m = FakeMachine()
    g = m.governor()
    assert m.set == [4] and g.threads == 4 and not g.fixed
    m.run(1.0, ours=3, others=1)  # another process takes a core
    assert g.poll() is None and m.set == [4]  # before the interval: not even read
    m.run(1.5, ours=3, others=1)
    msg = g.poll()
    assert msg is not None and "4 -> 3" in msg and m.set == [4, 3]
    m.run(2.0, ours=3, others=0.6)  # under 3/4 of a core busy elsewhere is noise: every core
    assert "3 -> 4" in g.poll()  # type: ignore[operator]
    m.run(2.0, ours=1.5, others=2.5)  # 2.5 busy elsewhere: 1.5 free, 2 threads
    assert "4 -> 2" in g.poll() and g.threads == 2  # type: ignore[operator]
    m.run(2.0, ours=0.2, others=3.8)  # never below one thread
    g.poll()
    assert g.threads == 1
    m.run(2.0, ours=1, others=0)  # the others are gone: back to every core
    assert "1 -> 4" in g.poll() and m.set[-1] == 4  # type: ignore[operator]


def test_asked_count_is_fixed(four_cores: None) -> None:
    m = FakeMachine()
    g = m.governor(requested=3)
    m.run(5.0, ours=3, others=4)
    assert g.fixed and g.poll() is None and m.set == [3]
    assert g.describe().startswith("3 CPU threads (asked for)")


def test_busy_seconds_reads_proc_stat() -> None:
    first = busy_seconds()
    if first is None:
        pytest.skip("no /proc/stat on this system")
    x = 0
    for i in range(2_000_000):  # a little busy work of this process
        x += i
    assert busy_seconds() >= first  # type: ignore[operator]


def test_start_line_states_the_threads(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="facefair")
    cfg = TrainConfig(dataset="synthetic", target="smile", protected="group", arch="tiny", size=24,
                      epochs=1, max_train=64, max_val=32, progress=False, threads=1)
    train(cfg, tmp_path / "run")
    line = next(x for x in caplog.messages if x.startswith("training "))
    assert "1 CPU thread (asked for), OpenMP wait" in line
    assert torch.get_num_threads() == 1
    torch.set_num_threads(thread_count(None)[0])  # leave the test process as it was
