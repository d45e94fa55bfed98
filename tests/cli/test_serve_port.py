"""``stagebench serve --port``: a port outside 0..65535 is refused before anything starts."""

from __future__ import annotations

import pytest

from bench.cli import app as cli


@pytest.mark.parametrize("port", ["99999", "65536", "-1", "http", "1.5"])
def test_serve_refuses_a_port_outside_0_to_65535(port, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["serve", "--port", port])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument --port: {port!r}: a port is 0 to 65535" in err
    assert "Traceback" not in err and "moto" not in err


@pytest.mark.parametrize("port", ["0", "65535"])
def test_serve_port_bounds_parse(port):
    assert cli.build_parser().parse_args(["serve", "--port", port]).port == int(port)
