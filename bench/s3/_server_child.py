"""Entry point of the embedded S3 server's child process.

Runs moto's S3 backend under werkzeug on 127.0.0.1, prints "READY <port>" once it listens, and
serves until terminated. It runs in its own process so its CPU never competes with the
benchmark's readers for the GIL.

It lives in a session of its own, so no terminal signal reaches it: it must notice its parent's
death itself, however the parent died (SIGKILL included). Two watches, either suffices: on
Linux the kernel sends it SIGTERM when the parent dies (PR_SET_PDEATHSIG), and everywhere its
stdin is a pipe from the parent whose EOF means the parent is gone.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

PR_SET_PDEATHSIG = 1


def _die_with_parent(parent_pid: int | None, *, pdeathsig: bool) -> None:
    """Ask the kernel for SIGTERM when the parent dies (Linux), and watch stdin for EOF."""
    if pdeathsig and sys.platform.startswith("linux"):
        import ctypes

        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        except (OSError, AttributeError):
            pass  # the stdin watch below still covers it
    # The parent may have died before prctl took effect: then we already belong to another.
    if parent_pid is not None and os.getppid() != parent_pid:
        os._exit(0)

    def watch_stdin() -> None:
        try:
            while sys.stdin.buffer.read(4096):
                pass
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), signal.SIGTERM)

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, name="parent-watch", daemon=True).start()


def _stop(signum: int, frame: object) -> None:
    # Nothing to save (the store lives in memory), and tearing moto down costs a second on a
    # busy machine: leave at once, so the command that started us ends promptly too.
    os._exit(0)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.s3._server_child")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--parent-pid", type=int, help="exit when this process is gone")
    parser.add_argument(
        "--pdeathsig", action="store_true", help="SIGTERM from the kernel when the parent dies"
    )
    args = parser.parse_args()
    # SIGTERM before anything slow: a parent that dies while moto imports still stops us.
    signal.signal(signal.SIGTERM, _stop)
    _die_with_parent(args.parent_pid, pdeathsig=args.pdeathsig)

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)
    try:
        server = make_server(
            args.host, args.port, app, threaded=True, request_handler=MotoRequestHandler
        )
    except OSError as exc:
        print(f"ERROR {exc.strerror or exc}", flush=True)
        sys.exit(3)
    except SystemExit:
        # werkzeug reports a port in use on stderr and exits instead of raising.
        print("ERROR address already in use", flush=True)
        sys.exit(3)

    print(f"READY {server.server_address[1]}", flush=True)
    try:
        # The signal may land on a request thread; the main thread runs its handler only when
        # its select() returns, so keep that wait short.
        server.serve_forever(poll_interval=0.1)
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
