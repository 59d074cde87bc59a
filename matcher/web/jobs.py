"""The job queue of ``matcher serve``: uploads in, one match at a time, results on disk.

A :class:`JobManager` owns a data folder::

    DATA/uploads/<job id>/<file name>   the uploaded target, kept with its job
    DATA/jobs/<job id>/job.json         the job's state (written atomically)
    DATA/jobs/<job id>/result/          patch.json, match.wav, history.csv, report.png,
                                        synth.py, target.png, match.png (published whole)

Uploads are validated with :func:`objectives.audio_io.load_target` before they
are queued, so a bad upload gets the CLI's one-line message and leaves nothing
behind.  One worker thread runs :func:`matcher.pipeline.match_target` for one
job at a time; each job's settings carry ``--jobs``.  Finished jobs (with their
upload) are deleted when more than ``keep_jobs`` are finished (oldest first) or
when older than ``keep_s``; pruning runs at start-up and after every job.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Callable

from matcher.pipeline import MAX_DURATION_S, MatchSettings

__all__ = ["Job", "JobManager", "UploadError", "safe_file_name", "UPLOAD_CAP_BYTES", "KEEP_JOBS", "KEEP_S", "RESULT_FILES", "JOB_STATES"]

UPLOAD_CAP_BYTES = 20 * 1024 * 1024
"""Largest accepted upload: 20 MB (8 s of 48 kHz stereo 32-bit float is about 3 MB)."""

KEEP_JOBS = 50
"""Finished jobs kept on disk; the oldest beyond this are deleted."""

KEEP_S = 7 * 24 * 3600.0
"""Finished jobs older than this (seconds since they finished) are deleted: 7 days."""

RESULT_FILES = ("patch.json", "match.wav", "history.csv", "report.png", "synth.py", "target.png", "match.png")
"""Files in a finished job's result folder."""

JOB_STATES = ("queued", "running", "done", "failed")

_COPY_CHUNK_BYTES = 1 << 20
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(Exception):
    """A bad upload or bad settings; the message is one line (the CLI's where the CLI has one)."""


class _Stopping(Exception):
    """Raised inside a running match when the manager shuts down."""


def safe_file_name(name: str) -> str:
    """The base name of an uploaded file, reduced to ``[A-Za-z0-9._-]`` (never empty, never hidden)."""
    base = _SAFE_NAME.sub("_", os.path.basename(name or "").strip()).lstrip(".")
    return base[:100] or "upload"


@dataclass
class Job:
    """One match request and its progress.

    Attributes
    ----------
    id : str
    file_name : str
        The upload's (sanitised) file name.
    settings : dict
        :class:`matcher.pipeline.MatchSettings` as a dict.
    state : str
        One of :data:`JOB_STATES`.
    created_s, started_s, finished_s : float or None
        Unix times in seconds.
    evals : int
        Evaluations done so far.
    best_distance : float or None
        Best fitness distance so far.
    history : list of [int, float]
        ``[evaluation, best distance]`` after each evaluated batch.
    phase : str
        What the match is doing (``queued``, ``searching``, ``polishing at 96000 Hz``, ...).
    error : str or None
        One-line reason of a failure.
    result : dict or None
        When done: the patch with units, distance, metrics and file names.
    version : int
        Incremented on every change (for live updates).
    """

    id: str
    file_name: str
    settings: dict
    state: str = "queued"
    created_s: float = field(default_factory=time.time)
    started_s: float | None = None
    finished_s: float | None = None
    evals: int = 0
    best_distance: float | None = None
    history: list = field(default_factory=list)
    phase: str = "queued"
    error: str | None = None
    result: dict | None = None
    version: int = 0

    @property
    def finished(self) -> bool:
        """Done or failed."""
        return self.state in ("done", "failed")

    def snapshot(self, history_from: int = 0) -> dict:
        """A JSON-safe copy, with the history from index ``history_from`` on."""
        doc = asdict(self)
        doc["history_start"] = history_from
        doc["history"] = [list(p) for p in self.history[history_from:]]
        return doc


