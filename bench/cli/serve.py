"""``stagebench serve``: the embedded S3 server, standalone, until Ctrl-C."""

from __future__ import annotations

import argparse
from typing import Any

from bench.cli.common import add_command, add_common, port_number


def register(commands: Any) -> None:
    serve = add_command(
        commands,
        "serve",
        help="run the embedded S3 server until Ctrl-C",
        examples="""
            stagebench serve --port 9000
            # in another shell, with the access key id it prints:
            stagebench run scenarios/quickstart.toml --endpoint-url http://127.0.0.1:9000
        """,
    )
    serve.add_argument(
        "--port", type=port_number, default=0, help="port on 127.0.0.1 (0: a free one)"
    )
    add_common(serve)
    serve.set_defaults(func=cmd_serve)


def cmd_serve(args: argparse.Namespace) -> int:
    from bench.s3.server import EMBEDDED_ACCESS_KEY, EmbeddedServer

    server = EmbeddedServer(port=args.port)
    url = server.start()
    print(f"embedded S3 server at {url} (region us-east-1, access key id {EMBEDDED_ACCESS_KEY});")
    print("any secret key is accepted. Ctrl-C stops it.", flush=True)
    try:
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
