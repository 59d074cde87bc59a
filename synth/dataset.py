"""Dataset generation compatible with the seed project: one WAV per sample + ``params.csv``.

Layout of a dataset folder::

    dataset.json        voice, seed, sr, duration, sampler, n, rejection counts (written last)
    params.csv          the voice's parameters in space order (choices as integer codes) + ``file``;
                        for the subtractive voice exactly the seed project's columns
    features.npz        feature cache for training: X (n, d), index, feature_version
    wav/000000.wav ...  16-bit PCM, one per sample
    parts/000000-000255.npz   one per finished chunk (the resume record)

Sample ``i`` is drawn by :func:`synth.voice_samplers.sample_voice_patch` (the
voice's sampler; for the subtractive voice the same draws as
:func:`synth.sampling.sample_valid_patch`) from its own generator
``numpy.random.default_rng([seed, i])``, so the dataset is a pure function of
``(voice, sampler, seed, sr, duration)`` whatever the number of worker processes
and whatever chunks were already done.  Work is cut into fixed chunks of
:data:`CHUNK` indices; a chunk's WAVs are written first, then its part file
(atomically), so an interrupted run resumes at the first chunk without a part
file and never duplicates or loses a row.  ``params.csv`` and ``features.npz``
are rebuilt from the parts at the end, also atomically.
"""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from synth.patch_io import write_text_atomic
from synth.voice_samplers import get_voice_sampler, sample_voice_patch
from synth.voices import DEFAULT_VOICE, VOICES, get_voice

__all__ = ["SEED_COLUMNS", "CSV_COLUMNS", "CHUNK", "DatasetError", "DatasetSummary", "generate_dataset", "patch_row", "read_params_csv",
           "load_features", "voice_columns", "dataset_voice"]

SEED_COLUMNS: tuple[str, ...] = (
    "duree", "osc_freq", "osc_type", "osc_vol", "noise_vol", "filter_type", "filter_cutoff",
    "filter_res", "env_attack", "env_decay", "env_sustain", "env_release", "master_vol",
)
"""The seed project's parameter columns, in its order."""

CSV_COLUMNS: tuple[str, ...] = (*SEED_COLUMNS, "file")
"""Columns of a subtractive ``params.csv``."""


def voice_columns(voice: str) -> tuple[str, ...]:
    """Parameter columns of a voice's ``params.csv``: its parameters in space order
    (:data:`SEED_COLUMNS` for the subtractive voice)."""
    return tuple(get_voice(voice).space.names)

CHUNK = 256
"""Samples per chunk (the unit of parallel work and of resuming)."""

FeatureFn = Callable[[np.ndarray, int, float], np.ndarray]
"""``features(audio, sr, f0_hz) -> 1-D float array`` cached for training."""

assert voice_columns("subtractive") == SEED_COLUMNS, "the subtractive voice's space order is the seed project's column order"


class DatasetError(Exception):
    """The output folder holds another dataset (other seed, rate or duration); one-line message."""


@dataclass
class DatasetSummary:
    """Outcome of :func:`generate_dataset`."""

    out: Path
    n: int
    generated: int
    resumed: int
    rejections: Counter
    wall_s: float
    timings_s: dict = field(default_factory=dict)


def patch_row(patch: dict, file: str, voice: str = DEFAULT_VOICE) -> list[str]:
    """One ``params.csv`` row: the voice's columns (choices as integer codes in the voice's order) then the file name."""
    space = get_voice(voice).space
    row = []
    for name in voice_columns(voice):
        v = patch[name]
        row.append(str(space[name].choices.index(v)) if space[name].is_choice else repr(float(v)))
    return [*row, file]


def _write_wav(path: Path, audio: np.ndarray, sr: int) -> None:
    import soundfile as sf  # noqa: PLC0415

    tmp = path.with_name(f".{path.name}.tmp")
    # 16-bit PCM: libsndfile writes no PEAK chunk (it does for float data, with
    # the time of writing), so the same samples always give the same bytes.
    sf.write(tmp, np.clip(audio, -1.0, 1.0), sr, subtype="PCM_16", format="WAV")
    os.replace(tmp, path)


def _chunk_name(start: int, stop: int) -> str:
    return f"{start:06d}-{stop - 1:06d}.npz"


