"""The fitness: a distance from a target's :class:`~objectives.features.Features` to candidate audio.

``Fitness(features)(audio) -> float >= 0``, exactly 0.0 for audio identical to
the target.  It is a weighted sum of terms, each the root-mean-square
difference in dB between the candidate's and the target's floored log levels::

    term_k = sqrt(mean((10 log10(P_c + f_k) - 10 log10(P_t + f_k))**2))      [dB]

where ``P`` is a term's band power (see :mod:`objectives.features`) and
``f_k`` the term's floor, :data:`~objectives.features.FLOOR_DB` below the
*target's* maximum of that term.  The terms (default resolutions):

==========  ================================================  =============
term        what                                              weight field
==========  ================================================  =============
fine        64 mel bands, 1024-point STFT, power pooled ≤ 1 s  ``spectral``
coarse      16 mel bands of the same pooled power              ``coarse``
time        12 mel bands of every STFT frame (23 ms hop)       ``time``
frames      64 mel bands of every frame, floor 80 dB down      ``frames``
envelope    RMS per 5.8 ms hop, 23 ms moving average           ``envelope``
==========  ================================================  =============

A term weighted 0 is not computed (``frames`` by default).

Robustness to the noise realisation (DESIGN §5.7).  A recorded target never
shares our noise samples, and a naive log-mel L1 with an absolute floor of
1e-7 puts two renders of the same noisy patch about as far apart as a wrong
patch.  What fixed it, each step measured on 8 patches (4 oscillator/filter
combinations × noise_vol 0.05 and 0.3) against their cutoff ×1.2, +50 cent,
attack ×2 and sustain −0.1 neighbours (``experiments/noise_floor.py``):

* the floor relative to the target's energy, so cells far below the target's
  loudest band or frame (stop band, release tail) cannot dominate;
* pooling the power before the log: the fine spectrum over up to 1 s (a
  long-term average spectrum, whose noise part has ~2·B·T degrees of freedom
  per band), the time term over 12 wide bands, the envelope over the whole
  band and 23 ms; and a coarse 16-band view of the long-term spectrum that
  sees a filter change with little noise;
* the root-mean-square rather than the mean absolute difference: a wrong
  pitch or cutoff moves a few cells by many dB, a new noise realisation moves
  every cell by a fraction of a dB, and squaring separates the two (the worst
  noise/neighbour ratio over the 8 patches went from ~0.6 with L1 to ~0.4).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

from objectives.features import ENVELOPE_TERM, Features

__all__ = ["FitnessWeights", "Fitness", "NONFINITE_PENALTY"]

NONFINITE_PENALTY = 1.0e6
"""Distance returned for candidate audio with NaN or infinite samples (or whose power overflows float32)."""


@dataclass(frozen=True)
class FitnessWeights:
    """Named weights of the fitness terms (every term is an RMS difference in dB).

    Parameters
    ----------
    spectral : float
        ``fine``: long-term spectrum, 64 mel bands: pitch and harmonic structure.
    coarse : float
        ``coarse``: long-term spectrum, 16 mel bands: the filter's shape, with
        little sensitivity to the noise realisation.
    time : float
        ``time``: short-time spectrum (12 mel bands, 23 ms hop): spectral change
        over the note.  In-domain it is nearly redundant with the other terms
        and the noisiest of them, so it gets a small weight; it matters for
        recorded targets whose spectrum evolves.
    envelope : float
        ``envelope``: RMS envelope (5.8 ms hop): attack, decay, sustain,
        release, level.  Weighted 1.5 because a level or envelope error is
        spread thinly over frames and must outweigh the spectral terms'
        noise-realisation floor (measured: 1.0 lets a ×2 attack come within
        0.48 of the noise distance, 1.5 within 0.37).
    frames : float
        ``frames``: short-time spectrum in 64 mel bands per frame, with its own
        floor 80 dB below the target's loudest cell.  On sounds other engines
        made it ranks candidate matches the way the independent per-frame
        metrics do far better than the pooled terms
        (``python -m experiments.race_fitness``); in-domain it is more sensitive to the noise realisation,
        so the default leaves it out (0: not computed).
    """

    spectral: float = 1.0
    coarse: float = 0.25
    time: float = 0.1
    envelope: float = 1.5
    frames: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            v = getattr(self, f.name)
            if not (isinstance(v, (int, float)) and math.isfinite(v) and v >= 0):
                raise ValueError(f"weight {f.name} must be a finite number >= 0, got {v!r}")


class Fitness:
    """Distance of candidate audio to one target.

    Parameters
    ----------
    features : Features
        The target's analysis (:func:`objectives.features.analyse`).
    weights : FitnessWeights
        Term weights.

    Notes
    -----
    Not thread-safe (it reuses the featurizer's buffers); picklable, so a
    process pool can receive it (buffers are rebuilt on unpickling).  For a
    1 s candidate at 22.05 kHz a call costs about 0.15–0.25 ms on one core; keep
    OpenBLAS single-threaded in workers (``OPENBLAS_NUM_THREADS=1``), its
    threads only slow these small products down.
    """

    def __init__(self, features: Features, weights: FitnessWeights = FitnessWeights()) -> None:
        self.features = features
        self.weights = weights
        self._featurizer = features.featurizer
        self._floors = tuple(np.float32(f) for f in features.floors)
        # The target goes through exactly the candidate's code path, so identical audio gives 0.0.
        self._target = self._levels([np.array(p, dtype=np.float32) for p in features.powers])
        self._weight = tuple(float(getattr(weights, w)) for w in self._featurizer.weight_names)
        self._skip = frozenset(t for t, w in zip(self._featurizer.term_names, self._weight) if w == 0.0)

    def __getstate__(self) -> dict:
        return {"features": self.features, "weights": self.weights}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state["features"], state["weights"])

    @property
    def term_names(self) -> tuple[str, ...]:
        """Names of the terms, in the order of :meth:`terms`."""
        return self._featurizer.term_names

    def _levels(self, powers: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """In place: ``log10(power + floor)`` per term (dB / 10); a skipped term stays ``None``."""
        for p, f in zip(powers, self._floors):
            if p is None:
                continue
            np.add(p, f, out=p)
            np.log10(p, out=p)
        return powers

    def _mean_squares(self, audio: np.ndarray, every_term: bool = False) -> list[float]:
        """Per term: mean over cells of the squared level difference, in (dB/10)².

        Terms weighted 0 are not computed (0.0 in their place) unless ``every_term``.
        """
        y = audio if (isinstance(audio, np.ndarray) and audio.dtype == np.float32) else np.asarray(audio, dtype=np.float32)
        if y.ndim != 1:
            y = y.reshape(-1)
        out = []
        with np.errstate(all="ignore"):
            levels = self._levels(self._featurizer.powers(y, frozenset() if every_term else self._skip))
            for c, t in zip(levels, self._target):
                if c is None:
                    out.append(0.0)
                    continue
                np.subtract(c, t, out=c)
                flat = c.reshape(-1)
                out.append(float(np.dot(flat, flat)) / flat.shape[0])
        return out

    def terms(self, audio: np.ndarray) -> dict[str, float]:
        """Unweighted terms (RMS level difference, dB) and the weighted ``"total"``.

        Parameters
        ----------
        audio : ndarray, shape (n,)
            Mono candidate.

        Returns
        -------
        dict
            ``{term_name: dB, ..., "total": __call__(audio)}``.
        """
        ms = self._mean_squares(audio, every_term=True)
        out = {name: 10.0 * math.sqrt(m) if math.isfinite(m) else math.inf for name, m in zip(self.term_names, ms)}
        out["total"] = self(audio)
        return out

    # -- two objectives (issue 11: matcher.optimizers' nsga2) -------------------------------
    def objectives(self, audio: np.ndarray) -> tuple[float, float]:
        """The fitness split in two objectives: ``(spectral, envelope)``, in dB.

        ``spectral`` is the weighted sum of every term but the envelope (fine,
        coarse and time), ``envelope`` the weighted envelope term; their sum is
        :meth:`__call__` (up to float rounding).  Audio with NaN or infinite
        samples gets half of :data:`NONFINITE_PENALTY` in each.
        """
        spectral = envelope = 0.0
        for name, m, w in zip(self.term_names, self._mean_squares(audio), self._weight):
            if name == ENVELOPE_TERM:
                envelope += w * math.sqrt(m)
            else:
                spectral += w * math.sqrt(m)
        if not math.isfinite(spectral + envelope):
            return 0.5 * NONFINITE_PENALTY, 0.5 * NONFINITE_PENALTY
        return 10.0 * spectral, 10.0 * envelope
    # -- end of the two objectives -----------------------------------------------------------

    def __call__(self, audio: np.ndarray) -> float:
        """Distance of ``audio`` to the target.

        Parameters
        ----------
        audio : ndarray, shape (n,), float32 (other dtypes are converted)
            Mono candidate; zero-padded or truncated to the target's length.

        Returns
        -------
        float
            ``sum_k weight_k * term_k`` in dB, ``>= 0``; exactly 0.0 when
            ``audio`` equals the target; :data:`NONFINITE_PENALTY` when the
            audio has NaN or infinite samples (or overflows float32 power).
        """
        total = 0.0
        for m, w in zip(self._mean_squares(audio), self._weight):
            total += w * math.sqrt(m)
        if not math.isfinite(total):
            return NONFINITE_PENALTY
        return 10.0 * total
