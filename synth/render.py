"""The Pyo renderer: ``render(patch, sr, n_samples) -> float32 mono``, a pure function.

One Pyo server per process (``audio="manual"``, no sound card), booted on first
use and rebooted only when the sample rate changes.  Every render builds a fresh
graph, records it into a table in RAM (no file per render) and returns a copy.
Noise comes from a seeded table instead of Pyo's ``Noise``, so identical patches
give bit-identical audio, noise included.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
from typing import Any, Mapping

import numpy as np

from synth.voices import OSC_TYPES, get_voice

__all__ = ["render", "Renderer", "RenderContext", "get_renderer", "import_pyo", "NOISE_SEED", "BUFFER_SIZE", "harmonic_amplitudes", "NOISE_REF_SR", "noise_samples"]

NOISE_SEED = 20240601
"""Seed of the white-noise table shared by every render (same noise, every time)."""

NOISE_REF_SR = 22050
"""Reference rate of the noise level: uniform noise in [-1, 1] at this rate sets the power per hertz at every rate."""

BUFFER_SIZE = 256
"""Pyo block size in samples."""

WAVETABLE_SIZE = 8192
"""Samples per oscillator wavetable cycle."""

MAX_HARMONICS = 512
"""Cap on the number of partials of a band-limited wavetable."""


def import_pyo() -> Any:
    """Import Pyo without its GUI-toolkit notice on stdout."""
    os.environ.setdefault("PYO_GUI_WX", "0")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        import pyo  # noqa: PLC0415 - deferred: importing pyo is slow and chatty
    return pyo


def harmonic_amplitudes(osc_type: str, n_harmonics: int) -> np.ndarray:
    """Sine-phase Fourier amplitudes of a band-limited waveform.

    Returns
    -------
    ndarray, shape (n_harmonics + 1,)
        Amplitude of harmonic ``k`` at index ``k`` (index 0, DC, is 0).
    """
    k = np.arange(n_harmonics + 1, dtype=float)
    a = np.zeros(n_harmonics + 1)
    if osc_type == "sine":
        a[1] = 1.0
    elif osc_type == "saw":
        a[1:] = (2.0 / np.pi) * (-1.0) ** (k[1:] + 1) / k[1:]
    elif osc_type == "square":
        odd = (k % 2 == 1)
        a[odd] = (4.0 / np.pi) / k[odd]
    elif osc_type == "triangle":
        odd = (k % 2 == 1)
        a[odd] = (8.0 / np.pi**2) * (-1.0) ** ((k[odd] - 1) / 2) / k[odd] ** 2
    else:
        raise ValueError(f"unknown oscillator type {osc_type!r} (expected one of {OSC_TYPES})")
    return a


def wavetable_samples(osc_type: str, n_harmonics: int, size: int = WAVETABLE_SIZE) -> np.ndarray:
    """One cycle of a band-limited waveform, shape (size,), float64, peak about 1."""
    a = harmonic_amplitudes(osc_type, n_harmonics)
    spectrum = np.zeros(size // 2 + 1, dtype=complex)
    spectrum[: len(a)] = -0.5j * size * a
    return np.fft.irfft(spectrum, n=size)


NOISE_TABLE_S = 30
"""Length of the noise table in seconds (the noise does not repeat within a note)."""


def noise_samples(seed: int, sr: int) -> np.ndarray:
    """Seeded white noise, white up to the Nyquist frequency of ``sr``.

    Uniform in ``[-a, a]`` with ``a = sqrt(sr / NOISE_REF_SR)``: the power per
    hertz is the same at every rate (that of uniform noise in [-1, 1] at
    :data:`NOISE_REF_SR`), so a patch's noise has the same level in the band
    two rates share, and a higher rate adds the band above instead of
    spreading the same power thinner.  At :data:`NOISE_REF_SR` the samples are
    exactly those of earlier versions (dataset parity).

    Returns
    -------
    ndarray, shape (NOISE_TABLE_S * sr,), float32
    """
    rng = np.random.default_rng(int(seed))
    samples = rng.uniform(-1.0, 1.0, NOISE_TABLE_S * int(sr)).astype(np.float32)
    if int(sr) != NOISE_REF_SR:
        samples *= np.float32(math.sqrt(sr / NOISE_REF_SR))
    return samples


class RenderContext:
    """Per-server resources a voice may use: sample rate, cached tables.

    Tables belong to the server that made them, so a context is discarded
    whenever the server is rebooted.
    """

    def __init__(self, pyo: Any, sr: int) -> None:
        self.pyo = pyo
        self.sr = int(sr)
        self.noise_seed = NOISE_SEED
        self._wavetables: dict[tuple[str, int], Any] = {}
        self._noise: dict[int, Any] = {}
        self._records: dict[int, Any] = {}
        self._controls: dict[tuple[str, int], Any] = {}

    def wavetable(self, osc_type: str, freq_hz: float) -> Any:
        """Band-limited wavetable for ``osc_type`` at ``freq_hz`` (no partial above 0.45·sr)."""
        n_harm = 1 if osc_type == "sine" else max(1, min(MAX_HARMONICS, int(0.45 * self.sr / max(freq_hz, 1.0))))
        key = (osc_type, n_harm)
        table = self._wavetables.get(key)
        if table is None:
            samples = wavetable_samples(osc_type, n_harm)
            table = self.pyo.DataTable(size=len(samples), init=samples.tolist())
            self._wavetables[key] = table
        return table

    def noise_table(self) -> Any:
        """This context's seeded white noise (:func:`noise_samples` at its rate), as a Pyo table."""
        table = self._noise.get(self.noise_seed)
        if table is None:
            samples = noise_samples(self.noise_seed, self.sr)
            table = self.pyo.DataTable(size=len(samples))
            np.asarray(table.getBuffer())[:] = samples
            self._noise[self.noise_seed] = table
        return table

    def record_table(self, n_samples: int) -> Any:
        """A reusable table of ``n_samples`` that the output is recorded into."""
        table = self._records.get(n_samples)
        if table is None:
            table = self.pyo.DataTable(size=n_samples)
            self._records[n_samples] = table
        return table

    def control_table(self, name: str, size: int) -> Any:
        """A reusable scratch table of ``size`` points for a voice's control signal ``name``.

        A voice writes its control curve (a pitch or cutoff track) into it at
        every render; renders are sequential, so one table per (name, size)
        suffices.  Voices round ``size`` up (e.g. to a power of two) to keep
        the cache small.
        """
        key = (str(name), int(size))
        table = self._controls.get(key)
        if table is None:
            table = self.pyo.DataTable(size=int(size))
            self._controls[key] = table
        return table


