"""What `sync-server serve` refuses before it writes anything: a port it cannot listen on,
and where a bundle keeps its data when --data-dir is not given."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from sync_server import cli
from sync_server.cli_checks import CliError, check_port

pytestmark = pytest.mark.unit


def test_a_port_another_program_listens_on_is_refused_in_one_sentence():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(CliError, match=f"port {port} on 127.0.0.1 is already in use"):
            check_port("127.0.0.1", port)


def test_a_free_port_passes_and_stays_free():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    check_port("127.0.0.1", port)
    with socket.socket() as again:  # the check released it
        again.bind(("127.0.0.1", port))


@pytest.mark.parametrize(
    ("host", "port", "said"),
    [
        ("127.0.0.1", 0, "--port 0 is not a port"),
        ("127.0.0.1", 65536, "--port 65536 is not a port"),
        ("no-such-host.invalid", 8000, "is not an address or name this computer knows"),
        ("192.0.2.1", 8000, "is not an address of this computer"),  # TEST-NET-1
    ],
)
def test_an_address_the_server_cannot_listen_on_is_refused(host, port, said):
    with pytest.raises(CliError, match=said):
        check_port(host, port)


def test_serve_on_a_busy_port_exits_2_before_creating_the_data_folder(tmp_path, capsys):
    data_dir = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(SystemExit) as exit_:
            cli.main(["serve", "--init", "--data-dir", str(data_dir), "--port", str(port)])
    assert exit_.value.code == 2
    assert "already in use" in capsys.readouterr().err
    assert not data_dir.exists()


def test_a_bundle_keeps_its_data_in_the_user_data_folder_a_checkout_in_sync_data(monkeypatch):
    assert cli.default_data_dir() == Path("sync-data")
    monkeypatch.setattr("sys.frozen", True, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", "/home/officer/.local/share")
    assert cli.default_data_dir() == Path("/home/officer/.local/share/dfk-sync-server")