def _make_chunk(out: str, start: int, stop: int, seed: int, sr: int, duration: float, features: FeatureFn | None, sampler: str = "v2",
                voice: str = DEFAULT_VOICE) -> tuple[int, int, dict]:
    """Generate samples ``start..stop-1``, write their WAVs, then the chunk's part file."""
    from synth.render import render  # noqa: PLC0415 - boots Pyo in the worker

    out_p = Path(out)
    rows, feats, rejections = [], [], Counter()
    t_render = t_wav = t_feat = 0.0
    draw = get_voice_sampler(voice, sampler)
    render_voice = functools.partial(render, voice=voice)
    for i in range(start, stop):
        t0 = time.perf_counter()
        patch, audio = sample_voice_patch(np.random.default_rng([seed, i]), render_voice, draw, sr=sr, duree_s=duration, rejections=rejections)
        t1 = time.perf_counter()
        name = f"{i:06d}.wav"
        _write_wav(out_p / "wav" / name, audio, sr)
        t2 = time.perf_counter()
        if features is not None:
            feats.append(np.asarray(features(audio, sr, float(patch["osc_freq"])), dtype=np.float32))
        t_render, t_wav, t_feat = t_render + t1 - t0, t_wav + t2 - t1, t_feat + time.perf_counter() - t2
        rows.append(patch_row(patch, f"wav/{name}", voice))
    buf = io.BytesIO()
    np.savez(
        buf,
        index=np.arange(start, stop),
        rows=np.array(rows, dtype=str),
        features=np.array(feats, dtype=np.float32) if feats else np.zeros((stop - start, 0), np.float32),
        rejections=np.array(json.dumps(dict(rejections))),
    )
    part = out_p / "parts" / _chunk_name(start, stop)
    tmp = part.with_name(f".{part.name}.tmp")
    tmp.write_bytes(buf.getvalue())
    os.replace(tmp, part)
    return start, stop, {"render_s": t_render, "wav_s": t_wav, "features_s": t_feat}


def _check_manifest(out: Path, config: dict) -> None:
    path = out / "dataset.json"
    if not path.exists():
        return
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise DatasetError(f"{path}: unreadable dataset description; use another --out") from None
    old.setdefault("sampler", "v1")  # datasets made before the sampler had a name were v1
    old.setdefault("voice", DEFAULT_VOICE)  # and before voices had samplers, subtractive
    for key in ("voice", "seed", "sr", "duration", "feature_version", "sampler"):
        if old.get(key) != config.get(key):
            raise DatasetError(f"{out}: holds a dataset with {key}={old.get(key)!r}, not {config.get(key)!r}; use another --out")


def generate_dataset(
    out: str | os.PathLike,
    n: int,
    seed: int = 0,
    jobs: int = 1,
    sr: int = 22050,
    duration: float = 1.0,
    features: FeatureFn | None = None,
    feature_version: int | None = None,
    on_chunk: Callable[[int], None] | None = None,
    sampler: str | None = None,
    voice: str = DEFAULT_VOICE,
) -> DatasetSummary:
    """Generate (or finish) a dataset of ``n`` valid random patches in ``out``.

    Parameters
    ----------
    out : path
        Dataset folder (created).
    n : int
        Number of samples.
    seed : int
        Dataset seed; sample ``i`` uses ``default_rng([seed, i])``.
    jobs : int
        Worker processes (the output does not depend on it).
    sr : int
        Sample rate in Hz.
    duration : float
        Note length in seconds.
    features : callable, optional
        ``features(audio, sr, f0_hz)`` cached in ``features.npz`` (must be picklable).
    feature_version : int, optional
        Recorded with the cache; a folder made with another version is refused.
    on_chunk : callable, optional
        Called with the number of samples of each finished chunk (progress).
    sampler : str, optional
        Name of the voice's :class:`synth.voice_samplers.VoiceSampler` the patches
        are drawn from (default: the voice's first, ``"v2"`` for the subtractive
        voice); recorded in ``dataset.json``.
    voice : str
        The voice the patches belong to (recorded in ``dataset.json``; ``params.csv``
        has its columns, :func:`voice_columns`).

    Raises
    ------
    DatasetError
        ``out`` holds a dataset made with other settings.
    ValueError
        Unknown voice or sampler.
    """
    if n < 1:
        raise ValueError("n must be positive")
    t0 = time.perf_counter()
    out = Path(out)
    config = {"voice": get_voice(voice).name, "seed": int(seed), "sr": int(sr), "duration": float(duration), "feature_version": feature_version,
              "sampler": get_voice_sampler(voice, sampler).name}
    _check_manifest(out, config)
    (out / "wav").mkdir(parents=True, exist_ok=True)
    (out / "parts").mkdir(parents=True, exist_ok=True)
    write_text_atomic(out / "dataset.json", json.dumps({**config, "complete": False}, indent=2) + "\n")
    chunks = [(a, min(n, a + CHUNK)) for a in range(0, n, CHUNK)]
    todo = [(a, b) for a, b in chunks if not (out / "parts" / _chunk_name(a, b)).exists()]
    resumed = sum(b - a for a, b in chunks) - sum(b - a for a, b in todo)
    if on_chunk is not None and resumed:
        on_chunk(resumed)
    timings = Counter()
    if todo:
        if jobs > 1 and len(todo) > 1:
            from joblib import Parallel, delayed  # noqa: PLC0415

            results: Iterator = Parallel(n_jobs=jobs, return_as="generator_unordered")(
                delayed(_make_chunk)(str(out), a, b, seed, sr, duration, features, config["sampler"], voice) for a, b in todo
            )
        else:
            results = (_make_chunk(str(out), a, b, seed, sr, duration, features, config["sampler"], voice) for a, b in todo)
        for a, b, t in results:
            timings.update(t)
            if on_chunk is not None:
                on_chunk(b - a)
    rejections = _merge(out, chunks, features is not None, feature_version, config["voice"])
    write_text_atomic(out / "dataset.json", json.dumps({**config, "n": n, "complete": True, "rejections": dict(rejections.most_common())}, indent=2) + "\n")
    return DatasetSummary(out, n, n - resumed, resumed, rejections, time.perf_counter() - t0, dict(timings))


