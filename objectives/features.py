"""Target analysis (once per target) and the fast per-candidate feature extractor.

The fitness runs once per candidate, right after a ~1 ms Pyo render, so its
feature extraction must cost a fraction of that.  :class:`Featurizer` is built
once for a given ``(sr, n_samples)`` and holds everything that does not depend
on the audio: a zero-padded input buffer per STFT resolution with its strided
frame view (:func:`numpy.lib.stride_tricks.sliding_window_view`), the periodic
Hann window and the mel filterbanks (:func:`librosa.filters.mel`).  A call then
costs, per resolution: one copy, one window multiply, one batched real FFT
(:func:`scipy.fft.rfft`, ``workers=1``), one in-place square, a sum over pooled
frames and one small matrix product per band set, all float32, with no Python
loop over frames.  Pooling is done on the power spectrum *before* the mel
projection (the two are linear and commute), so a long pool makes the product
almost free.  The RMS envelope comes from the waveform in one pass (squares
summed per 128-sample hop, one 5-tap convolution): at a 5.8 ms hop that is far
cheaper than the 256-point STFT that a Parseval envelope needs (an earlier
version did exactly that, and the second FFT pass cost ~0.1 ms, half the budget).

:func:`analyse` runs the same featurizer on the target, so a candidate
identical to the target yields bit-identical features (distance exactly 0).

Default terms (chosen by measurement, see ``experiments/noise_floor.py`` and
:mod:`objectives.distance`), from one 1024-point STFT (hop 512, 46 ms window):

* ``fine``: 64 mel bands of the power pooled over blocks of up to 1 s (a
  long-term average spectrum): harmonic positions, pitch;
* ``coarse``: 16 mel bands of the same pooled power: the smooth spectral
  envelope (filter cutoff and type), with little noise-realisation variance;
* ``time``: 12 mel bands on every frame (23 ms hop): spectral change over the note;
* ``frames``: 64 mel bands on every frame, with a floor of its own 80 dB below
  the target's loudest cell (the others: :data:`FLOOR_DB`): the short-time
  spectrum in the detail a per-frame metric (MFCC, MSS) sees.  Weighted 0 by
  default (noisier than the pooled terms in-domain) and skipped when so;
  a race of voices weighs it most (:data:`matcher.voice_race.RACE_WEIGHTS`);
* ``envelope``: RMS of 256-sample frames every 128 samples (5.8 ms), mean
  square smoothed over 4 hops (23 ms).

Measured alternatives: a 2048-point STFT with 128 bands (twice the FFT cost,
worse noise robustness); a second, 256-point STFT for time detail (+0.1 ms,
no better in the noise test).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "Resolution", "DEFAULT_RESOLUTIONS", "Featurizer", "Features", "analyse",
    "FLOOR_DB", "ENVELOPE_TERM", "ENVELOPE_HOP_S", "ENVELOPE_SMOOTH",
]

FLOOR_DB = 60.0
"""Energy floor, in dB below the target's maximum of each term (mel power, or frame mean square)."""

ENVELOPE_TERM = "envelope"
"""Name of the RMS-envelope term."""


@dataclass(frozen=True)
class Resolution:
    """One STFT resolution and the band sets read off its power spectra.

    Parameters
    ----------
    name : str
        Short name, for reports.
    n_fft : int
        FFT and (periodic Hann) window length in samples.
    hop : int
        Hop between frames in samples.
    pool_s : float
        Duration in seconds of the blocks of consecutive frames whose power is
        summed before the mel projection of the *pooled* band sets (rounded to
        even blocks of whole frames).  Pooling averages the noise realisation
        out of the spectrum.
    bands : tuple of (str, int, str, bool) or (str, int, str, bool, float)
        Band sets ``(term_name, n_mels, weight_name, pooled[, floor_db])``: the
        term's name, its number of Slaney mel bands (0 Hz to sr/2), the field of
        :class:`objectives.distance.FitnessWeights` that weights it, whether it
        is computed on pooled blocks or on every frame, and optionally its own
        floor in dB below the target's maximum (default: :func:`analyse`'s
        ``floor_db``).
    """

    name: str
    n_fft: int
    hop: int
    pool_s: float
    bands: tuple[tuple[str, int, str, bool], ...]

    def at_rate(self, sr: int) -> "Resolution":
        """This resolution as it applies at ``sr``: the same window and hop in seconds, the same mel band widths.

        The resolutions are defined at :data:`REFERENCE_SR`.  At a higher rate
        the FFT length and hop scale by the nearest power of two of the rate
        ratio (2 at 44.1 and 48 kHz), and each band set gains bands for the
        range the rate adds (up to 0.45·sr) in proportion to its extent on the
        mel scale, so the fitness sees the whole band without coarser
        resolution at the bottom.  At the reference rate it is unchanged.
        """
        factor = 2.0 ** round(math.log2(sr / REFERENCE_SR))
        if factor == 1.0:
            return self
        import librosa  # noqa: PLC0415

        mel_ratio = float(librosa.hz_to_mel(MEL_FMAX_RATIO * sr) / librosa.hz_to_mel(MEL_FMAX_RATIO * REFERENCE_SR))
        bands = tuple((name, max(1, int(round(n * mel_ratio))), *rest) for name, n, *rest in self.bands)
        return Resolution(self.name, max(64, int(self.n_fft * factor)), max(16, int(self.hop * factor)), self.pool_s, bands)

    def pool_frames(self, sr: int) -> int:
        """Pool size in frames at sample rate ``sr`` (before fitting to the frame count)."""
        return max(1, int(round(self.pool_s * sr / self.hop)))


