"""``matcher serve``'s own argument checks: one-line errors, exit status 2, before anything starts."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from matcher.cli import app

runner = CliRunner()


def test_a_port_in_use_is_a_one_line_error(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = runner.invoke(app, ["serve", "--port", str(port), "--data", str(tmp_path / "data")])
    assert result.exit_code == 2
    assert f"error: 127.0.0.1:{port}: cannot listen (" in result.output
    assert not (tmp_path / "data").exists()


def test_bad_jobs_and_a_data_path_that_is_a_file_are_refused(tmp_path):
    result = runner.invoke(app, ["serve", "--jobs", "0", "--data", str(tmp_path / "data")])
    assert result.exit_code == 2 and "--jobs must be at least 1, got 0" in result.output
    (tmp_path / "file").write_text("x")
    result = runner.invoke(app, ["serve", "--port", "0", "--data", str(tmp_path / "file")])
    assert result.exit_code == 2 and f"{tmp_path / 'file'}: exists and is not a folder" in result.output
