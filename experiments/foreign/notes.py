"""What the synthetic foreign suites share: the note draw, its labels, the level and the tool check.

A :class:`ForeignNote` is an engine-neutral description of one note: waveform,
f0, filter, amplitude envelope and one kind of movement (see :data:`KINDS`).
:mod:`experiments.foreign.scsynth` and :mod:`experiments.foreign.faust` each
turn it into their own program; the draw and the labels live here only, so the
two engines' suites are drawn the same way (each engine from its own generator
stream, so for one suite seed the two suites hold different notes).

Envelope shapes common to both engines (``t`` in s from the note's start,
``gate_s = duration_s - release_s``):

- amplitude: linear ADSR, 0 → 1 in ``attack_s``, → ``sustain`` in ``decay_s``,
  held, → 0 in ``release_s`` after ``gate_s``;
- pluck filter: ``cutoff_hz * 2 ** (fenv_amount_oct * max(0, 1 - t / fenv_decay_s))``
  (linear in octaves: the filter is closed to ``cutoff_hz`` at ``fenv_decay_s`` ≤ 0.3 s);
- pitch drop: ``f0_hz * 2 ** (pitch_drop_st / 12 * max(0, 1 - t / pitch_drop_s))``;
- vibrato: ``f0_hz * (1 + (2 ** (vibrato_cents / 1200) - 1) * sin(2 pi vibrato_rate_hz t))``,
  its depth ramped in over 0.1 s after ``vibrato_delay_s``;
- FM (phase modulation, sine carrier and modulator): ``sin(2 pi f0 t + index(t) sin(2 pi fm_ratio f0 t))``,
  ``index(t)`` falling exponentially from ``fm_index`` to ``fm_index / 5`` over ``fm_index_decay_s``;
- detune: two saws at ``f0_hz * 2 ** (± detune_cents / 2400)``, equal levels.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import asdict, dataclass

import numpy as np

__all__ = [
    "KINDS",
    "FILTER_RATIOS",
    "ForeignNote",
    "draw_note",
    "note_labels",
    "finish_audio",
    "require_tool",
    "PEAK_LEVEL",
]

KINDS = ("plain", "pluck", "detune", "vibrato", "fm", "pitch_drop")
"""Note kinds, cycled through in this order (target ``i`` has kind ``KINDS[i % 6]``)."""

OSC_TYPES = ("sine", "saw", "square", "triangle")
"""Waveforms, named as our ``osc_type`` choices."""

FILTER_RATIOS: dict[str, tuple[float, float]] = {"lowpass": (2.0, 10.0), "highpass": (1.0, 4.0), "bandpass": (1.5, 6.0)}
"""Cutoff (or centre) / f0 ratio drawn per filter family, log-uniform (the windows of ``sox:N``)."""

F0_RANGE_HZ = (70.0, 1000.0)
MAX_CUTOFF_HZ = 12000.0
PEAK_LEVEL = 10 ** (-3 / 20)
"""Every target is peak-normalised to −3 dBFS (as ``sox:N``'s ``norm -3``)."""


@dataclass(frozen=True)
class ForeignNote:
    """One synthetic note, engine-neutral (times in s, frequencies in Hz).

    ``osc_type`` is ``"none"`` for FM notes (sine carrier and modulator, no
    subtractive waveform); ``filter_type`` is ``"none"`` for unfiltered notes.
    ``filter_model`` is ``"biquad"`` (12 dB/oct resonant) or ``"ladder"`` (a
    24 dB Moog-style lowpass; its family is ``lowpass``). Movement fields not
    used by the note's ``kind`` are 0.
    """

    kind: str
    osc_type: str
    f0_hz: float
    filter_type: str
    filter_model: str
    cutoff_hz: float
    q: float
    attack_s: float
    decay_s: float
    sustain: float
    release_s: float
    duration_s: float
    fenv_amount_oct: float = 0.0
    fenv_decay_s: float = 0.0
    detune_cents: float = 0.0
    vibrato_rate_hz: float = 0.0
    vibrato_cents: float = 0.0
    vibrato_delay_s: float = 0.0
    fm_ratio: float = 0.0
    fm_index: float = 0.0
    fm_index_decay_s: float = 0.0
    pitch_drop_st: float = 0.0
    pitch_drop_s: float = 0.0

    @property
    def gate_s(self) -> float:
        """When the release starts (s)."""
        return self.duration_s - self.release_s


def _log_uniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.exp(rng.uniform(np.log(lo), np.log(hi))))


