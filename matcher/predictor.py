"""The learned predictor: target audio -> choice probabilities and a starting patch.

Three parts, one job each:

* :func:`predictor_features`: a cheap (~1–2 ms for 1 s), fixed-size summary of a
  note: the long-term log-mel spectrum, 16-band spectral mean/std over time,
  the levels of harmonics 1–20 relative to f0 and of the gaps between them
  (odd/even structure tells square and triangle from saw; the gaps carry the
  noise), centroid and roll-off relative to f0, the RMS envelope at fixed times
  after the onset and before the end, the duration and the level.  The f0 is
  an argument: the dataset cache uses the true f0 of each sample (no 46 ms
  pitch analysis per sample), inference uses :func:`objectives.pitch.estimate_pitch`.
* :func:`train_predictor`: two small scikit-learn MLPs on the same features, a
  classifier over the 12 joint (oscillator, filter) combinations (so top-k
  *combinations* come with probabilities; the per-choice heads are its
  marginals) and a regressor of the continuous parameters in unit-cube
  coordinates, plus two audible derived targets (noise/oscillator ratio,
  cutoff/f0 ratio) from which the starting patch takes noise and cutoff.
* :class:`Predictor`: the trained weights with a numpy forward pass, saved as
  ``<name>.npz`` (arrays only, read with ``allow_pickle=False``) and
  ``<name>.json`` (metadata).  Loading never executes code from the file, so any
  model file is safe to load; a malformed one raises :class:`ModelFileError`.
"""

from __future__ import annotations

import functools
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import scipy.fft
from numpy.lib.stride_tricks import sliding_window_view

from matcher.motion_features import N_MOTION, motion_features
from matcher.predictor_layout import CUTOFF_RATIO_OCT, NOISE_RATIO_MAX, PredictorLayout, layout_for
from synth.voices import SUBTRACTIVE, get_voice

__all__ = [
    "FEATURE_VERSION", "FEATURE_VERSIONS", "N_FEATURES", "predictor_features", "features_f0", "COMBOS", "REG_TARGETS", "CONTINUOUS",
    "regression_targets", "Prediction", "Predictor", "ModelFileError", "train_predictor", "feature_version_for",
    "DEFAULT_MODEL", "MODELS_DIR", "load_default_model", "load_voice_model", "MODEL_FORMAT", "FEATURE_SR_HZ",
    "PredictorLayout", "layout_for", "combo_indices",
]

FEATURE_VERSION = 1
"""Version of :func:`predictor_features`'s static features, the shipped subtractive model's
(caches and models record the version they were made with)."""

MODEL_FORMAT = 1
"""Version of the npz + JSON model format."""

FEATURE_SR_HZ = 22050
"""Rate the features are computed at: input at another rate is resampled to it
first (the mel bands, harmonic limits and envelope hop depend on the rate, so a
model only understands features of the rate it was trained at).  Stored in a
model's JSON as ``feature_sr_hz``; models saved before it existed were trained
at this rate."""

MODELS_DIR = Path(__file__).parent / "models"
"""Where the shipped models live (a voice names its model by stem: :attr:`synth.voices.Voice.predictor_model`)."""

DEFAULT_MODEL = MODELS_DIR / "default"
"""The shipped subtractive model (``default.npz`` + ``default.json``)."""

_SUBTRACTIVE = layout_for(SUBTRACTIVE.name)

COMBOS: tuple[tuple[str, ...], ...] = _SUBTRACTIVE.combos
"""The subtractive voice's joint classes: (osc_type, filter_type), oscillator-major (:meth:`PredictorLayout.combos` of any voice)."""

CONTINUOUS: tuple[str, ...] = _SUBTRACTIVE.continuous
"""The subtractive voice's continuous parameters regressed in unit-cube coordinates of the full space."""

REG_TARGETS: tuple[str, ...] = _SUBTRACTIVE.reg_targets
"""The subtractive voice's regression outputs, all in [0, 1]."""

_N_MEL = 64
_N_TIME_BANDS = 16
_N_HARM = 20
_ENV_ONSET_S = np.geomspace(0.002, 0.6, 16)
_ENV_END_S = np.linspace(0.45, 0.0, 12)
_ENV_HOP_S = 128 / 22050
_FLOOR_DB = -80.0
N_FEATURES = _N_MEL + 2 * _N_TIME_BANDS + 2 * _N_HARM + 5 + len(_ENV_ONSET_S) + len(_ENV_END_S) + 2
"""Length of the version-1 feature vector."""

