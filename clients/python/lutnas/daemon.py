"""Starting a lutnasd from Python: for notebooks, scripts and tests.

    with lutnas.daemon.Daemon("var/lutnas.db") as d:
        with lutnas.Client(d.target) as c:
            ...

Daemon runs the lutnasd binary (found as lutnas.tools.find_tool does) on
127.0.0.1 with a port the kernel picks (--listen 127.0.0.1:0 --port_file), so
several can run side by side; stop() sends SIGTERM and waits for the orderly
shutdown (jobs keep their last checkpoint and resume at the next start).
"""

from __future__ import annotations

import atexit
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import List, Optional, Sequence, Type, Union

from .tools import ROOT, ToolError, find_tool

__all__ = ["Daemon"]


class Daemon:
    """One lutnasd process serving the SQLite database `db`.

    db: the database file (created if missing). args: extra lutnasd flags
    (e.g. ["--workers", "2"]). log: where its output goes (default: a file
    next to the database). start_timeout: seconds to wait for it to listen.
    The working directory is the checkout (for search/spaces/*.json) when
    lutnas runs from one.
    """

    def __init__(self, db: Union[str, "os.PathLike[str]"], args: Sequence[str] = (),
                 log: Union[None, str, "os.PathLike[str]"] = None,
                 start_timeout: float = 30.0) -> None:
        self.db = Path(db)
        self.args: List[str] = list(args)
        self.log_path = Path(log) if log is not None else self.db.with_suffix(".log")
        self.start_timeout = start_timeout
        self.port: Optional[int] = None
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._atexit = False
        self._tmp: Optional[tempfile.TemporaryDirectory[str]] = None

    @property
    def target(self) -> str:
        """"127.0.0.1:PORT", for lutnas.Client (RuntimeError before start())."""
        if self.port is None:
            raise RuntimeError("the daemon is not running (call start())")
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> Optional[int]:
        """The lutnasd process id while it runs (e.g. to read its RSS)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def start(self) -> "Daemon":
        """Starts lutnasd and waits until it listens; ToolError with the end of
        its log when it exits or stays silent."""
        if self._proc is not None and self._proc.poll() is None:
            return self
        binary = find_tool("lutnasd")
        self.db.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = tempfile.TemporaryDirectory(prefix="lutnasd-")
        port_file = Path(self._tmp.name) / "port"
        # One OpenBLAS thread: its pool starts before main(), where lutnasd
        # cannot block SIGTERM (lutnasd runs one torch thread anyway).
        env = dict(os.environ, OPENBLAS_NUM_THREADS=os.environ.get("OPENBLAS_NUM_THREADS", "1"))
        with open(self.log_path, "ab") as log:
            self._proc = subprocess.Popen(
                [binary, "--listen", "127.0.0.1:0", "--port_file", str(port_file),
                 "--db", str(self.db), *self.args],
                cwd=ROOT if (ROOT / "search" / "spaces").is_dir() else None,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        # A script that dies before stop() must not leave lutnasd running.
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise ToolError(f"lutnasd exited with {self._proc.returncode}: {self._log_tail()}")
            try:
                self.port = int(port_file.read_text().strip().rsplit(":", 1)[-1])
                return self
            except (OSError, ValueError):
                time.sleep(0.05)
        self.stop()
        raise ToolError(f"lutnasd did not listen within {self.start_timeout} s: {self._log_tail()}")

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, then waits (SIGKILL after timeout s); returns the exit code."""
        proc, self._proc = self._proc, None
        return self._end(proc, signal.SIGTERM, timeout)

    def _end(self, proc: Optional[subprocess.Popen[bytes]], sig: int,
             timeout: Optional[float]) -> int:
        """Sends sig to proc if it runs, waits (SIGKILL after timeout s), and
        frees the temporary directory; proc's exit code (0 with none)."""
        self.port = None
        code = 0
        if proc is not None:
            if proc.poll() is None:
                proc.send_signal(sig)
                try:
                    proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            code = proc.returncode
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None
        return code

    def _log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        return " | ".join(text[-lines:]) or "(empty log)"

    @property
    def proc(self) -> Optional[subprocess.Popen[bytes]]:
        """The lutnasd process (None before start() and after stop(); after kill()
        the killed one), for code that reads its /proc status or signals it."""
        return self._proc

    def kill(self) -> int:
        """SIGKILL: no orderly shutdown at all (crash tests); returns the exit code
        (-9), which .proc keeps. start() starts it again on the same database."""
        return self._end(self._proc, signal.SIGKILL, None)

    def log_tail(self, lines: int = 40) -> str:
        """The last `lines` lines of its log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "Daemon":
        return self.start()

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> None:
        self.stop()