DEFAULT_RESOLUTIONS: tuple[Resolution, ...] = (
    Resolution(
        "stft1024",
        n_fft=1024,
        hop=512,
        pool_s=1.0,
        bands=(
            ("fine", 64, "spectral", True),
            ("coarse", 16, "coarse", True),
            ("time", 12, "time", False),
            ("frames", 64, "frames", False, 80.0),
        ),
    ),
)
"""The resolutions :func:`analyse` uses unless told otherwise (at :data:`REFERENCE_SR`; see :meth:`Resolution.at_rate`)."""

REFERENCE_SR = 22050
"""Sample rate at which :data:`DEFAULT_RESOLUTIONS` are defined."""

ENVELOPE_HOP_S = 128 / 22050
"""Hop of the RMS envelope in seconds (128 samples at 22.05 kHz, 5.8 ms); frames are two hops long."""

ENVELOPE_SMOOTH = 4
"""Frames of the moving average over the envelope's mean square (23 ms at the default hop)."""


MEL_FMAX_RATIO = 0.45
"""Highest frequency the mel bands cover, as a fraction of the sample rate.

Above about 0.45·sr the two sides of a comparison are not alike even for the
right patch: the renderer's band-limited oscillators stop at 0.45·sr and a
target resampled to the working rate keeps content up to the resampler's
transition band.  Comparing only below 0.45·sr (9.9 kHz at 22.05 kHz) keeps
that difference out of the fitness."""


