"""Loading a target sound and writing audio files.

:func:`load_target` reads WAV, FLAC or OGG (anything libsndfile reads) at any
sample rate, mixes to mono, resamples with soxr to the working rate and trims
leading silence.  It never normalises the level: the synth can reach any level
up to about 1.0 (``master_vol`` × ``osc_vol``), so the target's own level is a
parameter to match, and a normalised target would hide it.  Every problem with
the file raises :class:`TargetError` with a one-line message naming the file.
"""

from __future__ import annotations

import os
import struct
import tempfile
from dataclasses import dataclass

import numpy as np

__all__ = ["TargetError", "Target", "load_target", "write_wav_atomic", "SILENCE_DB", "PRE_ROLL_S", "MIN_PEAK"]

SILENCE_DB = -60.0
"""Leading samples quieter than this, relative to the (DC-removed) peak, are trimmed."""

PRE_ROLL_S = 0.002
"""Kept before the first sample above the silence threshold, in seconds."""

MIN_PEAK = 1e-4
"""A file whose DC-removed peak is below this (−80 dBFS) has no audible content."""

_SFC_SET_ADD_PEAK_CHUNK = 0x1050
"""libsndfile's ``sf_command`` that turns the PEAK chunk of a float WAV on or off (``sndfile.h``); soundfile has no wrapper for it."""


class TargetError(Exception):
    """A target file cannot be used; the message is one line naming the file and the problem."""


@dataclass(frozen=True)
class Target:
    """A loaded target sound.

    Attributes
    ----------
    audio : ndarray, shape (n,), float32
        Mono audio at the working rate ``sr``, leading silence trimmed, level untouched.
    sr : int
        Working sample rate in Hz.
    orig_sr : int
        The file's sample rate in Hz.
    orig_audio : ndarray, shape (m,), float32
        Mono audio at ``orig_sr``, trimmed at the same instant.
    path : str
        The file it came from.
    duration_s : float
        ``len(audio) / sr`` in seconds.
    """

    audio: np.ndarray
    sr: int
    orig_sr: int
    orig_audio: np.ndarray
    path: str
    duration_s: float


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]


def _wav_truncation(path: str) -> str | None:
    """For a RIFF/WAVE file, a description of the truncation if its data chunk is cut short.

    libsndfile silently reads what is left of a truncated WAV, so a download
    or copy that stopped half-way would otherwise be matched as a shorter note.
    Streaming writers that leave the size at 0 or 0xFFFFFFFF are accepted.
    """
    file_size = os.path.getsize(path)
    with open(path, "rb") as fh:
        head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return None
        pos = 12
        while pos + 8 <= file_size:
            fh.seek(pos)
            chunk_id, size = struct.unpack("<4sI", fh.read(8))
            if chunk_id == b"data":
                if size in (0, 0xFFFFFFFF):
                    return None
                available = file_size - pos - 8
                if size > available:
                    return f"truncated WAV (the header declares {size} bytes of audio, the file holds {available})"
                return None
            pos += 8 + size + (size & 1)
    return None