def _merge(out: Path, chunks: list[tuple[int, int]], with_features: bool, feature_version: int | None, voice: str = DEFAULT_VOICE) -> Counter:
    """Rebuild ``params.csv`` and ``features.npz`` from the chunk parts, in index order."""
    rows, feats, index, rejections = [], [], [], Counter()
    for a, b in chunks:
        with np.load(out / "parts" / _chunk_name(a, b), allow_pickle=False) as z:
            rows.extend(z["rows"].tolist())
            index.append(z["index"])
            feats.append(z["features"])
            rejections.update(json.loads(str(z["rejections"])))
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*voice_columns(voice), "file"])
    w.writerows(rows)
    write_text_atomic(out / "params.csv", buf.getvalue())
    if with_features:
        x = np.concatenate(feats)
        if x.shape[1] == 0 or x.shape[0] != len(rows):
            raise DatasetError(f"{out}: some parts were made without features; delete {out / 'parts'} and rerun")
        fbuf = io.BytesIO()
        np.savez(fbuf, X=x, index=np.concatenate(index), feature_version=np.array(-1 if feature_version is None else feature_version))
        tmp = out / ".features.npz.tmp"
        tmp.write_bytes(fbuf.getvalue())
        os.replace(tmp, out / "features.npz")
    return rejections


def _header_voice(header: list[str] | None) -> str | None:
    """The voice whose columns a ``params.csv`` header starts with (the longest match), or None."""
    if header is None:
        return None
    fits = [v for v in VOICES if tuple(header[: len(voice_columns(v))]) == voice_columns(v)]
    return max(fits, key=lambda v: len(voice_columns(v)), default=None)


def read_params_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``params.csv`` as patches (choice names, floats) with their ``file``.

    The header says the voice (:func:`voice_columns` of one voice, then ``file``).

    Raises
    ------
    DatasetError
        Missing file, columns of no voice or a bad value (one-line message).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        voice = _header_voice(header)
        if voice is None:
            raise DatasetError(f"{path}: expected the columns {', '.join(CSV_COLUMNS)} (or another voice's parameters, then file)")
        space = get_voice(voice).space
        columns = voice_columns(voice)
        out = []
        for line, row in enumerate(reader, start=2):
            try:
                d: dict = dict(zip(header, row))
                patch = {k: float(d[k]) for k in columns}
                for k in columns:
                    if space[k].is_choice:
                        patch[k] = space[k].choices[int(patch[k])]
                patch["file"] = d.get("file", "")
            except (KeyError, ValueError, IndexError):
                raise DatasetError(f"{path}: bad row at line {line}") from None
            out.append(patch)
    return out


def dataset_voice(folder: str | os.PathLike) -> str:
    """The voice of a dataset folder, from its ``params.csv`` header.

    Raises
    ------
    DatasetError
        No ``params.csv``, or columns of no voice.
    """
    path = Path(folder) / "params.csv"
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as f:
        voice = _header_voice(next(csv.reader(f), None))
    if voice is None:
        raise DatasetError(f"{path}: the columns are no voice's parameters")
    return voice


def load_features(folder: str | os.PathLike, feature_version: int | None = None) -> tuple[np.ndarray, list[dict]]:
    """The features cache and the patches of a dataset folder, row-aligned.

    Raises
    ------
    DatasetError
        No cache, a cache of another feature version, or a cache that does not match ``params.csv``.
    """
    folder = Path(folder)
    patches = read_params_csv(folder / "params.csv")
    path = folder / "features.npz"
    if not path.is_file():
        raise DatasetError(f"{path}: no features cache (regenerate the dataset with `matcher dataset`)")
    with np.load(path, allow_pickle=False) as z:
        x, version = z["X"], int(z["feature_version"])
    if feature_version is not None and version != feature_version:
        raise DatasetError(f"{path}: features of version {version}, this version computes {feature_version}; regenerate the dataset")
    if len(x) != len(patches):
        raise DatasetError(f"{path}: {len(x)} feature rows for {len(patches)} rows of params.csv")
    return x, patches