def _filter(rng: np.random.Generator, f0_hz: float, osc_type: str, families: tuple[str, ...]) -> tuple[str, str, float, float]:
    family = str(rng.choice(families))
    lo, hi = FILTER_RATIOS[family]
    if osc_type == "sine" and family == "highpass":
        hi = 1.5  # a sine through a highpass far above it is near-silent
    cutoff_hz = min(f0_hz * _log_uniform(rng, lo, hi), MAX_CUTOFF_HZ)
    model = "ladder" if family == "lowpass" and rng.uniform() < 0.3 else "biquad"
    return family, model, round(cutoff_hz, 1), round(float(rng.uniform(0.7, 3.0)), 2)


def _amp_env(rng: np.random.Generator, duration_s: float) -> dict[str, float]:
    attack_s = _log_uniform(rng, 0.003, 0.15)
    release_s = float(rng.uniform(0.05, 0.3))
    decay_s = min(_log_uniform(rng, 0.05, 0.4), duration_s - release_s - attack_s - 0.05)
    return {"attack_s": round(attack_s, 4), "decay_s": round(decay_s, 4), "sustain": round(float(rng.uniform(0.3, 0.9)), 3), "release_s": round(release_s, 3)}


def draw_note(rng: np.random.Generator, index: int, duration_s: float = 1.0) -> ForeignNote:
    """Draw note ``index`` of a suite (its kind is ``KINDS[index % 6]``).

    Parameters
    ----------
    rng : numpy.random.Generator
        The suite's generator, drawn from in note order (so a suite is a prefix of a longer one).
    index : int
        Position in the suite.
    duration_s : float
        Note length in s (0.5–2).

    Returns
    -------
    ForeignNote
    """
    if not 0.5 <= duration_s <= 2.0:
        raise ValueError(f"duration_s must be 0.5–2 s, got {duration_s}")
    kind = KINDS[index % len(KINDS)]
    f0_hz = round(_log_uniform(rng, *F0_RANGE_HZ), 2)
    env = _amp_env(rng, duration_s)
    extra: dict[str, float] = {}
    if kind == "plain":
        osc = str(rng.choice(OSC_TYPES))
        family, model, cutoff_hz, q = _filter(rng, f0_hz, osc, tuple(FILTER_RATIOS))
    elif kind == "pluck":
        osc = str(rng.choice(("saw", "square")))
        family, model, cutoff_hz, q = _filter(rng, f0_hz, osc, ("lowpass",))
        cutoff_hz = round(min(f0_hz * _log_uniform(rng, 1.2, 3.0), MAX_CUTOFF_HZ), 1)
        top = min(rng.uniform(2.0, 5.0), np.log2(MAX_CUTOFF_HZ / cutoff_hz))
        extra = {"fenv_amount_oct": round(float(top), 3), "fenv_decay_s": round(_log_uniform(rng, 0.05, 0.3), 4)}
        env = {"attack_s": round(_log_uniform(rng, 0.001, 0.008), 4), "decay_s": round(float(rng.uniform(0.2, 0.6)), 3),
               "sustain": round(float(rng.uniform(0.0, 0.3)), 3), "release_s": round(float(rng.uniform(0.05, 0.2)), 3)}
    elif kind == "detune":
        osc = "saw"
        family, model, cutoff_hz, q = _filter(rng, f0_hz, osc, ("lowpass", "bandpass"))
        extra = {"detune_cents": round(float(rng.uniform(8.0, 30.0)), 2)}
    elif kind == "vibrato":
        osc = str(rng.choice(OSC_TYPES))
        family, model, cutoff_hz, q = _filter(rng, f0_hz, osc, tuple(FILTER_RATIOS))
        extra = {"vibrato_rate_hz": round(float(rng.uniform(4.0, 7.0)), 2), "vibrato_cents": round(float(rng.uniform(15.0, 60.0)), 1),
                 "vibrato_delay_s": round(float(rng.uniform(0.0, 0.3)), 3)}
    elif kind == "fm":
        osc, family, model, cutoff_hz, q = "none", "none", "none", 0.0, 0.0
        extra = {"fm_ratio": float(rng.choice((1.0, 2.0, 3.0, 4.0))), "fm_index": round(float(rng.uniform(1.0, 5.0)), 2),
                 "fm_index_decay_s": round(_log_uniform(rng, 0.1, 0.6), 3)}
    else:  # pitch_drop
        osc = str(rng.choice(("saw", "square", "triangle")))
        family, model, cutoff_hz, q = _filter(rng, f0_hz, osc, ("lowpass", "bandpass"))
        extra = {"pitch_drop_st": round(float(rng.uniform(3.0, 24.0)), 2), "pitch_drop_s": round(_log_uniform(rng, 0.03, 0.25), 4)}
    env["decay_s"] = round(max(0.01, min(env["decay_s"], duration_s - env["release_s"] - env["attack_s"] - 0.02)), 4)
    return ForeignNote(kind=kind, osc_type=osc, f0_hz=f0_hz, filter_type=family, filter_model=model, cutoff_hz=cutoff_hz, q=q,
                       duration_s=duration_s, **env, **extra)


