"""What the machine gives the app: the CPUs it may use, and slots its processes share.

``MachineSlots`` bounds work that every process of the app does on the same CPUs (argon2 hashes):
at most ``count`` at once on the machine, whichever process runs them, so one worker can use a
core that another leaves idle, and ten workers cannot run ten hashes on two cores.
"""

from __future__ import annotations

import logging
import math
import os
import stat
import tempfile
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)


def available_cpus() -> int:
    """CPUs this process may use: the cgroup v2 quota when set, else the affinity mask."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="ascii").split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def shared_directory(name: str) -> Path:
    """A directory every process of this user on this machine (or container) finds.

    In ``/dev/shm`` when it is writable (memory, like gunicorn's heartbeat files), else in the
    temp directory. Named after the user, since only that user's processes may use it.
    """
    base = Path("/dev/shm")  # noqa: S108 - a private, owner-only directory is made inside
    if not (base.is_dir() and os.access(base, os.W_OK | os.X_OK)):
        base = Path(tempfile.gettempdir())
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return base / f"flaskyard-{uid}-{name}"


class MachineSlots:
    """``count`` slots shared by every process whose slots live in the same ``directory``.

    Slot *i* is an exclusive ``flock`` on the file ``slot-i`` there. The kernel drops a flock
    when its holder's file is closed, so a process that dies holding a slot (SIGKILL, OOM)
    cannot leak it. Each process opens the files itself (a forked child reopens them: a lock
    belongs to an open file, which a fork would share). Not thread-safe: callers serialise.

    Without a usable ``directory`` (None, no ``fcntl``, or one another user could tamper
    with), the slots are this process's alone.
    """

    def __init__(self, count: int, directory: Path | None) -> None:
        self.count = count
        self._directory = directory if fcntl is not None else None
        self._fds: list[int] = []
        self._pid = 0
        self._held: set[int] = set()

    @property
    def shared(self) -> bool:
        """Whether the slots are shared with other processes (else this process's alone)."""
        return self._directory is not None

    def try_take(self) -> int | None:
        """A free slot's number, now held by the caller; None when all are taken."""
        fds = self._files()
        for number in range(self.count):
            if number in self._held:
                continue
            if fds:
                try:
                    fcntl.flock(fds[number], fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # another process holds it
            self._held.add(number)
            return number
        return None

    def give_back(self, number: int) -> None:
        """Free slot ``number`` (taken by :meth:`try_take` in this process)."""
        if number not in self._held:
            return
        self._held.discard(number)
        if self._fds and self._pid == os.getpid():
            fcntl.flock(self._fds[number], fcntl.LOCK_UN)

    def _files(self) -> list[int]:
        if self._pid != os.getpid():
            # A forked child: what its parent held is not its own, and its copies of the
            # parent's files would share the parent's locks.
            for fd in self._fds:
                os.close(fd)
            self._fds, self._held, self._pid = [], set(), os.getpid()
            if self._directory is not None:
                try:
                    self._fds = self._open(self._directory)
                except OSError as exc:
                    log.warning(
                        "slots in %s are unusable (%s); this process keeps its own",
                        self._directory,
                        exc,
                    )
                    self._directory = None
        return self._fds

    def _open(self, directory: Path) -> list[int]:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        info = os.lstat(directory)
        if not stat.S_ISDIR(info.st_mode) or info.st_mode & 0o077 or info.st_uid != os.getuid():
            raise PermissionError("not a directory that only this user may change")
        flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | getattr(os, "O_NOFOLLOW", 0)
        fds: list[int] = []
        try:
            for number in range(self.count):
                fds.append(os.open(directory / f"slot-{number}", flags, 0o600))
        except OSError:
            for fd in fds:
                os.close(fd)
            raise
        return fds