FEATURE_VERSIONS: dict[int, int] = {1: N_FEATURES, 2: N_FEATURES + N_MOTION}
"""Feature versions this code computes, with their lengths: 1 the static features, 2 those and
the motion block of :func:`matcher.motion_features.motion_features` (pitch, brightness, beating over time)."""


def feature_version_for(voice: str) -> int:
    """The features a new model of ``voice`` is trained on: 2 when the voice has parts that move
    (a pitch, filter or index envelope, vibrato, a second oscillator: :data:`matcher.predictor_layout.MOTION_PARAMS`), else 1."""
    return 2 if layout_for(voice).moves else 1


class ModelFileError(Exception):
    """A model file cannot be used; the message is one line naming the file and the problem."""


@functools.lru_cache(maxsize=8)
def _mel(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    import librosa  # noqa: PLC0415 - slow import, once

    return np.ascontiguousarray(librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels).T, dtype=np.float32)


def _db(p: np.ndarray, ref: float) -> np.ndarray:
    return np.maximum(10.0 * np.log10(np.maximum(p, 1e-20) / max(ref, 1e-20)), _FLOOR_DB).astype(np.float32)


def _fallback_f0(power: np.ndarray, bin_hz: float) -> float:
    lo = int(40.0 / bin_hz)
    return float((lo + int(np.argmax(power[lo:]))) * bin_hz)


def _resample(y: np.ndarray, sr: int, to_sr: int) -> np.ndarray:
    import soxr  # noqa: PLC0415

    return np.ascontiguousarray(soxr.resample(y, sr, to_sr, quality="HQ"), dtype=np.float32)


def predictor_features(audio: np.ndarray, sr: int, f0_hz: float | None, feature_sr_hz: int | None = FEATURE_SR_HZ, version: int = FEATURE_VERSION) -> np.ndarray:
    """Fixed-size feature vector of one note (level-invariant except the ``level`` entry).

    Parameters
    ----------
    audio : ndarray, shape (n,)
        Mono note, starting at its onset.
    sr : int
        Sample rate of ``audio`` in Hz.
    f0_hz : float or None
        Fundamental frequency; ``None`` (unpitched) uses the strongest spectral peak.
    feature_sr_hz : int or None
        Rate the features are computed at (the model's training rate,
        :attr:`Predictor.feature_sr_hz`): audio at another rate is resampled
        to it with soxr first.  ``None`` computes them at ``sr`` as given.
    version : int
        Feature version (:data:`FEATURE_VERSIONS`): 1 the static features, 2 with the motion block appended.

    Returns
    -------
    ndarray, shape (FEATURE_VERSIONS[version],), float32
    """
    if version not in FEATURE_VERSIONS:
        raise ValueError(f"unknown feature version {version!r} (known: {sorted(FEATURE_VERSIONS)})")
    y = np.ascontiguousarray(audio, dtype=np.float32).reshape(-1)
    if feature_sr_hz is not None and int(sr) != int(feature_sr_hz):
        y, sr = _resample(y, int(sr), int(feature_sr_hz)), int(feature_sr_hz)
    n = max(len(y), 1024)
    # Short-time spectra: 1024-point frames, hop 512 (as the fitness).
    buf = np.zeros(n + 1024, dtype=np.float32)
    buf[512 : 512 + len(y)] = y
    frames = sliding_window_view(buf, 1024)[::512] * np.hanning(1025)[:-1].astype(np.float32)
    spec = np.abs(scipy.fft.rfft(frames, axis=1, workers=1)) ** 2
    lt = spec.sum(axis=0)
    mel = lt @ _mel(sr, 1024, _N_MEL)
    mel_db = _db(mel, float(mel.max()))
    bands = spec @ _mel(sr, 1024, _N_TIME_BANDS)
    bands_db = _db(bands, float(bands.max()))
    loud = bands.sum(axis=1) >= 1e-6 * bands.sum(axis=1).max()
    time_mean, time_std = bands_db[loud].mean(axis=0), bands_db[loud].std(axis=0)
    # High-resolution long-term spectrum for harmonic levels.
    n_fft = max(32768, 1 << int(math.ceil(math.log2(len(y)))))
    win = np.hanning(len(y)).astype(np.float32)
    power = np.abs(scipy.fft.rfft(y * win, n=n_fft, workers=1)) ** 2
    bin_hz = sr / n_fft
    f0 = float(f0_hz) if f0_hz else _fallback_f0(power, bin_hz)
    ref = float(power.max())
    harm, gaps = np.full(_N_HARM, _FLOOR_DB, np.float32), np.full(_N_HARM, _FLOOR_DB, np.float32)
    for k in range(1, _N_HARM + 1):
        fk = k * f0
        if fk < 0.45 * sr:
            a, b = int(fk * 0.97 / bin_hz), int(fk * 1.03 / bin_hz) + 1
            harm[k - 1] = _db(power[a:b].max(keepdims=True), ref)[0]
        g = (k + 0.5) * f0
        if g < 0.45 * sr:
            a, b = int((k + 0.25) * f0 / bin_hz), int((k + 0.75) * f0 / bin_hz) + 1
            gaps[k - 1] = _db(np.median(power[a:b], keepdims=True), ref)[0]
    freqs = np.arange(len(power)) * bin_hz
    total = float(power.sum()) + 1e-20
    centroid = float((freqs * power).sum() / total)
    rolloff = float(freqs[min(int(np.searchsorted(np.cumsum(power), 0.85 * total)), len(freqs) - 1)])
    flatness = float(np.exp(np.mean(np.log(mel + 1e-12))) / (np.mean(mel) + 1e-12))
    shape = np.array([
        np.log2(max(centroid, 1.0) / f0), np.log2(max(rolloff, 1.0) / f0), flatness,
        np.log2(f0 / 440.0), 1.0 if f0_hz else 0.0,
    ], dtype=np.float32)
    # RMS envelope (5.8 ms hop) at fixed times after the onset and before the end.
    hop = max(1, int(round(_ENV_HOP_S * sr)))
    m = len(y) // hop
    ms = (y[: m * hop].astype(np.float64) ** 2).reshape(m, hop).mean(axis=1) if m else np.array([float(np.mean(y**2))])
    ms = np.convolve(ms, np.ones(4) / 4, mode="same")
    env_db = _db(ms, float(ms.max()))
    t = (np.arange(len(ms)) + 0.5) * hop / sr
    dur = len(y) / sr
    env = np.concatenate([np.interp(_ENV_ONSET_S, t, env_db), np.interp(np.maximum(dur - _ENV_END_S, 0.0), t, env_db)])
    level = 10.0 * np.log10(float(np.mean(y.astype(np.float64) ** 2)) + 1e-12)
    out = np.concatenate([mel_db, time_mean, time_std, harm, gaps, shape, env, [dur, level]]).astype(np.float32)
    assert out.shape == (N_FEATURES,)
    if version >= 2:
        out = np.concatenate([out, motion_features(y, sr, f0)])
    return out


