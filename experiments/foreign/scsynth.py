"""``scsynth:N``: notes rendered by SuperCollider's server (scsynth) in non-real-time mode.

Each :class:`~experiments.foreign.notes.ForeignNote` becomes its own SynthDef
(every value a constant) built from SuperCollider's own UGens: ``Saw``,
``Pulse`` (width 0.5), ``LFTri`` and ``SinOsc`` oscillators; ``RLPF``,
``RHPF`` and ``BPF`` (12 dB resonant, ``rq = 1 / q``) or ``MoogFF`` (the 24 dB
Moog ladder, gain ``min(3.5, q)``) filters; ``EnvGen`` envelopes (linear
amplitude ADSR, exponential filter-cutoff and pitch ramps, i.e. linear in
octaves); phase modulation for FM (``SinOsc`` into ``SinOsc``'s phase, as
SuperCollider's ``PMOsc``). The score (``/d_recv`` of the SynthDef, ``/s_new``
at 0 s, the end at ``duration_s``) is written by
:mod:`experiments.foreign.sc_binary` and rendered with
``scsynth -N score.osc _ out.wav 44100 WAV float -o 1``: 44.1 kHz, mono float.
No sclang is needed.

scsynth comes from Debian's ``supercollider-server`` (GPL-3; the rendered notes are ours).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from experiments.foreign.notes import ForeignNote, draw_note, finish_audio, note_labels, render_with, require_tool
from experiments.foreign.sc_binary import AR, SynthDefGraph, UGenOut, nrt_score, osc_bundle, osc_message
from experiments.suites import SuiteTarget

__all__ = ["SCSYNTH_SR", "INSTALL_HINT", "note_synthdef", "render_note", "scsynth_suite"]

SCSYNTH_SR = 44100
INSTALL_HINT = "Debian: apt-get install -y --no-install-recommends supercollider-server"


def _vibrato(g: SynthDefGraph, n: ForeignNote) -> UGenOut:
    k = 2.0 ** (n.vibrato_cents / 1200.0) - 1.0
    depth = g.env(AR, [0.0, 0.0, k], [n.vibrato_delay_s, 0.1])
    lfo = g.ugen("SinOsc", AR, [n.vibrato_rate_hz, 0.0])
    return g.mul(n.f0_hz, g.add(1.0, g.mul(lfo, depth)))


def _frequency(g: SynthDefGraph, n: ForeignNote) -> float | UGenOut:
    if n.kind == "pitch_drop":
        return g.env(AR, [n.f0_hz * 2.0 ** (n.pitch_drop_st / 12.0), n.f0_hz], [n.pitch_drop_s], shape=2)
    if n.kind == "vibrato":
        return _vibrato(g, n)
    return n.f0_hz


_OSC = {"saw": ("Saw", []), "square": ("Pulse", [0.5]), "triangle": ("LFTri", [0.0]), "sine": ("SinOsc", [0.0])}


def _source(g: SynthDefGraph, n: ForeignNote) -> UGenOut:
    if n.kind == "fm":
        index = g.env(AR, [n.fm_index, n.fm_index / 5.0], [n.fm_index_decay_s], shape=2)
        mod = g.ugen("SinOsc", AR, [n.f0_hz * n.fm_ratio, 0.0])
        return g.ugen("SinOsc", AR, [n.f0_hz, g.mul(mod, index)])
    if n.kind == "detune":
        ratio = 2.0 ** (n.detune_cents / 2400.0)
        a = g.ugen("Saw", AR, [n.f0_hz * ratio])
        b = g.ugen("Saw", AR, [n.f0_hz / ratio])
        return g.mul(g.add(a, b), 0.5)
    cls, rest = _OSC[n.osc_type]
    return g.ugen(cls, AR, [_frequency(g, n), *rest])


def _filtered(g: SynthDefGraph, n: ForeignNote, x: UGenOut) -> UGenOut:
    if n.filter_type == "none":
        return x
    if n.kind == "pluck":
        top = n.cutoff_hz * 2.0 ** n.fenv_amount_oct
        cutoff: float | UGenOut = g.env(AR, [top, n.cutoff_hz], [n.fenv_decay_s], shape=2)
    else:
        cutoff = n.cutoff_hz
    if n.filter_model == "ladder":
        return g.ugen("MoogFF", AR, [x, cutoff, min(3.5, n.q), 0.0])
    cls = {"lowpass": "RLPF", "highpass": "RHPF", "bandpass": "BPF"}[n.filter_type]
    return g.ugen(cls, AR, [x, cutoff, 1.0 / n.q])


def note_synthdef(note: ForeignNote, name: str = "note") -> bytes:
    """The SynthDef (``SCgf`` v2 bytes) that plays ``note`` once, to bus 0."""
    g = SynthDefGraph(name)
    y = _filtered(g, note, _source(g, note))
    amp = g.env(AR, [0.0, 1.0, note.sustain, note.sustain, 0.0],
                [note.attack_s, note.decay_s, max(0.0, note.gate_s - note.attack_s - note.decay_s), note.release_s])
    g.ugen("Out", AR, [0.0, g.mul(y, amp)], n_outputs=0)
    return g.encode()


def render_note(note: ForeignNote, what: str = "note", sr: int = SCSYNTH_SR) -> np.ndarray:
    """Render ``note`` with scsynth in NRT mode.

    Returns
    -------
    ndarray, shape (round(duration_s * sr),), float32
        Mono, peak-normalised to −3 dBFS.

    Raises
    ------
    SuiteError
        When ``scsynth`` is missing or fails.
    """
    from experiments.sox_suite import SuiteError  # noqa: PLC0415

    exe = require_tool("scsynth", "scsynth:N", INSTALL_HINT)
    score = nrt_score([
        osc_bundle(0.0, [osc_message("/d_recv", note_synthdef(note)), osc_message("/s_new", "note", 1000, 0, 0)]),
        osc_bundle(note.duration_s, [osc_message("/c_set", 0, 0)]),
    ])
    with tempfile.TemporaryDirectory(prefix="scsynth_suite_") as tmp:
        score_path, out = Path(tmp) / "score.osc", Path(tmp) / "out.wav"
        score_path.write_bytes(score)
        cmd = [exe, "-N", str(score_path), "_", str(out), str(sr), "WAV", "float", "-o", "1", "-D", "0"]
        audio = render_with(cmd, out, "scsynth", what, tmp)
    try:
        return finish_audio(audio, int(round(note.duration_s * sr)), what, sr=sr)
    except ValueError as exc:
        raise SuiteError(str(exc)) from None


def scsynth_suite(n: int, seed: int = 0, duration_s: float = 1.0) -> list[SuiteTarget]:
    """``n`` labelled notes rendered by scsynth at 44.1 kHz (deterministic for a seed).

    Target ``i`` has kind ``KINDS[i % 6]`` (plain, pluck, detune, vibrato, FM,
    pitch drop); labels as :func:`experiments.foreign.notes.note_labels`, plus
    ``engine`` = ``"scsynth"``.

    Raises
    ------
    SuiteError
        When ``scsynth`` is not installed (Debian package ``supercollider-server``) or fails.
    """
    require_tool("scsynth", "scsynth:N", INSTALL_HINT)
    rng = np.random.default_rng([seed, 0x5C])
    targets = []
    for i in range(n):
        note = draw_note(rng, i, duration_s)
        name = f"scsynth-{seed}-{i:03d}-{note.kind}-{note.osc_type}-{note.filter_type}"
        targets.append(SuiteTarget(name, render_note(note, name), SCSYNTH_SR, None, {**note_labels(note), "engine": "scsynth"}))
    return targets
