"""The embedded S3 server: moto in a child process, for the life of one command."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
import time
from types import TracebackType

from bench.errors import EndpointError

# Dummy credentials the embedded server accepts; they never leave this machine.
EMBEDDED_ACCESS_KEY = "stagebench"
EMBEDDED_SECRET_KEY = "stagebench-local-only"


class EmbeddedServer:
    """Start moto's S3 server on 127.0.0.1 in a child process; stop it on exit, error or Ctrl-C.

    Use as a context manager; ``url`` is the endpoint once started.
    """

    def __init__(self, *, port: int = 0, startup_timeout_s: float = 60.0) -> None:
        self.port = port
        self.startup_timeout_s = startup_timeout_s
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> str:
        env = dict(os.environ)
        env.setdefault("MOTO_ALLOW_NONEXISTENT_REGION", "true")
        # A session of its own: Ctrl-C in the terminal reaches us, and we stop the child cleanly.
        # Its stdin is a pipe only we hold: when we die, however we die, it reads EOF and exits.
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "bench.s3._server_child",
                "--port",
                str(self.port),
                "--parent-pid",
                str(os.getpid()),
                # The kernel's parent-death signal follows the thread that started the child:
                # only the main thread lives as long as this process.
                *(["--pdeathsig"] if threading.current_thread() is threading.main_thread() else []),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.PIPE,
            text=True,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + self.startup_timeout_s
        assert self._process.stdout is not None
        line = ""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self._process.stdout], [], [], 0.2)
            if ready:
                line = self._process.stdout.readline().strip()
                break
            if self._process.poll() is not None:
                break
        if line.startswith("READY "):
            self.port = int(line.split()[1])
            self.url = f"http://127.0.0.1:{self.port}"
            return self.url
        self.stop()
        if line.startswith("ERROR"):
            raise EndpointError(
                f"embedded S3 server cannot listen on 127.0.0.1:{self.port}: {line[6:]}; "
                "choose another --port (0 picks a free one)"
            )
        raise EndpointError(
            "embedded S3 server did not start within "
            f"{self.startup_timeout_s:.0f} s; check that moto[server] is installed "
            "(pip install -e .)"
        )

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=2)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for stream in (process.stdin, process.stdout):
            if stream:
                stream.close()

    def wait(self) -> int:
        """Block until the child exits (``stagebench serve``)."""
        assert self._process is not None
        return self._process.wait()

    def __enter__(self) -> EmbeddedServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