def features_f0(x: np.ndarray) -> float:
    """The f0 a feature vector carries (its log-f0 entry), in Hz: the strongest peak when the note was unpitched."""
    return float(440.0 * 2.0 ** x[_N_MEL + 2 * _N_TIME_BANDS + 2 * _N_HARM + 3])


def regression_targets(patch: Mapping[str, float | str], voice: str = SUBTRACTIVE.name) -> np.ndarray:
    """The regression outputs (the voice's :attr:`PredictorLayout.reg_targets`, in [0, 1]) of a patch.

    Returns
    -------
    ndarray, shape (len(reg_targets),), float32
    """
    layout = layout_for(voice)
    space = get_voice(voice).space
    u = [space[n].encode(patch[n]) for n in layout.continuous]
    derived = []
    if "noise_ratio" in layout.derived:
        osc = float(patch["osc_vol"])
        derived.append(float(patch["noise_vol"]) / osc / NOISE_RATIO_MAX if osc > 0 else 1.0)
    if "cutoff_ratio" in layout.derived:
        lo, hi = CUTOFF_RATIO_OCT
        derived.append((math.log2(float(patch["filter_cutoff"]) / float(patch["osc_freq"])) - lo) / (hi - lo))
    return np.clip(np.array([*u, *derived], dtype=np.float32), 0.0, 1.0)


def combo_indices(patches: Sequence[Mapping[str, float | str]], voice: str = SUBTRACTIVE.name) -> np.ndarray:
    """Index into the voice's :attr:`PredictorLayout.combos` of each patch's choices, shape (n,), int."""
    layout = layout_for(voice)
    return np.array([layout.combos.index(tuple(str(p[n]) for n in layout.choice_names)) for p in patches], dtype=int)


