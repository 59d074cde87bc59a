"""Binary encoders for SuperCollider's server: SynthDef files (version 2) and NRT OSC scores.

Only what :mod:`experiments.foreign.scsynth` needs: a UGen graph builder that
writes the ``SCgf`` version-2 SynthDef format, OSC messages and bundles, and
the non-real-time score file (a sequence of length-prefixed OSC bundles).
Formats as documented in SuperCollider's help ("Synth Definition File Format",
"Non-Realtime Synthesis (NRT)", "OSC Command Reference"); all integers and
floats are big-endian.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Sequence

__all__ = ["IR", "KR", "AR", "UGenOut", "SynthDefGraph", "osc_message", "osc_bundle", "nrt_score"]

IR, KR, AR = 0, 1, 2
"""Calculation rates: scalar (initialisation), control, audio."""

BINOP = {"add": 0, "sub": 1, "mul": 2, "div": 4, "min": 12, "max": 13}
"""BinaryOpUGen special indices (SuperCollider's ``Operator`` numbering)."""


@dataclass(frozen=True)
class UGenOut:
    """One output of a UGen in a :class:`SynthDefGraph` (``ugen`` index, ``output`` index, its ``rate``)."""

    ugen: int
    output: int
    rate: int


Input = float | UGenOut


def _pstring(s: str) -> bytes:
    b = s.encode("ascii")
    if len(b) > 255:
        raise ValueError(f"name too long for a pstring: {s!r}")
    return struct.pack(">B", len(b)) + b


@dataclass
class SynthDefGraph:
    """A SynthDef without controls: every value is a constant, UGens are added in order (so inputs come first).

    Examples
    --------
    >>> g = SynthDefGraph("beep")
    >>> osc = g.ugen("SinOsc", AR, [440.0, 0.0])
    >>> _ = g.ugen("Out", AR, [0.0, g.mul(osc, 0.1)], n_outputs=0)
    >>> g.encode()[:4]
    b'SCgf'
    """

    name: str
    constants: list[float] = field(default_factory=list)
    ugens: list[tuple[str, int, list[tuple[int, int]], int, int]] = field(default_factory=list)

    def _input(self, x: Input) -> tuple[int, int]:
        if isinstance(x, UGenOut):
            return (x.ugen, x.output)
        v = float(struct.unpack(">f", struct.pack(">f", float(x)))[0])
        if v not in self.constants:
            self.constants.append(v)
        return (-1, self.constants.index(v))

    def ugen(self, cls: str, rate: int, inputs: Sequence[Input], n_outputs: int = 1, special: int = 0) -> UGenOut:
        """Append a UGen; returns its first output (see :meth:`outputs` for the others)."""
        specs = [self._input(x) for x in inputs]
        self.ugens.append((cls, int(rate), specs, int(n_outputs), int(special)))
        return UGenOut(len(self.ugens) - 1, 0, int(rate))

    def binop(self, op: str, a: Input, b: Input) -> UGenOut:
        """``a <op> b`` as a BinaryOpUGen, at the faster of the inputs' rates."""
        rate = max([x.rate for x in (a, b) if isinstance(x, UGenOut)] or [IR])
        return self.ugen("BinaryOpUGen", rate, [a, b], special=BINOP[op])

    def mul(self, a: Input, b: Input) -> UGenOut:
        """``a * b``."""
        return self.binop("mul", a, b)

    def add(self, a: Input, b: Input) -> UGenOut:
        """``a + b``."""
        return self.binop("add", a, b)

    def env(self, rate: int, levels: Sequence[float], times_s: Sequence[float], shape: int = 1) -> UGenOut:
        """An EnvGen running once from the synth's start (gate 1, no release node, done action 0).

        ``shape`` is the Env curve number for every segment: 1 linear, 2 exponential (levels must be non-zero).
        """
        if len(levels) != len(times_s) + 1:
            raise ValueError("an envelope needs one level more than times")
        spec: list[float] = [float(levels[0]), float(len(times_s)), -99.0, -99.0]
        for level, t in zip(levels[1:], times_s):
            spec += [float(level), max(0.0, float(t)), float(shape), 0.0]
        return self.ugen("EnvGen", rate, [1.0, 1.0, 0.0, 1.0, 0.0, *spec])

    def encode(self) -> bytes:
        """The SynthDef file (``SCgf`` version 2, one definition), ready for ``/d_recv``."""
        out = [b"SCgf", struct.pack(">iH", 2, 1), _pstring(self.name)]
        out.append(struct.pack(">i", len(self.constants)))
        out += [struct.pack(">f", c) for c in self.constants]
        out.append(struct.pack(">ii", 0, 0))  # no parameters, no parameter names
        out.append(struct.pack(">i", len(self.ugens)))
        for cls, rate, specs, n_out, special in self.ugens:
            out.append(_pstring(cls) + struct.pack(">biih", rate, len(specs), n_out, special))
            out += [struct.pack(">ii", u, i) for u, i in specs]
            out += [struct.pack(">b", rate)] * n_out
        out.append(struct.pack(">H", 0))  # no variants
        return b"".join(out)


def _osc_string(s: str) -> bytes:
    b = s.encode("ascii") + b"\0"
    return b + b"\0" * (-len(b) % 4)


def osc_message(address: str, *args: int | float | str | bytes) -> bytes:
    """An OSC message: ``int`` → ``i``, ``float`` → ``f``, ``str`` → ``s``, ``bytes`` → ``b`` (blob)."""
    tags, data = ",", []
    for a in args:
        if isinstance(a, bool) or not isinstance(a, (int, float, str, bytes)):
            raise TypeError(f"unsupported OSC argument {a!r}")
        if isinstance(a, int):
            tags += "i"
            data.append(struct.pack(">i", a))
        elif isinstance(a, float):
            tags += "f"
            data.append(struct.pack(">f", a))
        elif isinstance(a, str):
            tags += "s"
            data.append(_osc_string(a))
        else:
            tags += "b"
            data.append(struct.pack(">i", len(a)) + a + b"\0" * (-len(a) % 4))
    return _osc_string(address) + _osc_string(tags) + b"".join(data)


def osc_bundle(time_s: float, messages: Sequence[bytes]) -> bytes:
    """An OSC bundle whose time tag is ``time_s`` seconds from the score's start (NTP 32.32 fixed point)."""
    secs = int(time_s)
    frac = int(round((time_s - secs) * 2**32)) & 0xFFFFFFFF
    body = b"".join(struct.pack(">i", len(m)) + m for m in messages)
    return b"#bundle\0" + struct.pack(">II", secs, frac) + body


def nrt_score(bundles: Sequence[bytes]) -> bytes:
    """A non-real-time score file: each bundle prefixed by its length (int32)."""
    return b"".join(struct.pack(">i", len(b)) + b for b in bundles)
