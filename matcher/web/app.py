"""The Starlette app of ``matcher serve``: the page, the job API and live progress.

Routes::

    GET  /                              the page (static/index.html)
    GET  /static/...                    its script and style sheet
    GET  /api/options                   voices, strategies, defaults, upload cap
    POST /api/jobs                      multipart: file, voice, budget, optimizer -> 201 job | 400 {"error"}
    GET  /api/jobs                      every job, newest first
    GET  /api/jobs/{id}                 one job with its convergence history
    GET  /api/jobs/{id}/events          server-sent events: the job after every change
    GET  /api/jobs/{id}/files/{name}    target (the upload) or a result file

Each event is ``data: <job JSON>`` where ``history`` holds only the points the
stream has not sent yet (``history_start`` is the index of the first); the
stream ends after the event of a finished job.
"""

from __future__ import annotations

import asyncio
import json
import os
import threading
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any, AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from matcher.web.jobs import RESULT_FILES, JobManager, UploadError

__all__ = ["create_app", "default_data_dir", "KEEPALIVE_S"]

KEEPALIVE_S = 15.0
"""Seconds between keep-alive comments on an idle event stream."""

COALESCE_S = 0.05
"""After sending an event, wait this long so that a burst of changes makes one event."""

_MEDIA_TYPES = {".json": "application/json", ".wav": "audio/wav", ".csv": "text/csv", ".png": "image/png", ".py": "text/x-python"}