@dataclass
class Prediction:
    """What the predictor says about one target.

    Attributes
    ----------
    combo_probs : list of (combination, probability)
        Every joint combination of the voice's choices (a tuple of values in
        :attr:`PredictorLayout.choice_names` order), most probable first
        (subtractive: ``(osc_type, filter_type)``, 12 of them; a voice without
        choices: ``[((), 1.0)]``).
    choice_probs : dict of str to dict
        Marginal probability of each value of each choice parameter.
    unit : dict
        Regression outputs (the voice's :attr:`PredictorLayout.reg_targets`) in [0, 1].
    f0_hz : float
        The f0 the features used (estimate, or the strongest peak when unpitched).
    duree_s : float
        Note duration.
    voice : str
        The voice the prediction is a patch of.
    """

    combo_probs: list[tuple[tuple[str, ...], float]]
    choice_probs: dict[str, dict[str, float]]
    unit: dict[str, float]
    f0_hz: float
    duree_s: float
    voice: str = SUBTRACTIVE.name

    @property
    def osc_probs(self) -> dict[str, float]:
        """Marginal probabilities of ``osc_type`` (empty for a voice without it)."""
        return self.choice_probs.get("osc_type", {})

    @property
    def filter_probs(self) -> dict[str, float]:
        """Marginal probabilities of ``filter_type`` (empty for a voice without it)."""
        return self.choice_probs.get("filter_type", {})

    def top_combos(self, k_max: int = 4, mass: float = 0.99) -> list[tuple[tuple[str, ...], float]]:
        """The most probable combinations until their probabilities sum to ``mass`` (at most ``k_max``)."""
        out, total = [], 0.0
        for combo, p in self.combo_probs[:k_max]:
            out.append((combo, p))
            total += p
            if total >= mass:
                break
        return out

    def patch(self, combo: tuple[str, ...] | None = None) -> dict[str, float | str]:
        """The predicted patch for a combination (the most probable one by default).

        ``osc_freq`` is the f0; where the voice has the parts, noise comes from
        the noise/oscillator ratio and the cutoff from the cutoff/f0 ratio (both
        audible, hence better predicted than the raw levels).
        """
        combo = tuple(combo) if combo is not None else self.combo_probs[0][0]
        layout = layout_for(self.voice)
        space = get_voice(self.voice).space
        patch: dict[str, float | str] = {n: space[n].decode(self.unit[n]) for n in layout.continuous}
        patch["duree"] = min(max(self.duree_s, space["duree"].low), space["duree"].high)
        patch.update(layout.choices_of(combo))
        patch["osc_freq"] = min(max(self.f0_hz, space["osc_freq"].low), space["osc_freq"].high)
        if "noise_ratio" in layout.derived:
            patch["noise_vol"] = min(1.0, self.unit["noise_ratio"] * NOISE_RATIO_MAX * float(patch["osc_vol"]))
        if "cutoff_ratio" in layout.derived:
            lo, hi = CUTOFF_RATIO_OCT
            cutoff = self.f0_hz * 2.0 ** (lo + (hi - lo) * self.unit["cutoff_ratio"])
            patch["filter_cutoff"] = min(max(cutoff, space["filter_cutoff"].low), space["filter_cutoff"].high)
        return {p.name: patch[p.name] for p in space.params}