def note_labels(note: ForeignNote) -> dict[str, float | str]:
    """The labels a suite target carries.

    ``osc_type`` and ``filter_type`` (our choice names) are present only where
    the note has them (not for FM notes), so :func:`experiments.bench.score_patch`
    scores them only there. ``f0_hz`` is the settled pitch (after a drop; the
    carrier for FM; the centre of a detuned pair). Movement labels: ``kind``,
    ``fenv`` (1/0), ``fenv_amount_oct``, ``fenv_decay_s``, ``detune_cents``,
    ``vibrato`` (1/0), ``vibrato_rate_hz``, ``vibrato_cents``, ``fm_ratio``,
    ``fm_index``, ``pitch_drop_st``, ``pitch_drop_s``, each present only when used.
    """
    d = asdict(note)
    labels: dict[str, float | str] = {"kind": note.kind, "f0_hz": note.f0_hz}
    if note.osc_type != "none":
        labels["osc_type"] = note.osc_type
    if note.filter_type != "none":
        labels.update(filter_type=note.filter_type, filter_model=note.filter_model, cutoff_hz=note.cutoff_hz, q=note.q)
    labels.update({k: d[k] for k in ("attack_s", "decay_s", "sustain", "release_s", "duration_s")})
    labels["fenv"] = float(note.kind == "pluck")
    labels["vibrato"] = float(note.kind == "vibrato")
    for k in ("fenv_amount_oct", "fenv_decay_s", "detune_cents", "vibrato_rate_hz", "vibrato_cents", "vibrato_delay_s",
              "fm_ratio", "fm_index", "fm_index_decay_s", "pitch_drop_st", "pitch_drop_s"):
        if d[k]:
            labels[k] = d[k]
    return labels


def finish_audio(audio: np.ndarray, n_samples: int, what: str, fade_s: float = 0.005, sr: int = 44100) -> np.ndarray:
    """Mono float32 of exactly ``n_samples``, a short fade at the end, peak-normalised to −3 dBFS.

    Parameters
    ----------
    audio : ndarray, shape (n,) or (n, channels)
        The engine's output (channels are averaged).
    n_samples : int
        Target length (cut or zero-padded).
    what : str
        The target's name, for the error message.
    fade_s : float
        Linear fade-out at the end, in s (avoids a click where a tail is cut).
    sr : int
        Sample rate in Hz.

    Raises
    ------
    ValueError
        When the audio is silent or not finite.
    """
    a = np.asarray(audio, dtype=np.float64)
    if a.ndim == 2:
        a = a.mean(axis=1)
    a = a[:n_samples]
    if a.size < n_samples:
        a = np.pad(a, (0, n_samples - a.size))
    n_fade = min(a.size, max(1, int(round(fade_s * sr))))
    a[-n_fade:] *= np.linspace(1.0, 0.0, n_fade)
    peak = float(np.max(np.abs(a))) if a.size else 0.0
    if not np.all(np.isfinite(a)) or peak < 1e-6:
        raise ValueError(f"{what}: the engine rendered {'non-finite' if not np.all(np.isfinite(a)) else 'silent'} audio")
    return (a * (PEAK_LEVEL / peak)).astype(np.float32)


def require_tool(program: str, spec: str, hint: str) -> str:
    """The path of ``program``, or :class:`~experiments.sox_suite.SuiteError` saying how to install it.

    Parameters
    ----------
    program : str
        Executable looked up on the PATH.
    spec : str
        The suite spec that needs it (for the message), e.g. ``"scsynth:N"``.
    hint : str
        How to install it, e.g. ``"Debian: apt-get install -y supercollider-server"``.
    """
    from experiments.sox_suite import SuiteError  # noqa: PLC0415

    path = shutil.which(program)
    if path is None:
        raise SuiteError(f"{spec} needs the '{program}' program, which is not installed ({hint}; or run .ci/install-system-deps.sh)")
    return path


def render_with(cmd: list[str], out_wav, tool: str, what: str, cwd) -> np.ndarray:
    """Run an external renderer that writes ``out_wav``, and read it back.

    Returns
    -------
    ndarray, shape (n_samples, n_channels), float32

    Raises
    ------
    experiments.sox_suite.SuiteError
        When the tool fails or writes no file (with the last line it printed).
    """
    import soundfile as sf  # noqa: PLC0415

    from experiments.sox_suite import SuiteError  # noqa: PLC0415

    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0 or not out_wav.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or [str(proc.returncode)]
        raise SuiteError(f"{tool} failed on {what}: {tail[0]}")
    audio, _ = sf.read(str(out_wav), dtype="float32", always_2d=True)
    return audio
