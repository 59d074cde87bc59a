"""``gm:N``: recorded one-shots, General MIDI instruments of the FluidR3_GM soundfont played by fluidsynth.

Each target is one note of one GM program (see :data:`GM_PROGRAMS`: plucked,
bowed, blown, struck, organ, synth leads and basses), held for
:data:`NOTE_ON_S` and cut at ``duration_s`` (1 s by default) with a 20 ms fade,
so the instrument's own release is heard. The note is written as a one-track
standard MIDI file and rendered by ``fluidsynth -F`` at 44.1 kHz in float,
with reverb and chorus off (so no dither and no random modulation: the render
is deterministic); the stereo output is averaged to mono and peak-normalised
to −3 dBFS. Labels: ``f0_hz`` (the MIDI note's equal-tempered frequency, A4 =
440 Hz), ``midi_note``, ``gm_program`` (0-based), ``instrument`` (the GM
name), ``family``.

Licences: the soundfont is Debian's ``fluid-soundfont-gm`` (FluidR3_GM.sf2,
by Frank Wen and contributors, MIT licence); ``fluidsynth`` (Debian package
``fluidsynth``) is LGPL-2.1. Nothing is downloaded at run time.
"""

from __future__ import annotations

import os
import struct
import tempfile
from pathlib import Path

import numpy as np

from experiments.foreign.notes import finish_audio, render_with, require_tool
from experiments.suites import SuiteTarget

__all__ = ["GM_SR", "GM_PROGRAMS", "SOUNDFONT_PATHS", "INSTALL_HINT", "find_soundfont", "midi_file", "render_gm_note", "gm_suite"]

GM_SR = 44100
NOTE_ON_S = 0.75
VELOCITY = 100
INSTALL_HINT = "Debian: apt-get install -y --no-install-recommends fluidsynth fluid-soundfont-gm"

SOUNDFONT_PATHS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2",)
"""Where Debian's ``fluid-soundfont-gm`` puts the soundfont; ``MATCHER_GM_SOUNDFONT`` overrides it."""

GM_PROGRAMS: tuple[tuple[int, str, str, int, int], ...] = (
    (0, "Acoustic Grand Piano", "struck", 36, 84),
    (24, "Acoustic Guitar (nylon)", "plucked", 40, 76),
    (33, "Electric Bass (finger)", "plucked", 28, 55),
    (40, "Violin", "bowed", 55, 88),
    (42, "Cello", "bowed", 36, 67),
    (56, "Trumpet", "blown", 55, 82),
    (71, "Clarinet", "blown", 50, 84),
    (73, "Flute", "blown", 60, 93),
    (12, "Marimba", "struck", 48, 84),
    (16, "Drawbar Organ", "organ", 36, 84),
    (81, "Lead 2 (sawtooth)", "synth lead", 48, 84),
    (38, "Synth Bass 1", "synth bass", 28, 55),
    (46, "Orchestral Harp", "plucked", 36, 88),
    (45, "Pizzicato Strings", "plucked", 43, 79),
    (11, "Vibraphone", "struck", 53, 89),
    (80, "Lead 1 (square)", "synth lead", 48, 84),
)
"""(GM program, 0-based; GM name; family; lowest and highest MIDI note drawn), in suite order."""


def find_soundfont() -> Path:
    """The FluidR3_GM soundfont, or :class:`~experiments.sox_suite.SuiteError` saying how to install it."""
    from experiments.sox_suite import SuiteError  # noqa: PLC0415

    override = os.environ.get("MATCHER_GM_SOUNDFONT")
    for p in ([override] if override else []) + list(SOUNDFONT_PATHS):
        if Path(p).is_file():
            return Path(p)
    raise SuiteError(f"gm:N needs the FluidR3_GM soundfont, which is not installed ({INSTALL_HINT}; or run .ci/install-system-deps.sh)")


def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def midi_file(program: int, note: int, note_on_s: float, end_s: float, velocity: int = VELOCITY) -> bytes:
    """A format-0 standard MIDI file: one program change, one note on channel 0, the end of track at ``end_s``.

    Tempo 120 bpm at 480 ticks per quarter note (1 tick = 1/960 s).
    """
    ticks_per_s = 960
    on_ticks, end_ticks = int(round(note_on_s * ticks_per_s)), int(round(end_s * ticks_per_s))
    track = b"".join([
        _vlq(0) + b"\xff\x51\x03" + (500000).to_bytes(3, "big"),
        _vlq(0) + bytes([0xC0, program]),
        _vlq(0) + bytes([0x90, note, velocity]),
        _vlq(on_ticks) + bytes([0x80, note, 0]),
        _vlq(max(0, end_ticks - on_ticks)) + b"\xff\x2f\x00",
    ])
    return b"MThd" + struct.pack(">IHHH", 6, 0, 1, 480) + b"MTrk" + struct.pack(">I", len(track)) + track


def render_gm_note(program: int, note: int, duration_s: float = 1.0, what: str = "note", sr: int = GM_SR) -> np.ndarray:
    """Render one GM note with fluidsynth.

    Returns
    -------
    ndarray, shape (round(duration_s * sr),), float32
        Mono, peak-normalised to −3 dBFS.
    """
    from experiments.sox_suite import SuiteError  # noqa: PLC0415

    exe = require_tool("fluidsynth", "gm:N", INSTALL_HINT)
    sf2 = find_soundfont()
    with tempfile.TemporaryDirectory(prefix="gm_suite_") as tmp:
        mid, out = Path(tmp) / "note.mid", Path(tmp) / "out.wav"
        mid.write_bytes(midi_file(program, note, min(NOTE_ON_S, 0.75 * duration_s), duration_s + 0.1))
        cmd = [exe, "-n", "-i", "-q", "-R", "0", "-C", "0", "-g", "0.5", "-r", str(sr), "-O", "float", "-T", "wav", "-F", str(out), str(sf2), str(mid)]
        audio = render_with(cmd, out, "fluidsynth", what, tmp)
    try:
        return finish_audio(audio, int(round(duration_s * sr)), what, fade_s=0.02, sr=sr)
    except ValueError as exc:
        raise SuiteError(str(exc)) from None


def gm_suite(n: int, seed: int = 0, duration_s: float = 1.0) -> list[SuiteTarget]:
    """``n`` GM one-shots (deterministic for a seed): target ``i`` plays ``GM_PROGRAMS[i % 16]`` at a drawn note.

    The note is drawn uniformly from the program's range (see :data:`GM_PROGRAMS`).

    Raises
    ------
    SuiteError
        When fluidsynth or the soundfont is missing (Debian ``fluidsynth``, ``fluid-soundfont-gm``).
    """
    require_tool("fluidsynth", "gm:N", INSTALL_HINT)
    find_soundfont()
    rng = np.random.default_rng([seed, 0x6D])
    targets = []
    for i in range(n):
        program, instrument, family, lo, hi = GM_PROGRAMS[i % len(GM_PROGRAMS)]
        note = int(rng.integers(lo, hi + 1))
        slug = instrument.lower().replace(" (", "-").replace(")", "").replace(" ", "-")
        name = f"gm-{seed}-{i:03d}-{slug}-{note}"
        labels = {"f0_hz": round(440.0 * 2.0 ** ((note - 69) / 12.0), 3), "midi_note": note, "gm_program": program,
                  "instrument": instrument, "family": family, "engine": "fluidsynth", "soundfont": "FluidR3_GM (MIT)"}
        targets.append(SuiteTarget(name, render_gm_note(program, note, duration_s, name), GM_SR, None, labels))
    return targets