def _relu_mlp(x: np.ndarray, layers: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    for i, (w, b) in enumerate(layers):
        x = x @ w + b
        if i < len(layers) - 1:
            np.maximum(x, 0.0, out=x)
    return x


@dataclass
class Predictor:
    """Trained predictor: feature scaling, classifier and regressor weights, metadata.

    ``meta["voice"]`` names the voice (absent: ``subtractive``, as every model
    saved before voices had predictors) and ``meta["feature_version"]`` its
    features.  A voice with a single combination has no classifier layers.
    """

    x_mean: np.ndarray
    x_scale: np.ndarray
    cls_layers: list[tuple[np.ndarray, np.ndarray]]
    reg_layers: list[tuple[np.ndarray, np.ndarray]]
    meta: dict = field(default_factory=dict)

    @property
    def voice(self) -> str:
        """The voice the model predicts patches of."""
        return str(self.meta.get("voice", SUBTRACTIVE.name))

    @property
    def layout(self) -> PredictorLayout:
        """Its classes and regression outputs (:func:`matcher.predictor_layout.layout_for` of its voice)."""
        return layout_for(self.voice)

    @property
    def feature_version(self) -> int:
        """Version of the features the model reads (pass it to :func:`predictor_features`)."""
        return int(self.meta.get("feature_version", FEATURE_VERSION))

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Network outputs for features ``x`` (n, n_features): combo probabilities (n, n_combos), regression (n, R)."""
        z = (np.atleast_2d(np.asarray(x, dtype=np.float32)) - self.x_mean) / self.x_scale
        if self.cls_layers:
            logits = _relu_mlp(z, self.cls_layers)
            logits -= logits.max(axis=1, keepdims=True)
            p = np.exp(logits)
            p /= p.sum(axis=1, keepdims=True)
        else:  # one combination: certain
            p = np.ones((len(z), 1), np.float32)
        return p, np.clip(_relu_mlp(z, self.reg_layers), 0.0, 1.0)

    @property
    def feature_sr_hz(self) -> int:
        """Rate the model's training features were computed at (pass it to :func:`predictor_features`)."""
        return int(self.meta.get("feature_sr_hz", FEATURE_SR_HZ))

    def features(self, audio: np.ndarray, sr: int, f0_hz: float | None) -> np.ndarray:
        """The feature vector this model reads, of one note (its feature rate and version)."""
        return predictor_features(audio, sr, f0_hz, self.feature_sr_hz, self.feature_version)

    def predict_features(self, x: np.ndarray, f0_hz: float, duree_s: float) -> Prediction:
        """A :class:`Prediction` from one feature vector."""
        layout = self.layout
        probs, reg = self.forward(x)
        probs, reg = probs[0], reg[0]
        order = np.argsort(-probs, kind="stable")
        marginals = {
            name: {v: float(sum(probs[i] for i, c in enumerate(layout.combos) if c[j] == v)) for v in get_voice(self.voice).space[name].choices}
            for j, name in enumerate(layout.choice_names)
        }
        return Prediction([(layout.combos[i], float(probs[i])) for i in order], marginals, dict(zip(layout.reg_targets, map(float, reg))),
                          float(f0_hz), float(duree_s), self.voice)

    def predict(self, audio: np.ndarray, sr: int, pitch=None) -> Prediction:
        """Predict from audio; ``pitch`` is an :class:`objectives.pitch.PitchEstimate` (computed if not given)."""
        if pitch is None:
            from objectives.pitch import estimate_pitch  # noqa: PLC0415

            pitch = estimate_pitch(audio, sr)
        f0 = pitch.f0_hz if pitch.voiced and pitch.f0_hz else None
        x = self.features(audio, sr, f0)
        f0_used = f0 if f0 else features_f0(x)
        return self.predict_features(x, f0_used, len(audio) / sr)

    def spread(self) -> dict[str, float] | None:
        """How far from a prediction the answer typically is, per parameter, in natural units.

        From the held-out mean absolute errors stored with the model (unit cube),
        as a Gaussian's standard deviation (1.25 × MAE), converted to octaves for
        log-scaled parameters and to the parameter's unit otherwise.  Pitch (the
        f0 stage sets it) and the two unidentifiable levels are left out
        (:attr:`PredictorLayout.spread_params`); the cutoff's error is the one
        of the cutoff as the patch sets it (f0 × the predicted ratio).
        ``None`` for a model saved without held-out metrics.

        Returns
        -------
        dict or None
            e.g. ``{"filter_cutoff": octaves, "filter_res": octaves, "env_sustain": level, ...}``
        """
        mae = self.meta.get("holdout_metrics", {}).get("mae")
        if not mae:
            return None
        space = get_voice(self.voice).space
        out = {}
        for name in self.layout.spread_params:
            err_u = mae.get("filter_cutoff_via_ratio", mae.get(name)) if name == "filter_cutoff" else mae.get(name)
            if err_u is None:
                continue
            p = space[name]
            out[name] = 1.25 * float(err_u) * p.width
        return out

    # -- files ---------------------------------------------------------------
    def save(self, stem: str | Path) -> None:
        """Write ``<stem>.npz`` (arrays) and ``<stem>.json`` (metadata), each atomically."""
        import io  # noqa: PLC0415

        from synth.patch_io import write_text_atomic  # noqa: PLC0415

        stem = Path(stem)
        stem.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"x_mean": self.x_mean, "x_scale": self.x_scale}
        for head, layers in (("cls", self.cls_layers), ("reg", self.reg_layers)):
            for i, (w, b) in enumerate(layers):
                arrays[f"{head}_w{i}"], arrays[f"{head}_b{i}"] = w.astype(np.float32), b.astype(np.float32)
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        tmp = stem.with_name(f".{stem.name}.npz.tmp")
        tmp.write_bytes(buf.getvalue())
        tmp.replace(stem.with_suffix(".npz"))
        layout = self.layout
        meta = {**self.meta, "format": MODEL_FORMAT, "feature_version": self.feature_version, "feature_sr_hz": self.feature_sr_hz,
                "combos": [list(c) for c in layout.combos],
                "reg_targets": list(layout.reg_targets), "n_features": FEATURE_VERSIONS[self.feature_version],
                "n_layers": {"cls": len(self.cls_layers), "reg": len(self.reg_layers)}}
        if self.voice != SUBTRACTIVE.name or "voice" in self.meta:
            meta.update(voice=self.voice, choice_names=list(layout.choice_names))
        write_text_atomic(stem.with_suffix(".json"), json.dumps(meta, indent=2) + "\n")
        for suffix in (".npz", ".json"):
            stem.with_suffix(suffix).chmod(0o644)  # a model is data to share, not a private temp file

    @classmethod
    def load(cls, stem: str | Path) -> "Predictor":
        """Read a model saved by :meth:`save` (``stem`` with or without suffix, or a folder holding one).

        Safe on untrusted files: JSON and ``numpy.load(allow_pickle=False)`` only.

        Raises
        ------
        ModelFileError
            Missing files, bad JSON, wrong format or feature version, unknown voice, wrong shapes.
        """
        stem = Path(stem)
        if stem.is_dir():
            found = sorted(stem.glob("*.json"))
            if len(found) != 1:
                raise ModelFileError(f"{stem}: expected one model (<name>.json + <name>.npz) in the folder, found {len(found)}")
            stem = found[0]
        if stem.suffix in (".json", ".npz"):
            stem = stem.with_suffix("")
        jpath, npath = stem.with_suffix(".json"), stem.with_suffix(".npz")
        for p in (jpath, npath):
            if not p.is_file():
                raise ModelFileError(f"{p}: no such model file")
        try:
            meta = json.loads(jpath.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ModelFileError(f"{jpath}: not a readable JSON model description ({exc.__class__.__name__})") from None
        if not isinstance(meta, dict) or meta.get("format") != MODEL_FORMAT:
            raise ModelFileError(f"{jpath}: unsupported model format {meta.get('format') if isinstance(meta, dict) else None!r} (expected {MODEL_FORMAT})")
        version = meta.get("feature_version")
        if version not in FEATURE_VERSIONS or meta.get("n_features") != FEATURE_VERSIONS[version]:
            raise ModelFileError(f"{jpath}: trained on feature version {version!r}, this version computes {sorted(FEATURE_VERSIONS)}; retrain it")
        voice = meta.get("voice", SUBTRACTIVE.name)
        try:
            layout = layout_for(str(voice))
        except KeyError:
            raise ModelFileError(f"{jpath}: a model of voice {voice!r}, which this version does not have") from None
        if [tuple(c) for c in meta.get("combos", [])] != list(layout.combos) or tuple(meta.get("reg_targets", ())) != layout.reg_targets:
            raise ModelFileError(f"{jpath}: outputs do not match the {voice} voice's choices and parameters; retrain it")
        try:
            with np.load(npath, allow_pickle=False) as z:
                arrays = {k: np.asarray(z[k], dtype=np.float32) for k in z.files}
        except Exception as exc:  # noqa: BLE001 - any unreadable file is one error line
            raise ModelFileError(f"{npath}: not a readable npz weight file ({exc.__class__.__name__}: {exc})") from None
        try:
            layers = {h: [(arrays[f"{h}_w{i}"], arrays[f"{h}_b{i}"]) for i in range(int(meta["n_layers"][h]))] for h in ("cls", "reg")}
            x_mean, x_scale = arrays["x_mean"], arrays["x_scale"]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"{npath}: missing array {exc}") from None
        width = FEATURE_VERSIONS[version]
        ok = x_mean.shape == (width,) and x_scale.shape == (width,) and np.all(np.isfinite(x_scale)) and np.all(x_scale > 0)
        ok = ok and bool(layers["reg"]) and (bool(layers["cls"]) or len(layout.combos) == 1)
        for h, n_out in (("cls", len(layout.combos)), ("reg", len(layout.reg_targets))):
            if not layers[h]:
                continue
            w_in = width
            for w, b in layers[h]:
                ok = ok and w.ndim == 2 and w.shape[0] == w_in and b.shape == (w.shape[1],) and bool(np.all(np.isfinite(w)))
                w_in = w.shape[1] if w.ndim == 2 else -1
            ok = ok and w_in == n_out
        if not ok:
            raise ModelFileError(f"{npath}: weight shapes do not fit {width} features -> {len(layout.combos)} classes / {len(layout.reg_targets)} outputs")
        return cls(x_mean, x_scale, layers["cls"], layers["reg"], meta)


