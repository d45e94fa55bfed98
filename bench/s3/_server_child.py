"""Entry point of the embedded S3 server's child process.

Runs moto's S3 backend under werkzeug on 127.0.0.1, prints "READY <port>" once it listens, and
serves until terminated. It runs in its own process so its CPU never competes with the
benchmark's readers for the GIL.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.s3._server_child")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()

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

    def stop(signum: int, frame: object) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    print(f"READY {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except (KeyboardInterrupt, SystemExit):
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