def default_data_dir() -> Path:
    """``$XDG_CACHE_HOME/matcher/serve``, else ``~/.cache/matcher/serve``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "matcher" / "serve"


class _Subscribers:
    """Wakes the event streams of a job when the worker thread changes it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_job: dict[str, set[tuple[asyncio.AbstractEventLoop, asyncio.Event]]] = {}

    def add(self, job_id: str) -> tuple[asyncio.AbstractEventLoop, asyncio.Event]:
        entry = (asyncio.get_running_loop(), asyncio.Event())
        with self._lock:
            self._by_job.setdefault(job_id, set()).add(entry)
        return entry

    def remove(self, job_id: str, entry: tuple[asyncio.AbstractEventLoop, asyncio.Event]) -> None:
        with self._lock:
            self._by_job.get(job_id, set()).discard(entry)

    def notify(self, job_id: str) -> None:
        with self._lock:
            entries = list(self._by_job.get(job_id, ()))
        for loop, event in entries:
            try:
                loop.call_soon_threadsafe(event.set)
            except RuntimeError:  # the loop has closed
                pass


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def create_app(data_dir: str | os.PathLike | None = None, jobs: int | None = None, **manager_options: Any) -> Starlette:
    """The web app with its own :class:`matcher.web.jobs.JobManager`.

    Parameters
    ----------
    data_dir : path-like, optional
        Folder for uploads and results [default: :func:`default_data_dir`].
    jobs : int or None
        Worker processes of each match (``--jobs``); ``None``: the CLI's default.
    **manager_options
        Passed to :class:`JobManager` (``keep_jobs``, ``keep_s``, ``upload_cap_bytes``).

    Returns
    -------
    Starlette
        ``app.state.manager`` is the job manager; it stops with the app's lifespan.
    """
    from matcher.cli import known_optimizers  # noqa: PLC0415
    from matcher.pipeline import DEFAULT_BUDGET, DEFAULT_VOICE  # noqa: PLC0415
    from matcher.strategies import DEFAULT_STRATEGY  # noqa: PLC0415
    from synth.voices import VOICES  # noqa: PLC0415

    subscribers = _Subscribers()
    manager = JobManager(data_dir if data_dir is not None else default_data_dir(), jobs=jobs, on_change=subscribers.notify, **manager_options)
    static_dir = resources.files("matcher.web").joinpath("static")

    async def index(request: Request) -> Response:
        return FileResponse(str(static_dir.joinpath("index.html")), media_type="text/html")

    async def options(request: Request) -> Response:
        return JSONResponse(
            {
                "voices": [{"name": v.name, "doc": v.doc} for v in VOICES.values()] + [{"name": "auto", "doc": "race every voice; the match names the one that fits"}],
                "optimizers": known_optimizers(),
                "defaults": {"voice": DEFAULT_VOICE, "budget": DEFAULT_BUDGET, "optimizer": DEFAULT_STRATEGY},
                "upload_cap_bytes": manager.upload_cap_bytes,
                "jobs": manager.worker_jobs,
            }
        )

    async def submit(request: Request) -> Response:
        length = request.headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > manager.upload_cap_bytes + 64 * 1024:
            return _error(f"upload: larger than the upload cap of {manager.upload_cap_bytes / 1e6:g} MB")
        try:
            async with request.form(max_files=1, max_fields=8) as form:
                upload = form.get("file")
                if upload is None or isinstance(upload, str):
                    return _error("no file in the upload (expected a form field 'file')")
                budget_text = str(form.get("budget", DEFAULT_BUDGET)).strip()
                try:
                    budget = int(budget_text)
                except ValueError:
                    return _error(f"--budget must be a positive number of evaluations, got {budget_text!r}")
                settings = manager.check_settings(str(form.get("optimizer", DEFAULT_STRATEGY)), str(form.get("voice", DEFAULT_VOICE)), budget)
                queued = await run_in_threadpool(manager.submit, upload.file, upload.filename or "upload", settings)
        except UploadError as exc:
            return _error(str(exc))
        except (ValueError, KeyError) as exc:  # malformed multipart body
            return _error(f"bad upload ({' '.join(str(exc).split())[:160]})")
        return JSONResponse(queued, status_code=201)

    async def list_jobs(request: Request) -> Response:
        return JSONResponse({"jobs": manager.list_jobs()})

    async def get_job(request: Request) -> Response:
        snap = manager.snapshot(request.path_params["job_id"])
        return JSONResponse(snap) if snap is not None else _error("no such job", 404)

    async def events(request: Request) -> Response:
        job_id = request.path_params["job_id"]
        if manager.get(job_id) is None:
            return _error("no such job", 404)

        async def stream() -> AsyncIterator[str]:
            entry = subscribers.add(job_id)
            _, wake = entry
            sent_version, sent_points = -1, 0
            try:
                while True:
                    wake.clear()
                    job = manager.get(job_id)
                    if job is None:
                        yield "event: gone\ndata: {}\n\n"
                        return
                    if job.version != sent_version:
                        snap = manager.snapshot(job_id, sent_points)
                        sent_version, sent_points = snap["version"], sent_points + len(snap["history"])
                        yield f"data: {json.dumps(snap)}\n\n"
                        if snap["state"] in ("done", "failed"):
                            return
                        await asyncio.sleep(COALESCE_S)
                        continue
                    try:
                        await asyncio.wait_for(wake.wait(), timeout=KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
            finally:
                subscribers.remove(job_id, entry)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    async def job_file(request: Request) -> Response:
        job_id, name = request.path_params["job_id"], request.path_params["name"]
        job = manager.get(job_id)
        if job is None:
            return _error("no such job", 404)
        if name == "target":
            path = manager.upload_path(job_id)
            if path is None:
                return _error("upload no longer on disk", 404)
            return FileResponse(str(path), filename=job.file_name, content_disposition_type="attachment" if request.query_params.get("download") else "inline")
        if name not in RESULT_FILES or job.state != "done":
            return _error(f"no file {name!r} for this job", 404)
        path = manager.result_dir(job_id) / name
        if not path.is_file():
            return _error(f"no file {name!r} for this job", 404)
        download = f"{Path(job.file_name).stem}-{name}"
        return FileResponse(str(path), media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"), filename=download if request.query_params.get("download") else None)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(manager.close)

    app = Starlette(
        routes=[
            Route("/", index),
            Route("/api/options", options),
            Route("/api/jobs", submit, methods=["POST"]),
            Route("/api/jobs", list_jobs, methods=["GET"]),
            Route("/api/jobs/{job_id:str}", get_job),
            Route("/api/jobs/{job_id:str}/events", events),
            Route("/api/jobs/{job_id:str}/files/{name:str}", job_file),
            Mount("/static", app=StaticFiles(directory=str(static_dir)), name="static"),
        ],
        lifespan=lifespan,
    )
    app.state.manager = manager
    return app