@functools.lru_cache(maxsize=1)
def load_default_model() -> Predictor:
    """The subtractive model shipped with the package (cached)."""
    return Predictor.load(DEFAULT_MODEL)


@functools.lru_cache(maxsize=None)
def load_voice_model(voice: str) -> Predictor:
    """The model a voice ships (:attr:`synth.voices.Voice.predictor_model` in :data:`MODELS_DIR`), cached.

    Raises
    ------
    ModelFileError
        The voice ships no model, or its model is not for that voice.
    """
    stem = get_voice(voice).predictor_model
    if stem is None:
        raise ModelFileError(f"voice {voice!r} ships no predictor (train one with `matcher dataset --voice {voice}` and `matcher train`)")
    model = load_default_model() if MODELS_DIR / stem == DEFAULT_MODEL else Predictor.load(MODELS_DIR / stem)
    if model.voice != voice:
        raise ModelFileError(f"{MODELS_DIR / stem}.json: a model of voice {model.voice!r}, not {voice!r}")
    return model


# -- training ------------------------------------------------------------------
def _layers(mlp) -> list[tuple[np.ndarray, np.ndarray]]:
    return [(np.asarray(w, np.float32), np.asarray(b, np.float32)) for w, b in zip(mlp.coefs_, mlp.intercepts_)]


