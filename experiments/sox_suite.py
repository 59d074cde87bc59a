"""Suites beyond :mod:`experiments.suites`: ``sox:N`` (another engine's notes) and ``dir:PATH``, and the suite-spec parser.

The parser also builds the out-of-domain suites of :mod:`experiments.foreign`:
``scsynth:N`` (SuperCollider NRT), ``faust:N`` (Faust through DawDreamer) and
``gm:N`` (General MIDI one-shots from FluidR3_GM through fluidsynth); see
docs/foreign_suites.md.

``sox:N`` targets are made by SoX's own synthesizer (``sox -n out.wav synth ...``),
a different engine than ours: band-limited-free oscillators, SoX's own biquads,
linear/quarter-sine fades.  The SoX settings are kept as labels so the
oscillator type, f0 and filter family of a match can be scored.  SoX's
``sawtooth`` is our ``saw``; ``sine``, ``square``, ``triangle`` keep their
names; SoX's ``lowpass``/``highpass``/``bandpass`` map to our filter types.

SoX comes from Debian's package ``sox``; :func:`sox_suite` raises
:class:`SuiteError` saying so when the ``sox`` program is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from experiments.suites import SuiteTarget, in_domain_suite

__all__ = ["SuiteError", "SOX_OSC_TO_OURS", "sox_available", "sox_suite", "dir_suite", "load_suite", "SUITE_HELP"]

SUITE_HELP = (
    "in-domain:N (random valid patches), sox:N (SoX-synthesised notes with labels), "
    "scsynth:N (SuperCollider scsynth notes: plucks, detune, vibrato, FM, pitch drops), "
    "faust:N (the same kinds of notes in Faust, through DawDreamer), "
    "gm:N (General MIDI one-shots, FluidR3_GM through fluidsynth), dir:PATH (a folder of sounds)"
)

FOREIGN_KINDS = ("scsynth", "faust", "gm")
"""Suite kinds made by :mod:`experiments.foreign` (rendered at 44.1 kHz, resampled to the requested rate)."""


class SuiteError(Exception):
    """A suite spec that cannot be built (bad spec, missing folder, no SoX)."""


SOX_OSC_TO_OURS: dict[str, str] = {"sine": "sine", "square": "square", "triangle": "triangle", "sawtooth": "saw"}
"""SoX ``synth`` waveform -> our ``osc_type``."""

SOX_FILTER_RATIOS: dict[str, tuple[float, float]] = {"lowpass": (2.0, 10.0), "highpass": (1.0, 4.0), "bandpass": (1.5, 6.0)}
"""Cutoff (or centre) / f0 ratio drawn per filter, log-uniform, inside the windows where the filter is audible."""

F0_RANGE_HZ = (70.0, 1000.0)


def sox_available() -> bool:
    """Whether the ``sox`` program is on the PATH."""
    return shutil.which("sox") is not None


def _sox_settings(rng: np.random.Generator, duration_s: float) -> dict:
    osc = str(rng.choice(list(SOX_OSC_TO_OURS)))
    filt = str(rng.choice(list(SOX_FILTER_RATIOS)))
    f0 = float(np.exp(rng.uniform(*np.log(F0_RANGE_HZ))))
    lo, hi = SOX_FILTER_RATIOS[filt]
    if osc == "sine" and filt == "highpass":
        hi = 1.5  # a sine through a highpass far above it is near-silent
    cutoff = float(min(f0 * np.exp(rng.uniform(np.log(lo), np.log(hi))), 9000.0))
    return {
        "osc": osc,
        "filter": filt,
        "f0_hz": round(f0, 2),
        "cutoff_hz": round(cutoff, 1),
        "q": round(float(rng.uniform(0.7, 3.0)), 2),
        "fade_in_s": round(float(np.exp(rng.uniform(np.log(0.005), np.log(0.15)))), 4),
        "fade_out_s": round(float(rng.uniform(0.05, 0.4)), 3),
        "duration_s": duration_s,
    }


def _sox_command(s: dict, sr: int, out: Path) -> list[str]:
    cmd = ["sox", "-R", "-n", "-r", str(sr), "-b", "32", "-e", "floating-point", "-c", "1", str(out), "synth", str(s["duration_s"]), s["osc"], str(s["f0_hz"])]
    if s["filter"] == "bandpass":
        cmd += ["bandpass", str(s["cutoff_hz"]), f"{s['q']}q"]
    else:
        cmd += [s["filter"], str(s["cutoff_hz"]), f"{s['q']}q"]
    cmd += ["fade", "q", str(s["fade_in_s"]), str(s["duration_s"]), str(s["fade_out_s"]), "norm", "-3"]
    return cmd


def sox_suite(n: int, seed: int = 0, sr: int = 22050, duration_s: float = 1.0) -> list[SuiteTarget]:
    """``n`` notes synthesised by SoX, labelled with their settings (deterministic for a seed).

    Labels: ``osc_type`` (ours), ``filter_type`` (ours), ``f0_hz``, ``cutoff_hz``,
    ``q``, ``fade_in_s``, ``fade_out_s`` and ``sox_command``.

    Raises
    ------
    SuiteError
        When ``sox`` is not installed (Debian package ``sox``) or fails.
    """
    if not sox_available():
        raise SuiteError("sox:N needs the 'sox' program, which is not installed (Debian: apt-get install -y sox; or run .ci/install-system-deps.sh)")
    import soundfile as sf  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    targets = []
    with tempfile.TemporaryDirectory(prefix="sox_suite_") as tmp:
        for i in range(n):
            s = _sox_settings(rng, duration_s)
            out = Path(tmp) / f"{i}.wav"
            cmd = _sox_command(s, sr, out)
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SuiteError(f"sox failed ({' '.join(cmd)}): {proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else proc.returncode}")
            audio, file_sr = sf.read(str(out), dtype="float32", always_2d=True)
            audio = audio.mean(axis=1).astype(np.float32)
            name = f"sox-{seed}-{i:03d}-{SOX_OSC_TO_OURS[s['osc']]}-{s['filter']}"
            labels = {
                "osc_type": SOX_OSC_TO_OURS[s["osc"]],
                "filter_type": s["filter"],
                "f0_hz": s["f0_hz"],
                "cutoff_hz": s["cutoff_hz"],
                "q": s["q"],
                "fade_in_s": s["fade_in_s"],
                "fade_out_s": s["fade_out_s"],
                "sox_command": " ".join(["sox", "-n", "-r", str(sr), "out.wav", *cmd[cmd.index("synth") :]]),
            }
            targets.append(SuiteTarget(name, audio, int(file_sr), None, labels))
    return targets


AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


def dir_suite(path: str | Path, sr: int = 22050) -> list[SuiteTarget]:
    """Every WAV/FLAC/OGG file under ``path`` (sorted, recursive), loaded like ``matcher match`` does; no truth."""
    from objectives.audio_io import TargetError, load_target  # noqa: PLC0415

    root = Path(path)
    if not root.is_dir():
        raise SuiteError(f"dir:{path}: not a folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
    if not files:
        raise SuiteError(f"dir:{path}: no .wav, .flac or .ogg file")
    targets = []
    for f in files:
        try:
            t = load_target(f, sr=sr, max_duration_s=8.0)
        except TargetError as exc:
            raise SuiteError(str(exc)) from None
        rel = f.relative_to(root).with_suffix("").as_posix().replace("/", "_")
        targets.append(SuiteTarget(f"dir-{rel}", t.audio, sr, None, {"file": str(f)}))
    return targets


def load_suite(spec: str, seed: int = 0, sr: int = 22050) -> list[SuiteTarget]:
    """Build the targets of a suite spec: ``in-domain:N``, ``sox:N``, ``scsynth:N``, ``faust:N``, ``gm:N`` or ``dir:PATH``.

    ``seed`` seeds the random suites (target names carry it, so two seeds never collide).
    The foreign suites render at 44.1 kHz and are resampled (soxr) when ``sr`` differs.
    """
    kind, _, arg = spec.partition(":")
    if kind in ("in-domain", "sox", *FOREIGN_KINDS):
        try:
            n = int(arg)
            if n < 1:
                raise ValueError
        except ValueError:
            raise SuiteError(f"suite {spec!r}: {kind}:N needs a positive number of targets") from None
        if kind == "in-domain":
            return in_domain_suite(n, seed=seed, sr=sr)
        if kind in FOREIGN_KINDS:
            targets = _foreign_suite(kind, n, seed)
            return [t if t.sr == sr else _resample(t, sr) for t in targets]
        targets = sox_suite(n, seed=seed, sr=sr)
        return [t if t.sr == sr else _resample(t, sr) for t in targets]
    if kind == "dir" and arg:
        return dir_suite(arg, sr=sr)
    raise SuiteError(f"unknown suite {spec!r} (known: {SUITE_HELP})")


def _foreign_suite(kind: str, n: int, seed: int) -> list[SuiteTarget]:
    if kind == "scsynth":
        from experiments.foreign.scsynth import scsynth_suite  # noqa: PLC0415

        return scsynth_suite(n, seed=seed)
    if kind == "faust":
        from experiments.foreign.faust import faust_suite  # noqa: PLC0415

        return faust_suite(n, seed=seed)
    from experiments.foreign.gm import gm_suite  # noqa: PLC0415

    return gm_suite(n, seed=seed)


def _resample(t: SuiteTarget, sr: int) -> SuiteTarget:
    import soxr  # noqa: PLC0415

    return SuiteTarget(t.name, soxr.resample(t.audio, t.sr, sr).astype(np.float32), sr, t.true_patch, t.labels)
