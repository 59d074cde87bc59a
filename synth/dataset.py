"""Dataset generation compatible with the seed project: one WAV per sample + ``params.csv``.

Layout of a dataset folder::

    dataset.json        seed, sr, duration, sampler, n, rejection counts (written last)
    params.csv          seed columns (choices as integer codes) + ``file``
    features.npz        feature cache for training: X (n, d), index, feature_version
    wav/000000.wav ...  16-bit PCM, one per sample
    parts/000000-000255.npz   one per finished chunk (the resume record)

Sample ``i`` is drawn by :func:`synth.sampling.sample_valid_patch` from its own
generator ``numpy.random.default_rng([seed, i])``, so the dataset is a pure
function of ``(seed, sr, duration)`` whatever the number of worker processes
and whatever chunks were already done.  Work is cut into fixed chunks of
:data:`CHUNK` indices; a chunk's WAVs are written first, then its part file
(atomically), so an interrupted run resumes at the first chunk without a part
file and never duplicates or loses a row.  ``params.csv`` and ``features.npz``
are rebuilt from the parts at the end, also atomically.
"""

from __future__ import annotations

import csv
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
from synth.sampling import DEFAULT_SAMPLER, get_sampler, sample_valid_patch
from synth.voices import FILTER_TYPES, OSC_TYPES

__all__ = ["SEED_COLUMNS", "CSV_COLUMNS", "CHUNK", "DatasetError", "DatasetSummary", "generate_dataset", "patch_row", "read_params_csv", "load_features"]

SEED_COLUMNS: tuple[str, ...] = (
    "duree", "osc_freq", "osc_type", "osc_vol", "noise_vol", "filter_type", "filter_cutoff",
    "filter_res", "env_attack", "env_decay", "env_sustain", "env_release", "master_vol",
)
"""The seed project's parameter columns, in its order."""

CSV_COLUMNS: tuple[str, ...] = (*SEED_COLUMNS, "file")
"""Columns of ``params.csv``."""

CHUNK = 256
"""Samples per chunk (the unit of parallel work and of resuming)."""

FeatureFn = Callable[[np.ndarray, int, float], np.ndarray]
"""``features(audio, sr, f0_hz) -> 1-D float array`` cached for training."""


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


def patch_row(patch: dict, file: str) -> list[str]:
    """One ``params.csv`` row: seed columns (choices as integer codes) then the file name."""
    row = []
    for name in SEED_COLUMNS:
        v = patch[name]
        if name == "osc_type":
            row.append(str(OSC_TYPES.index(v)))
        elif name == "filter_type":
            row.append(str(FILTER_TYPES.index(v)))
        else:
            row.append(repr(float(v)))
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


def _make_chunk(out: str, start: int, stop: int, seed: int, sr: int, duration: float, features: FeatureFn | None, sampler: str = "v2") -> tuple[int, int, dict]:
    """Generate samples ``start..stop-1``, write their WAVs, then the chunk's part file."""
    from synth.render import render  # noqa: PLC0415 - boots Pyo in the worker

    out_p = Path(out)
    rows, feats, rejections = [], [], Counter()
    t_render = t_wav = t_feat = 0.0
    for i in range(start, stop):
        t0 = time.perf_counter()
        patch, audio = sample_valid_patch(np.random.default_rng([seed, i]), render, sr=sr, duree_s=duration, rejections=rejections, spec=sampler)
        t1 = time.perf_counter()
        name = f"{i:06d}.wav"
        _write_wav(out_p / "wav" / name, audio, sr)
        t2 = time.perf_counter()
        if features is not None:
            feats.append(np.asarray(features(audio, sr, float(patch["osc_freq"])), dtype=np.float32))
        t_render, t_wav, t_feat = t_render + t1 - t0, t_wav + t2 - t1, t_feat + time.perf_counter() - t2
        rows.append(patch_row(patch, f"wav/{name}"))
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
    for key in ("seed", "sr", "duration", "feature_version", "sampler"):
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
    sampler: str = DEFAULT_SAMPLER.name,
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
    sampler : str
        Name of the :class:`synth.sampling.SamplerSpec` the patches are drawn from
        (default ``"v2"``); recorded in ``dataset.json``.

    Raises
    ------
    DatasetError
        ``out`` holds a dataset made with other settings.
    """
    if n < 1:
        raise ValueError("n must be positive")
    t0 = time.perf_counter()
    out = Path(out)
    config = {"seed": int(seed), "sr": int(sr), "duration": float(duration), "feature_version": feature_version, "sampler": get_sampler(sampler).name}
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
                delayed(_make_chunk)(str(out), a, b, seed, sr, duration, features, config["sampler"]) for a, b in todo
            )
        else:
            results = (_make_chunk(str(out), a, b, seed, sr, duration, features, config["sampler"]) for a, b in todo)
        for a, b, t in results:
            timings.update(t)
            if on_chunk is not None:
                on_chunk(b - a)
    rejections = _merge(out, chunks, features is not None, feature_version)
    write_text_atomic(out / "dataset.json", json.dumps({**config, "n": n, "complete": True, "rejections": dict(rejections.most_common())}, indent=2) + "\n")
    return DatasetSummary(out, n, n - resumed, resumed, rejections, time.perf_counter() - t0, dict(timings))


def _merge(out: Path, chunks: list[tuple[int, int]], with_features: bool, feature_version: int | None) -> Counter:
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
    w.writerow(CSV_COLUMNS)
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


def read_params_csv(path: str | os.PathLike) -> list[dict]:
    """Rows of a ``params.csv`` as patches (choice names, floats) with their ``file``.

    Raises
    ------
    DatasetError
        Missing file, wrong columns or a bad value (one-line message).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no such file")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(header[: len(SEED_COLUMNS)]) != SEED_COLUMNS:
            raise DatasetError(f"{path}: expected the columns {', '.join(CSV_COLUMNS)}")
        out = []
        for line, row in enumerate(reader, start=2):
            try:
                d: dict = dict(zip(header, row))
                patch = {k: float(d[k]) for k in SEED_COLUMNS}
                patch["osc_type"] = OSC_TYPES[int(patch["osc_type"])]
                patch["filter_type"] = FILTER_TYPES[int(patch["filter_type"])]
                patch["file"] = d.get("file", "")
            except (KeyError, ValueError, IndexError):
                raise DatasetError(f"{path}: bad row at line {line}") from None
            out.append(patch)
    return out


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
