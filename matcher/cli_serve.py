"""``matcher serve``: the local web app (see docs/serve.md)."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Optional

import typer

__all__ = ["register", "serve", "bind_socket"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: any free port).

    Raises
    ------
    OSError
        The address cannot be bound (in use, not local, ...).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (there is no authentication: see docs/serve.md before changing it)."),
    port: int = typer.Option(8765, "--port", help="TCP port (0: any free port)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Worker processes of each match; one match runs at a time (default: as matcher match, one per core, 1 below a budget of 300)."),
    data: Optional[Path] = typer.Option(None, "--data", help="Folder for uploads and results (default: ~/.cache/matcher/serve)."),
    keep_jobs: int = typer.Option(50, "--keep-jobs", help="Finished jobs kept on disk (oldest deleted first)."),
    keep_days: float = typer.Option(7.0, "--keep-days", help="Finished jobs older than this many days are deleted."),
) -> None:
    """Run the web app: drop a sound, watch the search, compare target and match by ear."""
    import uvicorn  # noqa: PLC0415

    from matcher.cli import UsageError, fail, out_console  # noqa: PLC0415
    from matcher.web.app import create_app, default_data_dir  # noqa: PLC0415

    data_dir = data if data is not None else default_data_dir()
    try:
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs must be at least 1, got {jobs}")
        if not 0 <= port <= 65535:
            raise UsageError(f"--port must be from 0 to 65535, got {port}")
        if keep_jobs < 1 or not keep_days > 0:
            raise UsageError(f"--keep-jobs must be at least 1 and --keep-days positive, got {keep_jobs} and {keep_days}")
        if data_dir.exists() and not data_dir.is_dir():
            raise UsageError(f"{data_dir}: exists and is not a folder")
        try:
            sock = bind_socket(host, port)
        except OSError as exc:
            raise UsageError(f"{host}:{port}: cannot listen ({exc.strerror or exc})") from None
        try:
            app = create_app(data_dir, jobs=jobs, keep_jobs=keep_jobs, keep_s=keep_days * 86400.0)
        except OSError as exc:
            sock.close()
            raise UsageError(f"{data_dir}: cannot use as the data folder ({exc.strerror or exc})") from None
    except UsageError as exc:
        fail(str(exc))
    bound_host, bound_port = sock.getsockname()[:2]
    url = f"http://{'[' + bound_host + ']' if ':' in bound_host else bound_host}:{bound_port}/"

    class _AnnouncingServer(uvicorn.Server):
        async def startup(self, sockets: list | None = None) -> None:
            await super().startup(sockets)
            if self.started:
                out_console.print(f"matcher serve: {url}  (data in {data_dir}; Ctrl-C to stop)", highlight=False, soft_wrap=True)

    server = _AnnouncingServer(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2))
    server.run(sockets=[sock])


def register(app: typer.Typer) -> None:
    """Add ``serve`` to the ``matcher`` app."""
    app.command("serve")(serve)