def _read(path: str) -> tuple[np.ndarray, int]:
    """Read all frames with soundfile; any failure becomes TargetError."""
    import soundfile as sf  # noqa: PLC0415

    if not os.path.exists(path):
        raise TargetError(f"{path}: no such file")
    if os.path.isdir(path):
        raise TargetError(f"{path}: is a directory, not an audio file")
    try:
        size = os.path.getsize(path)
    except OSError as exc:
        raise TargetError(f"{path}: cannot read ({_one_line(exc)})") from None
    if size == 0:
        raise TargetError(f"{path}: empty file")
    try:
        problem = _wav_truncation(path)
    except OSError as exc:
        raise TargetError(f"{path}: cannot read ({_one_line(exc)})") from None
    if problem:
        raise TargetError(f"{path}: {problem}")
    try:
        data, sr = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError, OSError, EOFError, MemoryError) as exc:
        raise TargetError(f"{path}: not a readable audio file ({_one_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - libsndfile wrappers raise odd types on corrupt input
        raise TargetError(f"{path}: not a readable audio file ({type(exc).__name__}: {_one_line(exc)})") from None
    return data, int(sr)


MAX_WORKING_SR = 48000
"""Highest working rate :func:`load_target` picks by itself: a target at a higher rate is searched at this one."""


def working_rate(file_sr: int) -> int:
    """The rate a target is searched at unless told otherwise: its own, at most :data:`MAX_WORKING_SR`.

    Searching at the target's own rate lets the fitness see its whole band
    (DESIGN §5.11): a 44.1 kHz recording's air above 10 kHz is matched, not ignored.
    """
    return int(min(file_sr, MAX_WORKING_SR))


def load_target(path: str | os.PathLike, sr: int | None = 22050, max_duration_s: float = 10.0, min_duration_s: float = 0.05) -> Target:
    """Load a target sound for matching.

    Parameters
    ----------
    path : str or path-like
        WAV, FLAC or OGG file, any sample rate, mono or multichannel.
    sr : int or None
        Working sample rate in Hz (the rate of ``Target.audio``); ``None``: the
        file's own rate, at most :data:`MAX_WORKING_SR` (:func:`working_rate`).
    max_duration_s : float
        Longest accepted sound in seconds, after trimming leading silence.
    min_duration_s : float
        Shortest accepted sound in seconds, after trimming leading silence.

    Returns
    -------
    Target
        Channels averaged to mono; resampled with soxr (high quality) to
        ``sr``; leading silence (below :data:`SILENCE_DB` re the DC-removed
        peak) trimmed, keeping :data:`PRE_ROLL_S` before the onset.  The level
        is not normalised (see the module docstring); DC is not removed from
        the returned audio either.

    Raises
    ------
    TargetError
        Missing file, directory, empty, truncated or corrupt file, not audio,
        NaN or infinite samples, no audible content (silence or a constant DC
        offset), shorter than ``min_duration_s`` or longer than ``max_duration_s``.
    """
    path = os.fspath(path)
    data, file_sr = _read(path)
    if data.shape[0] == 0 or data.shape[1] == 0:
        raise TargetError(f"{path}: no audio frames (empty or header-only file)")
    if file_sr <= 0:
        raise TargetError(f"{path}: invalid sample rate {file_sr}")
    if not np.all(np.isfinite(data)):
        raise TargetError(f"{path}: contains NaN or infinite samples")
    mono = data.mean(axis=1, dtype=np.float64)
    centred = mono - mono.mean()
    peak = float(np.max(np.abs(centred)))
    if peak < MIN_PEAK:
        what = "silence" if float(np.max(np.abs(mono))) < MIN_PEAK else "a constant DC offset"
        raise TargetError(f"{path}: no audible content (only {what}; peak {peak:.2g} < {MIN_PEAK:g} after removing DC)")
    # Trim leading silence: first sample whose DC-removed level exceeds the threshold.
    threshold = peak * 10.0 ** (SILENCE_DB / 20.0)
    onset = int(np.argmax(np.abs(centred) > threshold))
    start = max(0, onset - int(round(PRE_ROLL_S * file_sr)))
    orig = mono[start:].astype(np.float32)
    duration_s = orig.shape[0] / file_sr
    if duration_s < min_duration_s:
        raise TargetError(
            f"{path}: too short ({orig.shape[0]} samples = {duration_s:.3g} s after trimming silence; minimum {min_duration_s:g} s)"
        )
    if duration_s > max_duration_s:
        raise TargetError(f"{path}: too long ({duration_s:.2f} s after trimming silence; the cap is {max_duration_s:g} s)")
    sr = working_rate(file_sr) if sr is None else int(sr)
    if file_sr == sr:
        audio = orig.copy()
    else:
        import soxr  # noqa: PLC0415

        audio = soxr.resample(orig, file_sr, sr, quality="HQ").astype(np.float32, copy=False)
    if audio.shape[0] < 1:
        raise TargetError(f"{path}: too short after resampling to {sr} Hz")
    audio = np.ascontiguousarray(audio, dtype=np.float32)
    return Target(
        audio=audio,
        sr=int(sr),
        orig_sr=file_sr,
        orig_audio=orig,
        path=path,
        duration_s=audio.shape[0] / sr,
    )


def write_wav_atomic(path: str | os.PathLike, audio: np.ndarray, sr: int) -> None:
    """Write a mono WAV so that readers never see a partial file.

    The audio goes to a temporary file in the same directory, which then
    replaces ``path`` with :func:`os.replace` (atomic on POSIX).  Samples are
    stored as 32-bit float (subtype ``FLOAT``): lossless for the float32
    renders, and levels above 1.0 are kept rather than clipped.

    The same samples and rate always give the same bytes.  libsndfile gives a
    float WAV a PEAK chunk that holds the time of writing; it is turned off
    (``SFC_SET_ADD_PEAK_CHUNK``) before any sample is written, and libsndfile
    leaves a zero-filled ``PAD `` chunk in the header space it had reserved.

    Parameters
    ----------
    path : str or path-like
        Destination ``.wav`` file; its directory must exist.
    audio : ndarray, shape (n,) or (n, channels)
        Samples, converted to float32.
    sr : int
        Sample rate in Hz.
    """
    import soundfile as sf  # noqa: PLC0415

    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".wav", dir=directory)
    try:
        data = np.asarray(audio, dtype=np.float32)
        with os.fdopen(fd, "wb") as fh, sf.SoundFile(fh, "w", int(sr), 1 if data.ndim == 1 else data.shape[1], subtype="FLOAT", format="WAV") as f:
            sf._snd.sf_command(f._file, _SFC_SET_ADD_PEAK_CHUNK, sf._ffi.NULL, sf._snd.SF_FALSE)  # before any sample is written
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