def _write_json_atomic(path: Path, doc: dict) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JobManager:
    """Queue of match jobs with one worker thread and a data folder.

    Parameters
    ----------
    data_dir : path-like
        Folder the manager owns (created if missing).
    jobs : int or None
        Worker processes of each match (the CLI's ``--jobs``); ``None``: the
        CLI's default (:func:`matcher.pipeline.default_jobs`: one per core, 1 for a small budget).
    keep_jobs : int
        Finished jobs kept on disk.
    keep_s : float
        Age in seconds after which a finished job is deleted.
    upload_cap_bytes : int
        Largest accepted upload.
    on_change : callable, optional
        Called (from any thread) with a job id whenever that job changes.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike,
        jobs: int | None = None,
        keep_jobs: int = KEEP_JOBS,
        keep_s: float = KEEP_S,
        upload_cap_bytes: int = UPLOAD_CAP_BYTES,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.uploads_dir = self.data_dir / "uploads"
        self.jobs_dir = self.data_dir / "jobs"
        self.uploads_dir.mkdir(parents=True, exist_ok=True)
        self.jobs_dir.mkdir(parents=True, exist_ok=True)
        self.worker_jobs = None if jobs is None else int(jobs)
        self.keep_jobs = int(keep_jobs)
        self.keep_s = float(keep_s)
        self.upload_cap_bytes = int(upload_cap_bytes)
        self.on_change = on_change
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._targets: dict[str, Any] = {}
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._stopping = threading.Event()
        self._last_saved_s: dict[str, float] = {}
        self._clean_temporaries()
        self._load_jobs()
        self.prune()
        self._worker = threading.Thread(target=self._work, name="matcher-serve-worker", daemon=True)
        self._worker.start()

    # ---------------------------------------------------------------- state

    def get(self, job_id: str) -> Job | None:
        """The job with this id, or ``None``."""
        with self._lock:
            return self._jobs.get(job_id)

    def snapshot(self, job_id: str, history_from: int = 0) -> dict | None:
        """A JSON-safe copy of a job (see :meth:`Job.snapshot`), or ``None``."""
        with self._lock:
            job = self._jobs.get(job_id)
            return None if job is None else job.snapshot(history_from)

    def list_jobs(self) -> list[dict]:
        """Every job, newest first, without history."""
        with self._lock:
            jobs = sorted(self._jobs.values(), key=lambda j: j.created_s, reverse=True)
            return [{k: v for k, v in j.snapshot(len(j.history)).items() if k not in ("history", "history_start")} for j in jobs]

    def result_dir(self, job_id: str) -> Path:
        """Folder of a job's results (exists once the job is done)."""
        return self.jobs_dir / job_id / "result"

    def upload_path(self, job_id: str) -> Path | None:
        """The job's uploaded file, or ``None``."""
        job = self.get(job_id)
        if job is None:
            return None
        path = self.uploads_dir / job_id / job.file_name
        return path if path.is_file() else None

    def _changed(self, job: Job, save: bool = True) -> None:
        job.version += 1
        if save:
            self._save(job)
        if self.on_change is not None:
            self.on_change(job.id)

    def _save(self, job: Job) -> None:
        folder = self.jobs_dir / job.id
        folder.mkdir(parents=True, exist_ok=True)
        _write_json_atomic(folder / "job.json", job.snapshot())
        self._last_saved_s[job.id] = time.monotonic()

    def _load_jobs(self) -> None:
        for path in sorted(self.jobs_dir.glob("*/job.json")):
            try:
                doc = json.loads(path.read_text(encoding="utf-8"))
                doc.pop("history_start", None)
                job = Job(**doc)
            except (OSError, ValueError, TypeError):
                shutil.rmtree(path.parent, ignore_errors=True)
                continue
            if not job.finished:  # the server stopped while it was queued or running
                job.state, job.phase, job.finished_s = "failed", "failed", time.time()
                job.error = "the server stopped before this job finished; upload it again"
                self._save(job)
            self._jobs[job.id] = job

    def _clean_temporaries(self) -> None:
        """Remove what an earlier process left half-written (temporary uploads and result folders)."""
        for path in [*self.uploads_dir.glob(".*"), *self.jobs_dir.glob(".*"), *self.jobs_dir.glob("*/.*")]:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def prune(self, now_s: float | None = None) -> list[str]:
        """Delete finished jobs beyond :attr:`keep_jobs` or older than :attr:`keep_s`.

        Returns
        -------
        list of str
            Ids of the deleted jobs.
        """
        now_s = time.time() if now_s is None else now_s
        with self._lock:
            finished = sorted((j for j in self._jobs.values() if j.finished), key=lambda j: j.finished_s or j.created_s, reverse=True)
            doomed = [j for i, j in enumerate(finished) if i >= self.keep_jobs or now_s - (j.finished_s or j.created_s) > self.keep_s]
            for job in doomed:
                del self._jobs[job.id]
                self._targets.pop(job.id, None)
        for job in doomed:
            shutil.rmtree(self.jobs_dir / job.id, ignore_errors=True)
            shutil.rmtree(self.uploads_dir / job.id, ignore_errors=True)
        return [j.id for j in doomed]

    # ---------------------------------------------------------------- uploads

    def check_settings(self, optimizer: str, voice: str, budget: int) -> MatchSettings:
        """The match settings of an upload, checked as ``matcher match`` checks them.

        Raises
        ------
        UploadError
            Unknown optimiser or voice, or a non-positive budget (the CLI's messages).
        """
        from matcher.cli import UsageError, _check_match_args  # noqa: PLC0415

        try:
            _check_match_args(optimizer, voice, budget, None, 1 if self.worker_jobs is None else self.worker_jobs)
        except UsageError as exc:
            raise UploadError(str(exc)) from None
        return MatchSettings(optimizer=optimizer, budget=budget, voice=voice, jobs=self.worker_jobs)

    def submit(self, stream: BinaryIO, file_name: str, settings: MatchSettings) -> dict:
        """Validate an upload and queue its job.

        The upload is copied to a temporary folder under ``DATA/uploads`` (at
        most :attr:`upload_cap_bytes`), loaded with
        :func:`objectives.audio_io.load_target` exactly as ``matcher match``
        loads a file, and only then renamed into place and queued.

        Parameters
        ----------
        stream : binary file
            The uploaded bytes.
        file_name : str
            The name the user's file had (used in messages and downloads).
        settings : MatchSettings
            From :meth:`check_settings`.

        Returns
        -------
        dict
            The job's snapshot as queued (:meth:`Job.snapshot`).

        Raises
        ------
        UploadError
            Over the size cap, or any :class:`objectives.audio_io.TargetError`
            (empty, not audio, silence, too long, ...); nothing is left on disk.
        """
        from objectives.audio_io import TargetError, load_target  # noqa: PLC0415

        name = safe_file_name(file_name)
        job_id = uuid.uuid4().hex[:12]
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{job_id}.", suffix=".tmp", dir=self.uploads_dir))
        try:
            tmp_path = tmp_dir / name
            size = 0
            with open(tmp_path, "wb") as fh:
                while chunk := stream.read(_COPY_CHUNK_BYTES):
                    size += len(chunk)
                    if size > self.upload_cap_bytes:
                        raise UploadError(f"{name}: larger than the upload cap of {self.upload_cap_bytes / 1e6:g} MB")
                    fh.write(chunk)
            try:
                target = load_target(tmp_path, sr=settings.sr, max_duration_s=MAX_DURATION_S)
            except TargetError as exc:
                raise UploadError(str(exc).replace(str(tmp_path), name)) from None
            os.replace(tmp_dir, self.uploads_dir / job_id)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
        job = Job(id=job_id, file_name=name, settings=asdict(settings))
        with self._lock:
            self._jobs[job_id] = job
            self._targets[job_id] = target
            self._changed(job)
            snapshot = job.snapshot()
        self._queue.put(job_id)
        return snapshot

    # ---------------------------------------------------------------- worker

    def _work(self) -> None:
        while True:
            job_id = self._queue.get()
            if job_id is None or self._stopping.is_set():
                return
            try:
                self._run(job_id)
            finally:
                self.prune()

    def _run(self, job_id: str) -> None:
        from matcher.pipeline import MatchInterrupted, match_target  # noqa: PLC0415

        with self._lock:
            job = self._jobs.get(job_id)
            target = self._targets.pop(job_id, None)
            if job is None or target is None:
                return
            job.state, job.phase, job.started_s = "running", "searching", time.time()
            self._changed(job)
        settings = MatchSettings(**job.settings)

        def on_batch(batch: list) -> None:
            if self._stopping.is_set():
                raise _Stopping
            last = batch[-1]
            with self._lock:
                job.evals = int(last.eval)
                job.best_distance = float(last.best_loss)
                job.history.append([int(last.eval), float(last.best_loss)])
                # Progress is saved to disk at most once a second; every change is announced.
                self._changed(job, save=time.monotonic() - self._last_saved_s.get(job.id, 0.0) > 1.0)

        def on_phase(text: str) -> None:
            with self._lock:
                job.phase = text
                self._changed(job)

        try:
            outcome = match_target(target, settings, on_batch, on_phase)
            with self._lock:
                job.phase = "writing results"
                self._changed(job, save=False)
            self._publish(job, outcome)
        except _Stopping:
            self._fail(job, "the server stopped before this job finished; upload it again")
        except MatchInterrupted as exc:
            self._fail(job, str(exc))
        except Exception as exc:  # a job's failure must not stop the worker
            self._fail(job, f"{type(exc).__name__}: {' '.join(str(exc).split())[:200]}")

    def _fail(self, job: Job, message: str) -> None:
        with self._lock:
            job.state, job.phase, job.error, job.finished_s = "failed", "failed", message, time.time()
            self._changed(job)

    def _publish(self, job: Job, outcome: Any) -> None:
        from matcher.export import pyo_script  # noqa: PLC0415
        from matcher.pipeline import outcome_files, publish_folder  # noqa: PLC0415
        from matcher.web.spectrogram import write_spectrogram_png  # noqa: PLC0415
        from synth.patch_io import write_text_atomic  # noqa: PLC0415
        from synth.voices import get_voice  # noqa: PLC0415

        settings, target = outcome.settings, outcome.target
        files = outcome_files(outcome, job.file_name)
        files["synth.py"] = lambda p: write_text_atomic(p, pyo_script(outcome.voice, outcome.patch, target.orig_sr, source_name="patch.json"))
        files["target.png"] = lambda p: write_spectrogram_png(p, target.orig_audio, target.orig_sr, f"target: {job.file_name}")
        files["match.png"] = lambda p: write_spectrogram_png(p, outcome.match_audio, target.orig_sr, f"match: distance {outcome.loss:.4g}")
        publish_folder(files, self.result_dir(job.id))
        space = get_voice(outcome.voice).space
        result = {
            "voice": outcome.voice,
            "voice_losses": outcome.voice_losses,
            "params": [{"name": p.name, "value": outcome.patch[p.name], "unit": p.unit, "doc": p.doc} for p in space.params],
            "distance": float(outcome.loss),
            "distance_sr": int(outcome.distance_sr),
            "evals": int(outcome.evals),
            "stopped_by": outcome.stopped_by,
            "metrics": {k: float(v) for k, v in outcome.metrics.items()},
            "f0_hz": float(outcome.pitch.f0_hz) if outcome.pitch.voiced and outcome.pitch.f0_hz else None,
            "sr": int(target.orig_sr),
            "search_wall_s": float(outcome.search_wall_s),
            "files": list(RESULT_FILES),
        }
        with self._lock:
            job.result = result
            if not job.history or job.history[-1][0] != outcome.evals:
                job.history.append([int(outcome.evals), float(outcome.rows[-1].best_loss)])
            job.evals = int(outcome.evals)
            job.best_distance = float(outcome.loss)
            job.state, job.phase, job.finished_s = "done", "done", time.time()
            self._changed(job)

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop the worker: a running match is abandoned and marked failed; jobs still queued are marked failed at the next start."""
        self._stopping.set()
        self._queue.put(None)
        self._worker.join(timeout_s)
