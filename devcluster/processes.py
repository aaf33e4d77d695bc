"""Child processes of the harness: started with a log file, stopped for sure.

Every server the harness starts is a :class:`ManagedProcess`. On Linux each
child also gets ``PR_SET_PDEATHSIG = SIGKILL``, so it dies with the harness
even when the harness itself is killed with SIGKILL.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except OSError:
        pass


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_listening(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on ``host:port``."""
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


class StartupError(RuntimeError):
    """A server did not become ready; the message ends with its log tail."""


class ManagedProcess:
    """One long-running child process with its output in ``log_path``.

    ``argv`` is run in a new session (its own process group) so :meth:`stop`
    can signal the whole tree. ``stop`` sends SIGTERM, waits ``grace`` seconds,
    then SIGKILLs the group.
    """

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        die_with_parent: bool = True,
    ):
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(log_path, "ab")
        self.popen = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=_die_with_parent if die_with_parent else None,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the process's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_until(self, ready: Callable[[], bool], timeout: float, what: str) -> None:
        """Poll ``ready()`` every 0.2 s until it is true.

        Raises :class:`StartupError` (with the log tail) if the process exits
        first or ``timeout`` seconds pass. Exceptions from ``ready`` count as
        "not yet".
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise StartupError(
                    f"{self.name} exited with code {self.popen.returncode} before {what}; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if ready():
                    return
            except Exception:  # noqa: BLE001 - any failure means "not ready yet"
                pass
            time.sleep(0.2)
        raise StartupError(
            f"{self.name} not {what} after {timeout:.0f} s; log {self.log_path}:\n{self.log_tail()}"
        )

    def stop(self, grace: float = 10.0) -> None:
        """Terminate the process group; SIGKILL after ``grace`` seconds."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.popen.wait(grace)
            except subprocess.TimeoutExpired:
                pass
        try:  # stragglers in the group (children that outlived the leader)
            os.killpg(self.popen.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.popen.wait(5)
        except subprocess.TimeoutExpired:
            pass
        self._log.close()


def stop_requested() -> threading.Event:
    """An event set when the process gets SIGTERM or SIGINT (``make down``, Ctrl-C): a foreground
    server loops ``while not stop.is_set()`` and then stops what it started. Main thread only."""
    stop = threading.Event()

    def on_signal(*_: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return stop

