"""Argon2id password hashing with rehash-on-login when the parameters change."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from functools import wraps
from pathlib import Path
from typing import ParamSpec, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

from flaskyard.core.machine import MachineSlots

EXTENSION_KEY = "flaskyard.password_hasher"
GATE_KEY = "flaskyard.password_gate"
T = TypeVar("T")
P = ParamSpec("P")

#: OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
OWASP_PARAMETERS = {"memory_cost": 19 * 1024, "time_cost": 2, "parallelism": 1}
#: Cheap parameters for the test suite only; never used outside APP_ENV=testing.
TESTING_PARAMETERS = {"memory_cost": 1024, "time_cost": 1, "parallelism": 1}
#: How much nicer than the request threads the hashing threads run (Linux niceness is per
#: thread). At 5 a request thread weighs three times a hash thread, so a burst of sign-ins
#: leaves the CPU to other requests first, yet sign-ins still progress under any load.
HASH_NICENESS = 5
#: How often a caller waiting for a slot looks whether another process freed one.
SLOT_POLL_SECONDS = 0.002


def make_hasher(*, memory_cost: int, time_cost: int, parallelism: int) -> PasswordHasher:
    """An argon2id hasher with the given cost parameters."""
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )


#: The 503 of every endpoint that checks or sets a password, for the OpenAPI document.
BUSY_ANSWER = (
    "Too many passwords are being checked right now, or a backing service (the database or "
    "Redis) is unavailable; see Retry-After."
)


class HashingBusyError(Exception):
    """Every hashing slot is taken and this process has no room to wait; try again shortly."""

    retry_after = 1


class HashGate:
    """At most ``slots`` argon2 computations at once on the machine, and few callers per process.

    One argon2id verify is ~40 ms of CPU and 19 MiB. Without a bound, a burst of sign-ins
    takes every server thread and every core, and every other request waits behind them.

    - **Slots are the machine's** (:class:`~flaskyard.core.machine.MachineSlots`), shared by
      every worker process: by default one per CPU, whatever the number of workers. A worker
      may use a slot another leaves idle, and ten workers cannot run ten hashes on two cores.
    - **Places are the process's.** A process admits at most ``1 + queue`` sign-ins at once
      (:meth:`admitted`), so most of its threads stay free for other requests. Each hashes as
      soon as a slot is free anywhere on the machine.
    - **Waiting is bounded twice:** at most ``queue`` callers of this process wait for a slot
      (one more is refused at once), each for at most ``wait`` seconds. Refusals become 503
      with Retry-After.

    The hashes themselves run on threads of this process that are ``niceness`` steps nicer
    than the rest, so a burst of sign-ins yields the CPU to every other request instead of
    sharing it equally with them; on an otherwise idle box it changes nothing.
    """

    def __init__(
        self,
        *,
        slots: int,
        queue: int,
        wait: float,
        niceness: int = HASH_NICENESS,
        slot_dir: Path | None = None,
    ) -> None:
        self._slots = MachineSlots(slots, slot_dir)
        self._workers = slots
        self._niceness = niceness
        self._pool: ThreadPoolExecutor | None = None
        self._pool_pid = 0
        self._lock = threading.Lock()
        self._freed = threading.Condition(self._lock)
        self._waiting = 0
        self._queue = queue
        self._wait = wait
        self._places = 1 + queue
        self._admitted = 0

    @contextmanager
    def admitted(self) -> Iterator[None]:
        """Hold one of this process's ``1 + queue`` places for a whole sign-in, or refuse it.

        Taken before a sign-in does anything else (rate-limit counters in Redis, the account
        lookup), so a refused one costs next to nothing and a burst of them cannot eat the
        CPU and threads that the hashes and every other request need.
        """
        with self._lock:
            if self._admitted >= self._places:
                raise HashingBusyError
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    def run(self, work: Callable[[], T]) -> T:
        """``work()`` in a slot; HashingBusyError when none frees up in time."""
        slot = self._take_slot()
        try:
            return self._executor().submit(work).result()
        finally:
            with self._lock:
                self._slots.give_back(slot)
                self._freed.notify()

    def _take_slot(self) -> int:
        with self._lock:
            slot = self._slots.try_take()
            if slot is not None:
                return slot
            if self._waiting >= self._queue:
                raise HashingBusyError
            self._waiting += 1
            try:
                deadline = time.monotonic() + self._wait
                while (remaining := deadline - time.monotonic()) > 0:
                    # This process's own hashes wake a waiter at once; another process's
                    # freed slot is seen within SLOT_POLL_SECONDS.
                    poll = SLOT_POLL_SECONDS if self._slots.shared else remaining
                    self._freed.wait(min(remaining, poll))
                    slot = self._slots.try_take()
                    if slot is not None:
                        return slot
                raise HashingBusyError
            finally:
                self._waiting -= 1

    def _executor(self) -> ThreadPoolExecutor:
        # One pool per process: a pool (and its threads) made before a fork is useless after it.
        with self._lock:
            if self._pool is None or self._pool_pid != os.getpid():
                self._pool = ThreadPoolExecutor(
                    max_workers=self._workers,
                    thread_name_prefix="argon2",
                    initializer=_be_nicer,
                    initargs=(self._niceness,),
                )
                self._pool_pid = os.getpid()
            return self._pool


def _be_nicer(steps: int) -> None:
    """Lower the calling thread's scheduling priority by ``steps`` (where the OS allows it)."""
    if steps <= 0 or not hasattr(os, "setpriority"):
        return
    tid = threading.get_native_id()
    with suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + steps))


def sign_in_gate(view: Callable[P, T]) -> Callable[P, T]:
    """Admit the decorated sign-in view only while its process has a hashing place free."""

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with _gate().admitted():
            return view(*args, **kwargs)

    return wrapper


def _gate() -> HashGate:
    gate: HashGate = current_app.extensions[GATE_KEY]
    return gate


def _hasher() -> PasswordHasher:
    hasher: PasswordHasher = current_app.extensions[EXTENSION_KEY]
    return hasher


def hash_password(password: str) -> str:
    """Hash ``password`` exactly as given (no trimming, no truncation)."""
    hasher = _hasher()
    return _gate().run(lambda: hasher.hash(password))


def verify_password(password_hash: str, password: str) -> tuple[bool, str | None]:
    """Check ``password``; on success also return a new hash when the parameters changed."""
    hasher = _hasher()

    def verify() -> tuple[bool, str | None]:
        try:
            hasher.verify(password_hash, password)
        except (VerificationError, InvalidHashError):
            return False, None
        if hasher.check_needs_rehash(password_hash):
            return True, hasher.hash(password)
        return True, None

    return _gate().run(verify)
