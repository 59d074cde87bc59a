"""``faust:N``: notes written as Faust programs, compiled and rendered by DawDreamer.

Each :class:`~experiments.foreign.notes.ForeignNote` becomes one Faust program
(see :func:`faust_program`) built from the Faust standard libraries:
``os.sawtooth``, ``os.square``, ``os.triangle`` (band-limited) and ``os.osc``;
``fi.resonlp``, ``fi.resonhp``, ``fi.resonbp`` (12 dB resonant biquads) or
``ve.moog_vcf`` (the 24 dB Moog ladder, resonance ``min(0.85, (q - 0.5) / 3)``);
envelopes and the pitch, filter and vibrato movements are closed-form
functions of the sample clock ``ba.time`` with the shapes of
:mod:`experiments.foreign.notes`; FM is phase modulation of a sine.

A fresh DawDreamer ``RenderEngine`` (44.1 kHz, 128-sample blocks) renders
each note, so the notes do not depend on each other (DESIGN §5.5 warns that
DawDreamer renders through one engine are not independent).

DawDreamer comes from PyPI (``pip install 'matcher[foreign]'`` or
``pip install dawdreamer``; GPL-3, with libfaust inside the wheel).
"""

from __future__ import annotations

import numpy as np

from experiments.foreign.notes import ForeignNote, draw_note, finish_audio, note_labels
from experiments.suites import SuiteTarget

__all__ = ["FAUST_SR", "INSTALL_HINT", "faust_program", "render_note", "faust_suite"]

FAUST_SR = 44100
BLOCK_SIZE = 128
INSTALL_HINT = "PyPI: pip install 'matcher[foreign]' (or pip install dawdreamer)"


def _f(x: float) -> str:
    """A float literal Faust reads as a float (never an int, so no integer division)."""
    return repr(float(x))


def _frequency(n: ForeignNote) -> str:
    f0 = _f(n.f0_hz)
    if n.kind == "pitch_drop":
        return f"{f0} * pow(2.0, {_f(n.pitch_drop_st / 12.0)} * ramp({_f(n.pitch_drop_s)}))"
    if n.kind == "vibrato":
        k = 2.0 ** (n.vibrato_cents / 1200.0) - 1.0
        fade = f"min(1.0, max(0.0, (t - {_f(n.vibrato_delay_s)}) / 0.1))"
        return f"{f0} * (1.0 + {_f(k)} * sin(2.0 * ma.PI * {_f(n.vibrato_rate_hz)} * t) * {fade})"
    return f0


_OSC = {"saw": "os.sawtooth", "square": "os.square", "triangle": "os.triangle", "sine": "os.osc"}


def _source(n: ForeignNote) -> str:
    if n.kind == "fm":
        index = f"{_f(n.fm_index)} * pow(0.2, min(t / {_f(n.fm_index_decay_s)}, 1.0))"
        mod = f"sin(2.0 * ma.PI * os.lf_sawpos({_f(n.f0_hz * n.fm_ratio)}))"
        return f"sin(2.0 * ma.PI * os.lf_sawpos({_f(n.f0_hz)}) + {index} * {mod})"
    if n.kind == "detune":
        r = 2.0 ** (n.detune_cents / 2400.0)
        return f"(os.sawtooth({_f(n.f0_hz * r)}) + os.sawtooth({_f(n.f0_hz / r)})) * 0.5"
    return f"{_OSC[n.osc_type]}(freq)"


def _filter(n: ForeignNote) -> str:
    if n.filter_type == "none":
        return "_"
    if n.filter_model == "ladder":
        return f"ve.moog_vcf({_f(min(0.85, max(0.0, (n.q - 0.5) / 3.0)))}, cutoff)"
    kind = {"lowpass": "resonlp", "highpass": "resonhp", "bandpass": "resonbp"}[n.filter_type]
    return f"fi.{kind}(cutoff, {_f(n.q)}, 1.0)"


def faust_program(note: ForeignNote) -> str:
    """The Faust source (mono output) that plays ``note`` once from the start."""
    n = note
    cutoff = f"{_f(n.cutoff_hz)} * pow(2.0, {_f(n.fenv_amount_oct)} * ramp({_f(n.fenv_decay_s)}))" if n.kind == "pluck" else _f(n.cutoff_hz)
    amp = (f"min(t / {_f(n.attack_s)}, 1.0) * max({_f(n.sustain)}, 1.0 - {_f(1.0 - n.sustain)} * max(t - {_f(n.attack_s)}, 0.0) / {_f(n.decay_s)})"
           f" * max(0.0, 1.0 - max(t - {_f(n.gate_s)}, 0.0) / {_f(n.release_s)})")
    return "\n".join([
        'import("stdfaust.lib");',
        "t = ba.time / ma.SR;",
        "ramp(T) = max(0.0, 1.0 - t / T);",
        f"freq = {_frequency(n)};",
        f"cutoff = {cutoff};",
        f"amp = {amp};",
        f"process = {_source(n)} : {_filter(n)} : *(amp);",
        "",
    ])


def _dawdreamer():
    from experiments.sox_suite import SuiteError  # noqa: PLC0415

    try:
        import dawdreamer  # noqa: PLC0415
    except ImportError:
        raise SuiteError(f"faust:N needs the Python package 'dawdreamer', which is not installed ({INSTALL_HINT})") from None
    return dawdreamer


def render_note(note: ForeignNote, what: str = "note", sr: int = FAUST_SR) -> np.ndarray:
    """Compile ``note``'s Faust program and render it with a fresh DawDreamer engine.

    Returns
    -------
    ndarray, shape (round(duration_s * sr),), float32
        Mono, peak-normalised to −3 dBFS.

    Raises
    ------
    SuiteError
        When DawDreamer is missing, the program does not compile or the render is silent.
    """
    from experiments.sox_suite import SuiteError  # noqa: PLC0415

    dd = _dawdreamer()
    engine = dd.RenderEngine(sr, BLOCK_SIZE)
    proc = engine.make_faust_processor("note")
    if not proc.set_dsp_string(faust_program(note)):
        raise SuiteError(f"faust: {what}: the Faust program did not compile")
    engine.load_graph([(proc, [])])
    engine.render(float(note.duration_s))
    audio = np.asarray(engine.get_audio(), dtype=np.float64).T  # (n, channels)
    try:
        return finish_audio(audio, int(round(note.duration_s * sr)), what, sr=sr)
    except ValueError as exc:
        raise SuiteError(str(exc)) from None


def faust_suite(n: int, seed: int = 0, duration_s: float = 1.0) -> list[SuiteTarget]:
    """``n`` labelled notes rendered by Faust through DawDreamer at 44.1 kHz (deterministic for a seed).

    The notes are drawn as :func:`experiments.foreign.scsynth.scsynth_suite`'s
    (kind ``KINDS[i % 6]``) but from a different stream, so the two suites do
    not hold the same notes; labels as :func:`experiments.foreign.notes.note_labels`,
    plus ``engine`` = ``"faust"``.

    Raises
    ------
    SuiteError
        When DawDreamer is not installed or a render fails.
    """
    _dawdreamer()
    rng = np.random.default_rng([seed, 0xFA])
    targets = []
    for i in range(n):
        note = draw_note(rng, i, duration_s)
        name = f"faust-{seed}-{i:03d}-{note.kind}-{note.osc_type}-{note.filter_type}"
        targets.append(SuiteTarget(name, render_note(note, name), FAUST_SR, None, {**note_labels(note), "engine": "faust"}))
    return targets