def evaluate_predictor(model: Predictor, x: np.ndarray, combo_idx: np.ndarray, y_reg: np.ndarray) -> dict:
    """Held-out metrics: choice accuracies, unit-cube MAE per output, audible errors.

    Parameters
    ----------
    x : ndarray, shape (n, n_features)
    combo_idx : ndarray of int, shape (n,)
        True combination of each sample (:func:`combo_indices`).
    y_reg : ndarray, shape (n, len(reg_targets))
        True regression outputs (:func:`regression_targets`).

    Returns
    -------
    dict
        ``choice_acc`` per choice parameter (and ``osc_acc``, ``filter_acc``
        where the voice has ``osc_type`` / ``filter_type``), ``combo_acc``,
        ``top3_combo_acc``, ``mae`` per output (unit cube; ``filter_cutoff_via_ratio``
        where the voice has a filter), ``mae_raw_mean`` over the continuous
        parameters but ``osc_freq``, and the audible ratio errors where they exist.
    """
    layout = model.layout
    targets = layout.reg_targets
    probs, reg = model.forward(x)
    pred = probs.argmax(axis=1)
    combos = np.array(layout.combos, dtype=object).reshape(len(layout.combos), len(layout.choice_names))
    mae = {n: float(np.mean(np.abs(reg[:, j] - y_reg[:, j]))) for j, n in enumerate(targets)}
    out: dict = {"n": int(len(x))}
    choice_acc = {name: float(np.mean(combos[pred, j] == combos[combo_idx, j])) for j, name in enumerate(layout.choice_names)}
    if "osc_type" in choice_acc:
        out["osc_acc"] = choice_acc["osc_type"]
    if "filter_type" in choice_acc:
        out["filter_acc"] = choice_acc["filter_type"]
    out["combo_acc"] = float(np.mean(pred == combo_idx))
    out["top3_combo_acc"] = float(np.mean([c in np.argsort(-p)[:3] for c, p in zip(combo_idx, probs)]))
    space = get_voice(model.voice).space
    if "cutoff_ratio" in layout.derived:
        # Cutoff as the patch uses it: f0 x predicted ratio, in the cutoff's unit-cube coordinate.
        f_lo, f_hi = space["osc_freq"].low, space["osc_freq"].high
        c_lo, c_hi = space["filter_cutoff"].low, space["filter_cutoff"].high
        lo, hi = CUTOFF_RATIO_OCT
        f0 = f_lo * (f_hi / f_lo) ** y_reg[:, targets.index("osc_freq")]
        cut = np.clip(f0 * 2.0 ** (lo + (hi - lo) * reg[:, targets.index("cutoff_ratio")]), c_lo, c_hi)
        u_cut = np.log(cut / c_lo) / np.log(c_hi / c_lo)
        mae["filter_cutoff_via_ratio"] = float(np.mean(np.abs(u_cut - y_reg[:, targets.index("filter_cutoff")])))
    out["mae"] = mae
    out["mae_raw_mean"] = float(np.mean([mae[n] for n in layout.continuous if n != "osc_freq"]))
    if "cutoff_ratio" in layout.derived:
        j = targets.index("cutoff_ratio")
        out["cutoff_ratio_err_oct"] = float(np.median(np.abs(reg[:, j] - y_reg[:, j]) * (CUTOFF_RATIO_OCT[1] - CUTOFF_RATIO_OCT[0])))
    if "noise_ratio" in layout.derived:
        j = targets.index("noise_ratio")
        out["noise_ratio_mae"] = float(np.mean(np.abs(reg[:, j] - y_reg[:, j]) * NOISE_RATIO_MAX))
    out["choice_acc"] = choice_acc
    return out


