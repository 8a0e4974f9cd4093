"""Slots shared by every process of the app on one machine, held as flocks on files."""

from __future__ import annotations

import logging
import multiprocessing
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flaskyard.core.machine import MachineSlots, available_cpus, shared_directory

#: Holds slot files' flocks in another process until its stdin closes or it is killed.
HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys
    fds = [os.open(path, os.O_RDWR | os.O_CREAT, 0o600) for path in sys.argv[1:]]
    for fd in fds:
        fcntl.flock(fd, fcntl.LOCK_EX)
    print("held", flush=True)
    sys.stdin.read()
    """
)


def hold_in_another_process(*paths: Path) -> subprocess.Popen[str]:
    """A process that holds the flocks on ``paths`` (started, and holding, when this returns)."""
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, *map(str, paths)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None
    assert holder.stdout.readline().strip() == "held"
    return holder


def kill(holder: subprocess.Popen[str]) -> None:
    """SIGKILL the holder (it cannot release anything itself) and reap it."""
    holder.kill()
    holder.communicate(timeout=10)


def test_processes_share_the_slots(tmp_path: Path) -> None:
    mine = MachineSlots(2, tmp_path / "slots")
    assert mine.try_take() == 0  # creates the files
    holder = hold_in_another_process(tmp_path / "slots" / "slot-1")
    try:
        assert mine.try_take() is None  # slot 0 is mine, slot 1 the other process's
        mine.give_back(0)
        assert mine.try_take() == 0
    finally:
        kill(holder)
    assert mine.try_take() == 1  # a killed holder's slot is free again


def test_two_users_of_the_slots_in_one_process_do_not_share_a_slot(tmp_path: Path) -> None:
    first, second = MachineSlots(1, tmp_path), MachineSlots(1, tmp_path)
    assert first.try_take() == 0
    assert second.try_take() is None
    first.give_back(0)
    assert second.try_take() == 0
    assert first.try_take() is None


def _take_in_child(slots: MachineSlots, answer: multiprocessing.SimpleQueue[object]) -> None:
    answer.put(slots.try_take())


def test_a_forked_child_does_not_inherit_its_parents_slot(tmp_path: Path) -> None:
    slots = MachineSlots(1, tmp_path)
    assert slots.try_take() == 0
    fork = multiprocessing.get_context("fork")
    answer: multiprocessing.SimpleQueue[object] = fork.SimpleQueue()
    child = fork.Process(target=_take_in_child, args=(slots, answer))
    child.start()
    child.join(10)
    assert answer.get() is None  # the parent's slot is the parent's
    slots.give_back(0)
    child = fork.Process(target=_take_in_child, args=(slots, answer))
    child.start()
    child.join(10)
    assert answer.get() == 0


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX permissions")
def test_a_directory_others_may_change_is_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "open"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    slots = MachineSlots(1, shared)
    with caplog.at_level(logging.WARNING, logger="flaskyard.core.machine"):
        assert slots.try_take() == 0
    assert not slots.shared  # this process's own slots
    assert "unusable" in caplog.text
    assert not list(shared.iterdir())  # no slot file made there
    assert slots.try_take() is None
    slots.give_back(0)
    assert slots.try_take() == 0


def test_without_a_directory_the_slots_are_the_process_own() -> None:
    slots = MachineSlots(2, None)
    assert not slots.shared
    assert [slots.try_take(), slots.try_take(), slots.try_take()] == [0, 1, None]
    slots.give_back(1)
    assert slots.try_take() == 1


def test_the_shared_directory_is_per_user() -> None:
    directory = shared_directory("argon2-slots")
    assert directory.name == f"flaskyard-{os.getuid()}-argon2-slots"
    assert available_cpus() >= 1