class Renderer:
    """Owns this process's Pyo server and renders patches offline into memory."""

    def __init__(self) -> None:
        self._pyo: Any = None
        self._server: Any = None
        self._ctx: RenderContext | None = None

    def _ensure_server(self, sr: int) -> RenderContext:
        if self._ctx is not None and self._ctx.sr == sr:
            return self._ctx
        pyo = self._pyo = self._pyo or import_pyo()
        if self._server is None:
            self._server = pyo.Server(sr=sr, nchnls=1, buffersize=BUFFER_SIZE, duplex=0, audio="manual", winhost=None)
            self._server.setVerbosity(0)
            self._server.boot()
        else:
            self._ctx = None  # drop tables that belong to the old boot
            self._server.shutdown()
            self._server.setSamplingRate(sr)
            self._server.boot()
        self._server.start()
        self._ctx = RenderContext(pyo, sr)
        return self._ctx

    def render(
        self,
        patch: Mapping[str, float | str],
        sr: int,
        n_samples: int,
        voice: str = "subtractive",
        noise_seed: int = NOISE_SEED,
    ) -> np.ndarray:
        """Render one note.

        Parameters
        ----------
        patch : mapping
            Parameter name -> physical value (choices by name), as decoded by the voice's space.
        sr : int
            Sample rate in Hz.
        n_samples : int
            Output length in samples.
        voice : str
            Registered voice name.
        noise_seed : int
            Seed of the noise realisation; the default is the one every search uses.
            Another seed plays the same patch with different noise samples, as a
            recording would.

        Returns
        -------
        ndarray, shape (n_samples,), float32
            Mono audio; bit-identical for identical arguments.
        """
        if n_samples < 1:
            raise ValueError("n_samples must be positive")
        v = get_voice(voice)
        ctx = self._ensure_server(int(sr))
        record = ctx.record_table(int(n_samples))
        ctx.noise_seed = int(noise_seed)
        out = v.build(ctx.pyo, patch, ctx)
        # TableRec adds 0 x the old content: an inf or NaN left by an earlier
        # render would otherwise come back as NaN in every later one.
        np.asarray(record.getBuffer())[:] = 0.0
        rec = ctx.pyo.TableRec(out, table=record, fadetime=0).play()
        for _ in range(math.ceil(n_samples / BUFFER_SIZE) + 1):
            self._server.process()
        audio = np.array(record.getBuffer(), dtype=np.float32, copy=True)
        rec.stop()
        out.stop()
        for obj in getattr(out, "_matcher_keep", ()):
            obj.stop()
        return audio


_RENDERER: Renderer | None = None


def get_renderer() -> Renderer:
    """This process's renderer (the one Pyo server per process)."""
    global _RENDERER  # noqa: PLW0603 - the single allowed per-process server
    if _RENDERER is None:
        _RENDERER = Renderer()
    return _RENDERER


def render(
    patch: Mapping[str, float | str],
    sr: int,
    n_samples: int,
    voice: str = "subtractive",
    noise_seed: int = NOISE_SEED,
) -> np.ndarray:
    """Render ``patch`` with this process's server; see :meth:`Renderer.render`."""
    return get_renderer().render(patch, sr, n_samples, voice, noise_seed)