def train_predictor(
    x: np.ndarray,
    combo_idx: np.ndarray,
    y_reg: np.ndarray,
    seed: int = 0,
    hidden: tuple[int, ...] = (256, 128),
    max_iter: int = 200,
    holdout: float = 0.1,
    verbose: bool = False,
    voice: str = SUBTRACTIVE.name,
    feature_version: int = FEATURE_VERSION,
) -> tuple[Predictor, dict]:
    """Train the classifier and the regressor; return the model and held-out metrics.

    Parameters
    ----------
    x : ndarray, shape (n, FEATURE_VERSIONS[feature_version])
    combo_idx : ndarray of int, shape (n,)
        Index into the voice's combinations (:func:`combo_indices`) of each sample's choices.
    y_reg : ndarray, shape (n, len(reg_targets))
        :func:`regression_targets` of each sample.
    seed : int
        Seed of the split and of both networks.
    holdout : float
        Fraction held out for the metrics (not trained on).
    voice : str
        The voice the samples are patches of (its layout sets the outputs).
    feature_version : int
        Version of the features in ``x`` (recorded with the model).
    """
    from sklearn.neural_network import MLPClassifier, MLPRegressor  # noqa: PLC0415

    layout = layout_for(voice)
    n_combos = len(layout.combos)
    if x.shape[1] != FEATURE_VERSIONS[feature_version]:
        raise ValueError(f"x has {x.shape[1]} features, version {feature_version} has {FEATURE_VERSIONS[feature_version]}")
    n = len(x)
    rng = np.random.default_rng(seed)
    order = rng.permutation(n)
    n_test = max(1, int(round(holdout * n)))
    test, train = order[:n_test], order[n_test:]
    x = np.asarray(x, np.float32)
    x_mean = x[train].mean(axis=0)
    x_scale = x[train].std(axis=0)
    x_scale = np.where(x_scale > 1e-6, x_scale, 1.0).astype(np.float32)
    z = (x - x_mean) / x_scale
    t0 = time.perf_counter()
    batch = int(min(256, max(32, len(train) // 40)))  # enough updates per epoch on small sets too
    common = dict(hidden_layer_sizes=hidden, alpha=1e-4, batch_size=batch, learning_rate_init=1e-3, max_iter=max_iter,
                  early_stopping=True, validation_fraction=0.1, n_iter_no_change=15, random_state=seed, verbose=verbose)
    from threadpoolctl import threadpool_limits  # noqa: PLC0415 - sklearn dependency

    # One BLAS thread: these small products get 10x slower with oversubscribed threads (measured).
    with threadpool_limits(1):
        clf = MLPClassifier(**common).fit(z[train], combo_idx[train]) if n_combos > 1 else None
        y_mean = y_reg[train].mean(axis=0)
        reg = MLPRegressor(**common).fit(z[train], y_reg[train] - y_mean)  # centred targets train faster
    cls_layers: list[tuple[np.ndarray, np.ndarray]] = []
    if clf is not None:
        # MLPClassifier only knows the classes it saw: map its outputs back to every combination.
        cls_layers = _layers(clf)
        w, b = cls_layers[-1]
        if len(clf.classes_) != n_combos:
            full_w = np.zeros((w.shape[0], n_combos), np.float32)
            full_b = np.full(n_combos, -30.0, np.float32)
            full_w[:, clf.classes_], full_b[clf.classes_] = (w, b) if w.shape[1] > 1 else (np.hstack([-w, w]), np.hstack([-b, b]))
            cls_layers[-1] = (full_w, full_b)
    train_s = time.perf_counter() - t0
    reg_layers = _layers(reg)
    reg_layers[-1] = (reg_layers[-1][0], (reg_layers[-1][1] + y_mean).astype(np.float32))  # fold the centring back in
    meta = {"hidden": list(hidden), "seed": seed, "n_train": int(len(train)), "n_test": int(n_test),
            "epochs": {"cls": int(clf.n_iter_) if clf is not None else 0, "reg": int(reg.n_iter_)}, "train_s": round(train_s, 1)}
    if voice != SUBTRACTIVE.name:
        meta["voice"] = voice
    meta["feature_version"] = int(feature_version)
    model = Predictor(x_mean.astype(np.float32), x_scale, cls_layers, reg_layers, meta)
    metrics = evaluate_predictor(model, x[test], combo_idx[test], y_reg[test])
    metrics["train_s"] = train_s
    model.meta["holdout_metrics"] = {k: v for k, v in metrics.items() if k != "train_s"}
    return model, metrics