class _Plan:
    """Buffers and constants of one resolution for one ``(sr, n_samples)``."""

    def __init__(self, res: Resolution, sr: int, n_samples: int) -> None:
        import librosa  # noqa: PLC0415 - slow import, only needed at construction

        self.res = res
        n_fft, hop = res.n_fft, res.hop
        self.n_real = 1 + n_samples // hop  # librosa's frame count with center=True
        # Even blocks close to pool_s: a 44-frame note with a 43-frame pool is one block of 44.
        self.n_blocks = max(1, int(round(self.n_real / res.pool_frames(sr))))
        self.pool = -(-self.n_real // self.n_blocks)
        n_frames = self.n_blocks * self.pool
        self.offset = n_fft // 2  # centred frames, zero padded at both ends
        self.buf = np.zeros((n_frames - 1) * hop + n_fft, dtype=np.float32)
        self.n_copy = min(n_samples, self.buf.shape[0] - self.offset)
        self.frames = sliding_window_view(self.buf, n_fft)[::hop]  # (n_frames, n_fft), a view
        self.window = np.hanning(n_fft + 1)[:-1].astype(np.float32)  # periodic Hann, as librosa
        self.windowed = np.empty((n_frames, n_fft), dtype=np.float32)
        self.mels = [
            np.ascontiguousarray(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmax=MEL_FMAX_RATIO * sr).T, dtype=np.float32)
            for _, n_mels, *_ in res.bands
        ]  # each (n_bins, n_mels)
        self.power = np.empty((n_frames, n_fft // 2 + 1), dtype=np.float32)
        self.pooled = [band[3] for band in res.bands]
        self.term_names = [band[0] for band in res.bands]
        self.weight_names = [band[2] for band in res.bands]
        self.floors_db = [band[4] if len(band) > 4 else None for band in res.bands]

    def __call__(self, y: np.ndarray, out: list, skip: frozenset = frozenset()) -> None:
        if skip and all(name in skip for name in self.term_names):
            out.extend(None for _ in self.term_names)
            return
        n = min(self.n_copy, y.shape[0])
        self.buf[self.offset : self.offset + n] = y[:n]
        if n < self.n_copy:
            self.buf[self.offset + n : self.offset + self.n_copy] = 0.0
        np.multiply(self.frames, self.window, out=self.windowed)
        spec = scipy.fft.rfft(self.windowed, axis=1, workers=1)  # complex64, (n_frames, n_bins)
        sq = spec.view(np.float32)  # (n_frames, 2 * n_bins): re, im interleaved
        np.square(sq, out=sq)  # re², im²
        power = np.add(sq[:, 0::2], sq[:, 1::2], out=self.power)  # (n_frames, n_bins)
        pooled = None
        for mel, use_pool, name in zip(self.mels, self.pooled, self.term_names):
            if name in skip:
                out.append(None)
                continue
            if not use_pool:
                out.append(power[: self.n_real] @ mel)
                continue
            if pooled is None:
                pooled = power if self.pool == 1 else power.reshape(self.n_blocks, self.pool, -1).sum(axis=1)
            out.append(pooled @ mel)


class _Envelope:
    """Frame mean square from the waveform: squares summed per hop, then one small convolution.

    A frame is two hops (rectangular), the frames are averaged over
    ``smooth`` consecutive hops: the kernel is box(2) * box(smooth) / (2 hop smooth).
    This costs one pass over the samples, far less than an STFT at a 5.8 ms hop.
    """

    def __init__(self, sr: int, n_samples: int, hop_s: float, smooth: int) -> None:
        self.hop = max(1, int(round(hop_s * sr)))
        self.n_hops = -(-n_samples // self.hop)
        self.n_samples = n_samples
        self.buf = np.zeros(self.n_hops * self.hop, dtype=np.float32)
        kernel = np.convolve(np.ones(2), np.ones(max(1, smooth))) / (2 * self.hop * max(1, smooth))
        self.kernel = kernel.astype(np.float32)

    def __call__(self, y: np.ndarray, out: list, skip: frozenset = frozenset()) -> None:
        if ENVELOPE_TERM in skip:
            out.append(None)
            return
        n = min(self.n_samples, y.shape[0])
        np.square(y[:n], out=self.buf[:n])
        if n < self.n_samples:
            self.buf[n : self.n_samples] = 0.0
        sums = self.buf.reshape(self.n_hops, self.hop).sum(axis=1)
        out.append(np.convolve(sums, self.kernel, mode="same"))


class Featurizer:
    """Precomputed multi-resolution analysis of audio of one length and rate.

    Not thread-safe (it reuses its buffers); give each thread or process its
    own.  Pickling sends only the configuration; buffers are rebuilt on load.

    Parameters
    ----------
    sr : int
        Sample rate in Hz.
    n_samples : int
        Length of the audio it analyses; shorter input is zero-padded, longer
        input is truncated.
    resolutions : tuple of Resolution
        The STFT resolutions.
    envelope_hop_s : float
        Hop of the RMS envelope in seconds.
    envelope_smooth : int
        Length, in hops, of the moving average over the envelope's mean square.

    Attributes
    ----------
    term_names : tuple of str
        Names of the arrays :meth:`powers` returns, in order (e.g.
        ``("fine", "coarse", "time", "envelope")``).
    weight_names : tuple of str
        For each term, the :class:`~objectives.distance.FitnessWeights` field weighting it.
    """

    def __init__(
        self,
        sr: int,
        n_samples: int,
        resolutions: tuple[Resolution, ...] = DEFAULT_RESOLUTIONS,
        envelope_hop_s: float = ENVELOPE_HOP_S,
        envelope_smooth: int = ENVELOPE_SMOOTH,
    ) -> None:
        if n_samples < 1:
            raise ValueError("n_samples must be positive")
        self.sr = int(sr)
        self.n_samples = int(n_samples)
        self.resolutions = tuple(r.at_rate(self.sr) for r in resolutions)
        self._config = (self.sr, self.n_samples, self.resolutions, float(envelope_hop_s), int(envelope_smooth))
        self._plans = [_Plan(r, self.sr, self.n_samples) for r in self.resolutions]
        self._plans.append(_Envelope(self.sr, self.n_samples, envelope_hop_s, envelope_smooth))
        self.term_names = tuple(n for p in self._plans[:-1] for n in p.term_names) + (ENVELOPE_TERM,)
        self.weight_names = tuple(n for p in self._plans[:-1] for n in p.weight_names) + (ENVELOPE_TERM,)
        self.floors_db = tuple(f for p in self._plans[:-1] for f in p.floors_db) + (None,)
        """Per term: its own floor in dB below the target's maximum, or ``None`` for :func:`analyse`'s."""
        if len(set(self.term_names)) != len(self.term_names):
            raise ValueError(f"duplicate term names {self.term_names}")
        self.envelope_hop_s = self._plans[-1].hop / self.sr

    def __getstate__(self) -> dict:
        return {"config": self._config}

    def __setstate__(self, state: dict) -> None:
        self.__init__(*state["config"])

    def powers(self, y: np.ndarray, skip: frozenset = frozenset()) -> list[np.ndarray | None]:
        """Linear band powers of ``y``, one array per term.

        Parameters
        ----------
        y : ndarray, shape (n,), float32
            Mono audio; zero-padded or truncated to ``n_samples``.
        skip : frozenset of str
            Term names not to compute (their place holds ``None``): a fitness
            skips the terms it weighs by zero.

        Returns
        -------
        list of ndarray, float32, in the order of :attr:`term_names`
            Mel terms: shape (n_blocks, n_mels) for a pooled band set, mel-band
            power (amplitude², summed over the frames of a block), or
            (1 + n_samples // hop, n_mels) for an unpooled one.  Envelope: shape
            (ceil(n_samples / envelope_hop),), the smoothed frame mean square
            (RMS², amplitude²).
            The arrays are freshly allocated.
        """
        out: list[np.ndarray | None] = []
        for plan in self._plans:
            plan(y, out, skip)
        return out


@dataclass(frozen=True)
class Features:
    """Everything a distance needs about one target, computed once.

    Attributes
    ----------
    sr : int
        Sample rate in Hz.
    n_samples : int
        Target length in samples.
    featurizer : Featurizer
        The extractor (built for ``sr`` and ``n_samples``) to apply to candidates.
    powers : tuple of ndarray, float32
        The target's :meth:`Featurizer.powers`, read-only.
    floors : tuple of float
        Per term: the target's largest value of that term times ``10**(-floor_db/10)``
        (amplitude²), with the term's own floor where its band set names one;
        added before the log so that differences far below the target's loudest
        band (or frame) do not count.
    levels_db : tuple of ndarray, float32
        Per term: ``10 log10(power + floor)`` in dB (for the envelope, the RMS in dB re 1).
    floor_db : float
        The floors' distance below the target's maxima, dB (terms with a floor of their own excepted).
    """

    sr: int
    n_samples: int
    featurizer: Featurizer
    powers: tuple[np.ndarray, ...]
    floors: tuple[float, ...]
    levels_db: tuple[np.ndarray, ...]
    floor_db: float = FLOOR_DB

    @property
    def term_names(self) -> tuple[str, ...]:
        """Names of the terms, as :attr:`Featurizer.term_names`."""
        return self.featurizer.term_names

    @property
    def duration_s(self) -> float:
        """Target duration in seconds."""
        return self.n_samples / self.sr

    def level_db(self, term: str) -> np.ndarray:
        """The target's level in dB of one term (e.g. ``"fine"``, ``"envelope"``)."""
        return self.levels_db[self.term_names.index(term)]

    @property
    def rms_db(self) -> np.ndarray:
        """RMS envelope in dB re amplitude 1, shape (ceil(n_samples / hop),), floored."""
        return self.level_db(ENVELOPE_TERM)

    @property
    def envelope_hop_s(self) -> float:
        """Hop of the RMS envelope in seconds."""
        return self.featurizer.envelope_hop_s


def analyse(
    y: np.ndarray,
    sr: int,
    resolutions: tuple[Resolution, ...] = DEFAULT_RESOLUTIONS,
    floor_db: float = FLOOR_DB,
) -> Features:
    """Analyse a target once.

    Parameters
    ----------
    y : ndarray, shape (n_samples,)
        Mono target audio (converted to float32), finite.
    sr : int
        Sample rate in Hz.
    resolutions : tuple of Resolution
        STFT resolutions.
    floor_db : float
        Energy floor in dB below the target's maximum of each term that has no floor of its own.

    Returns
    -------
    Features

    Raises
    ------
    ValueError
        If ``y`` is empty or has NaN or infinite samples.
    """
    y = np.ascontiguousarray(y, dtype=np.float32).reshape(-1)
    if y.size == 0 or not np.all(np.isfinite(y)):
        raise ValueError("target audio is empty or contains NaN or infinite samples")
    feat = Featurizer(sr, y.shape[0], resolutions)
    powers = feat.powers(y)
    # A silent target still needs a positive floor; 1e-12 is -120 dB re full scale.
    floors = tuple(
        max(float(p.max()) * 10.0 ** (-(own if own is not None else floor_db) / 10.0), 1e-12)
        for p, own in zip(powers, feat.floors_db)
    )
    levels = tuple((10.0 * np.log10(p + np.float32(f))).astype(np.float32) for p, f in zip(powers, floors))
    for p in powers:
        p.setflags(write=False)
    return Features(
        sr=int(sr),
        n_samples=int(y.shape[0]),
        featurizer=feat,
        powers=tuple(powers),
        floors=floors,
        levels_db=levels,
        floor_db=float(floor_db),
    )
