"""The voices: registry, parameter spaces, and the analog and fm voices rendered like the subtractive one.

Each voice renders deterministically, is silent at zero level, exactly
proportional to its gain parameter, in tune, finite on random patches, and
each of its envelopes and parts does what it says (measured on the audio).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.signal import hilbert

from objectives.pitch import estimate_pitch
from synth.params import PatchValueError
from synth.render import render
from synth.voices import DEFAULT_VOICE, FILTER_TYPES, OSC_TYPES, VOICES, envelope_times, get_voice
from synth.voices.analog import ANALOG_FILTER_TYPES, drive_curve, osc2_ratio
from synth.voices.controls import CUTOFF_MIN_HZ, attack_decay_env, control_times, cutoff_track, pitch_cents
from synth.voices.fm import FEEDBACK_MAX_RAD, feedback_wave, max_index

from tests.conftest import BASE_PATCH, SR

NEW_VOICES = ("analog", "fm")

ANALOG_BASE: dict[str, float | str] = {
    **BASE_PATCH,
    "osc_pw": 0.5,
    "osc2_coarse_st": 0.0,
    "osc2_detune_cents": 0.0,
    "osc2_mix": 0.0,
    "fenv_amount_oct": 0.0,
    "fenv_attack_s": 0.002,
    "fenv_decay_s": 0.1,
    "fenv_sustain": 0.0,
    "pitch_env_st": 0.0,
    "pitch_env_decay_s": 0.05,
    "vib_rate_hz": 5.0,
    "vib_depth_cents": 0.0,
    "vib_delay_s": 0.0,
    "drive": 0.0,
}
"""The subtractive base note (a 440 Hz saw through a 3 kHz lowpass) with every analog extra off."""

FM_BASE: dict[str, float | str] = {
    **{k: BASE_PATCH[k] for k in ("duree", "osc_freq", "osc_vol", "noise_vol", "env_attack", "env_decay", "env_sustain", "env_release", "master_vol")},
    "fm_ratio": 1.0,
    "fm_index": 1.0,
    "fm_index_env_amount": 0.0,
    "fm_index_decay_s": 0.1,
    "fm_feedback": 0.0,
    "pitch_env_st": 0.0,
    "pitch_env_decay_s": 0.05,
    "vib_rate_hz": 5.0,
    "vib_depth_cents": 0.0,
    "vib_delay_s": 0.0,
}
"""A plain 440 Hz FM note at index 1, ratio 1."""

ALL_ON = {
    "analog": dict(osc_type="square", osc_pw=0.3, osc2_mix=0.4, osc2_coarse_st=7.0, osc2_detune_cents=8.0, noise_vol=0.2, filter_type="lowpass24", filter_res=4.0,
                   fenv_amount_oct=3.0, fenv_sustain=0.2, pitch_env_st=5.0, vib_depth_cents=20.0, vib_delay_s=0.1, drive=0.5),
    "fm": dict(fm_ratio=2.0, fm_index=1.5, fm_index_env_amount=4.0, fm_feedback=0.5, noise_vol=0.2, pitch_env_st=5.0, vib_depth_cents=20.0, vib_delay_s=0.1),
}
"""Per voice, overrides that switch every optional part on."""


def make(voice: str, **overrides: float | str) -> dict[str, float | str]:
    """A checked patch of ``voice``: its base note with ``overrides``."""
    base = {"analog": ANALOG_BASE, "fm": FM_BASE}[voice]
    unknown = set(overrides) - set(base)
    if unknown:
        raise KeyError(f"not a {voice} parameter: {sorted(unknown)}")
    return get_voice(voice).space.check({**base, **overrides})


def sine_note(voice: str, **overrides: float | str) -> dict[str, float | str]:
    """A pure sine of ``voice`` (analog: sine through an open lowpass; fm: index 0)."""
    if voice == "analog":
        return make(voice, osc_type="sine", filter_cutoff=16000.0, **overrides)
    return make(voice, fm_index=0.0, **overrides)


def inst_freq_hz(y: np.ndarray, sr: int, smooth_s: float = 0.004) -> np.ndarray:
    """Instantaneous frequency of a (near) pure tone, shape (len(y) - 1,), from the analytic signal's phase."""
    phase = np.unwrap(np.angle(hilbert(y.astype(np.float64))))
    f = np.diff(phase) * sr / (2 * np.pi)
    k = max(1, int(smooth_s * sr))
    return np.convolve(f, np.ones(k) / k, mode="same")


def cents(f_hz: np.ndarray | float, ref_hz: float) -> np.ndarray | float:
    return 1200.0 * np.log2(np.maximum(np.asarray(f_hz), 1e-3) / ref_hz)


def centroid_hz(y: np.ndarray, sr: int, start_s: float, stop_s: float) -> float:
    """Spectral centroid of ``y`` between two times."""
    seg = y[int(start_s * sr) : int(stop_s * sr)].astype(np.float64)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)))) ** 2
    f = np.fft.rfftfreq(len(seg), 1.0 / sr)
    return float(np.sum(f * spec) / np.sum(spec))


def high_share(y: np.ndarray, sr: int, start_s: float, stop_s: float, above_hz: float) -> float:
    """Share of the energy above ``above_hz`` between two times (brightness)."""
    seg = y[int(start_s * sr) : int(stop_s * sr)].astype(np.float64)
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg)))) ** 2
    f = np.fft.rfftfreq(len(seg), 1.0 / sr)
    return float(spec[f > above_hz].sum() / spec.sum())


def rms_envelope(y: np.ndarray, sr: int, hop_s: float = 0.005) -> np.ndarray:
    hop = int(hop_s * sr)
    n = len(y) // hop
    return np.sqrt(np.mean(y[: n * hop].astype(np.float64).reshape(n, hop) ** 2, axis=1))


def harmonic_db(y: np.ndarray, sr: int, f0_hz: float, k: int) -> float:
    """Level of harmonic ``k`` relative to the fundamental, in dB (from a 1 Hz-resolution spectrum)."""
    spec = np.abs(np.fft.rfft(y.astype(np.float64) * np.hanning(len(y))))
    f = np.fft.rfftfreq(len(y), 1.0 / sr)

    def level(hz: float) -> float:
        return float(spec[np.abs(f - hz) < 3.0].max())

    return 20.0 * math.log10(level(k * f0_hz) / level(f0_hz) + 1e-300)


# -- registry -------------------------------------------------------------------------------------
def test_the_registry_lists_the_default_first_then_every_voice():
    assert list(VOICES)[0] == DEFAULT_VOICE == "subtractive"
    assert set(NEW_VOICES) <= set(VOICES) and len(VOICES) >= 3
    for name, voice in VOICES.items():
        assert voice.name == name and get_voice(name) is voice and voice.doc


def test_the_old_import_names_still_work():
    from synth.voices import SUBTRACTIVE, Voice  # noqa: PLC0415

    assert isinstance(SUBTRACTIVE, Voice) and SUBTRACTIVE.space["osc_type"].choices == OSC_TYPES
    assert SUBTRACTIVE.space["filter_type"].choices == FILTER_TYPES
    assert envelope_times(0.1, 0.1, 0.1, 1.0) == (0.1, 0.1, 0.1)


@pytest.mark.parametrize("name", list(VOICES))
def test_shared_parts_keep_the_names_and_units_of_design_4(name):
    space = get_voice(name).space
    units = {"duree": "s", "osc_freq": "Hz", "filter_cutoff": "Hz", "filter_res": "Q", "env_attack": "s", "env_decay": "s", "env_release": "s",
             "env_sustain": "", "osc_vol": "", "noise_vol": "", "master_vol": ""}
    for pname, unit in units.items():
        if pname in space.names:
            assert space[pname].unit == unit, pname
    voice = get_voice(name)
    assert voice.gain_param == "master_vol" and space["master_vol"].low == 0.0 and space["master_vol"].high == 1.0


@pytest.mark.parametrize("name", list(VOICES))
def test_encode_decode_round_trips_every_voice(name):
    space = get_voice(name).space
    rng = np.random.default_rng(3)
    for _ in range(20):
        u = rng.uniform(size=space.dim)
        patch = space.decode(u)
        assert space.check(patch) == patch
        back = space.encode(patch)
        for p, a, b in zip(space.free, u, back):
            if p.is_choice:
                assert p.decode(b) == p.decode(a)
            else:
                assert b == pytest.approx(a, abs=1e-9)
        again = space.decode(back)
        for p in space.params:
            if p.is_choice:
                assert again[p.name] == patch[p.name]
            else:
                assert again[p.name] == pytest.approx(patch[p.name], rel=1e-9, abs=1e-12)


def test_choices_make_few_arms():
    arms = {name: math.prod(len(p.choices) for p in v.space.params if p.is_choice) for name, v in VOICES.items()}
    assert arms["subtractive"] == 12 and arms["analog"] == 16 and arms["fm"] == 1


# -- every new voice, like the subtractive one ----------------------------------------------------
@pytest.mark.parametrize("voice", NEW_VOICES)
def test_identical_patches_give_bit_identical_audio_noise_included(voice):
    p = make(voice, **ALL_ON[voice])
    a = render(p, SR, SR // 2, voice=voice)
    other = render(make(voice, osc_freq=97.0, noise_vol=1.0), SR, SR, voice=voice)
    render(BASE_PATCH, SR, SR)
    b = render(dict(p), SR, SR // 2, voice=voice)
    assert a.dtype == np.float32 and a.shape == (SR // 2,) and not np.array_equal(other[: SR // 2], a)
    assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize("voice", NEW_VOICES)
def test_deterministic_across_a_sample_rate_switch(voice):
    p = make(voice, **ALL_ON[voice])
    a = render(p, SR, SR // 4, voice=voice)
    hi = render(p, 44100, 44100 // 4, voice=voice)
    assert np.all(np.isfinite(hi)) and np.max(np.abs(hi)) > 0.01
    assert render(p, SR, SR // 4, voice=voice).tobytes() == a.tobytes()
    assert render(p, 44100, 44100 // 4, voice=voice).tobytes() == hi.tobytes()
    render(BASE_PATCH, SR, 100)


@pytest.mark.parametrize("voice", NEW_VOICES)
def test_random_patches_render_finite_audio_at_both_rates(voice):
    space = get_voice(voice).space.lock(duree=0.3)
    rng = np.random.default_rng(11)
    for i in range(24):
        p = space.decode(rng.uniform(size=space.dim))
        sr = SR if i % 2 == 0 else 44100
        y = render(p, sr, int(0.35 * sr), voice=voice)
        assert np.all(np.isfinite(y)), p
        assert np.max(np.abs(y)) < 50.0, p
    render(BASE_PATCH, SR, 100)


@pytest.mark.parametrize("voice", NEW_VOICES)
@pytest.mark.parametrize("zero", [dict(master_vol=0.0), dict(osc_vol=0.0, noise_vol=0.0)], ids=["master_off", "sources_off"])
def test_silence_at_zero_level(voice, zero):
    y = render(make(voice, **{**ALL_ON[voice], **zero}), SR, SR // 2, voice=voice)
    assert np.max(np.abs(y)) == 0.0


@pytest.mark.parametrize("voice", NEW_VOICES)
def test_no_leftover_sound_from_the_previous_render(voice):
    render(make(voice, **ALL_ON[voice], duree=2.0, env_release=0.8), SR, SR, voice=voice)
    y = render(make(voice, osc_vol=0.0, noise_vol=0.0), SR, SR // 2, voice=voice)
    assert np.max(np.abs(y)) == 0.0


@pytest.mark.parametrize("voice", NEW_VOICES)
def test_level_is_proportional_to_master_volume(voice):
    a = render(make(voice, **ALL_ON[voice], master_vol=1.0), SR, SR // 2, voice=voice)
    b = render(make(voice, **ALL_ON[voice], master_vol=0.25), SR, SR // 2, voice=voice)
    assert np.max(np.abs(a)) > 0.05
    np.testing.assert_allclose(b, 0.25 * a, atol=1e-6)


@pytest.mark.parametrize("voice", NEW_VOICES)
def test_the_note_ends_by_duree(voice):
    y = render(make(voice, **ALL_ON[voice], duree=0.1, env_attack=0.005, env_decay=0.02, env_release=0.02), SR, SR, voice=voice)
    assert np.max(np.abs(y[: SR // 20])) > 0.02
    assert np.max(np.abs(y[int(0.3 * SR) :])) < 1e-4


@pytest.mark.parametrize("voice", NEW_VOICES)
@pytest.mark.parametrize("freq_hz", [110.0, 440.0, 1200.0])
def test_a_plain_note_is_in_tune(voice, freq_hz):
    p = make(voice, osc_freq=freq_hz, duree=1.0) if voice == "fm" else make(voice, osc_freq=freq_hz, duree=1.0, filter_cutoff=8000.0)
    est = estimate_pitch(render(p, SR, SR, voice=voice), SR)
    assert est.voiced and abs(cents(est.f0_hz, freq_hz)) < 3.0


@pytest.mark.parametrize("voice", NEW_VOICES)
def test_the_amp_adsr_shapes_the_rms_envelope_like_the_subtractive_voice(voice):
    env = dict(duree=1.0, env_attack=0.1, env_decay=0.2, env_sustain=0.4, env_release=0.3)
    ours = rms_envelope(render(sine_note(voice, **env), SR, SR, voice=voice), SR)
    theirs = rms_envelope(render({**BASE_PATCH, **env, "osc_type": "sine", "filter_cutoff": 10000.0}, SR, SR), SR)
    ours, theirs = ours / ours.max(), theirs / theirs.max()
    loud = theirs > 0.05
    assert np.max(np.abs(20 * np.log10(ours[loud] / theirs[loud]))) < 0.5
    peak_s = (np.argmax(ours) + 0.5) * 0.005
    assert 0.08 < peak_s < 0.12  # the end of the attack
    assert np.median(ours[int(0.4 / 0.005) : int(0.65 / 0.005)]) == pytest.approx(0.4, rel=0.05)  # sustain


@pytest.mark.parametrize("voice", NEW_VOICES)
def test_the_pitch_envelope_starts_away_and_settles_on_osc_freq(voice):
    for st in (12.0, -7.0):
        y = render(sine_note(voice, osc_freq=330.0, duree=0.6, env_attack=0.002, pitch_env_st=st, pitch_env_decay_s=0.05), SR, int(0.6 * SR), voice=voice)
        track = cents(inst_freq_hz(y, SR), 330.0)
        start = np.median(track[int(0.006 * SR) : int(0.012 * SR)])
        assert start == pytest.approx(100.0 * st * math.exp(-0.009 / 0.05), abs=60.0)
        assert abs(np.median(track[int(0.35 * SR) : int(0.45 * SR)])) < 2.0


@pytest.mark.parametrize("voice", NEW_VOICES)
def test_vibrato_oscillates_at_its_rate_and_depth_after_its_delay(voice):
    y = render(sine_note(voice, osc_freq=440.0, duree=2.0, vib_rate_hz=6.0, vib_depth_cents=40.0, vib_delay_s=0.3), SR, 2 * SR, voice=voice)
    track = cents(inst_freq_hz(y, SR), 440.0)
    assert np.max(np.abs(track[int(0.05 * SR) : int(0.28 * SR)])) < 2.0  # silent during the delay
    steady = track[int(0.7 * SR) : int(1.7 * SR)]
    assert np.max(np.abs(steady)) == pytest.approx(40.0, abs=4.0)
    spec = np.abs(np.fft.rfft(steady - steady.mean(), n=8 * len(steady)))
    rate_hz = np.fft.rfftfreq(8 * len(steady), 1.0 / SR)[np.argmax(spec)]
    assert rate_hz == pytest.approx(6.0, abs=0.2)


# -- analog ---------------------------------------------------------------------------------------
def test_analog_with_its_extras_off_is_the_subtractive_voice_bit_for_bit():
    for overrides in (dict(), dict(noise_vol=0.3, osc_type="square", filter_type="bandpass", filter_res=5.0), dict(osc_type="triangle", filter_type="highpass")):
        sub = render({**BASE_PATCH, **overrides}, SR, SR // 2)
        ana = render(make("analog", **overrides), SR, SR // 2, voice="analog")
        if overrides.get("osc_type") == "square":  # the analog square is a pulse made of two saws: same partials, not the same samples
            assert np.sqrt(np.mean(ana**2)) == pytest.approx(np.sqrt(np.mean(sub**2)), rel=0.05)
        else:
            assert ana.tobytes() == sub.tobytes()


def test_the_filter_envelope_closes_a_pluck():
    pluck = dict(osc_freq=110.0, duree=1.0, filter_cutoff=150.0, fenv_amount_oct=5.0, fenv_decay_s=0.08, fenv_sustain=0.0, env_sustain=1.0)
    for filter_type in ANALOG_FILTER_TYPES:
        if filter_type == "highpass":
            continue
        y = render(make("analog", filter_type=filter_type, **pluck), SR, SR, voice="analog")
        early, late = high_share(y, SR, 0.01, 0.06, 500.0), high_share(y, SR, 0.5, 0.7, 500.0)
        assert early > 0.02 and late < 0.1 * early, filter_type
        assert centroid_hz(y, SR, 0.01, 0.06) > 1.5 * centroid_hz(y, SR, 0.5, 0.7), filter_type
    static = render(make("analog", **{**pluck, "fenv_amount_oct": 0.0}), SR, SR, voice="analog")
    assert centroid_hz(static, SR, 0.01, 0.06) == pytest.approx(centroid_hz(static, SR, 0.5, 0.7), rel=0.15)


def test_the_filter_envelope_attack_opens_the_filter_slowly():
    y = render(make("analog", osc_freq=110.0, duree=1.0, filter_cutoff=150.0, fenv_amount_oct=5.0, fenv_attack_s=0.4, fenv_decay_s=1.0, fenv_sustain=1.0, env_sustain=1.0), SR, SR, voice="analog")
    assert high_share(y, SR, 0.02, 0.08, 500.0) < 0.1 * high_share(y, SR, 0.5, 0.7, 500.0)


def test_the_cutoff_curve_stays_between_20_hz_and_045_sr():
    t = control_times(1.0, SR)
    for cutoff, amount in ((40.0, 8.0), (16000.0, 8.0), (40.0, 0.0)):
        c = cutoff_track(t, SR, cutoff, amount, 0.01, 0.1, 0.0)
        assert c.min() >= CUTOFF_MIN_HZ and c.max() <= 0.45 * SR + 1e-3
    env = attack_decay_env(t, 0.1, 0.2, 0.3)
    assert env[0] == 0.0 and env.max() == pytest.approx(1.0, abs=1e-3) and env[-1] == pytest.approx(0.3 + 0.7 * math.exp(-(t[-1] - 0.1) / 0.2), abs=1e-4)


def test_the_24_db_lowpass_falls_twice_as_steeply():
    def level_db(filter_type: str, freq_hz: float) -> float:
        p = make("analog", osc_type="sine", osc_freq=freq_hz, duree=1.0, filter_type=filter_type, filter_cutoff=100.0, filter_res=0.7071)
        y = render(p, SR, SR, voice="analog")[SR // 4 : 3 * SR // 4]
        return 20 * math.log10(np.sqrt(np.mean(y.astype(np.float64) ** 2)))

    slope12 = level_db("lowpass", 800.0) - level_db("lowpass", 1600.0)
    slope24 = level_db("lowpass24", 800.0) - level_db("lowpass24", 1600.0)
    assert slope12 == pytest.approx(12.0, abs=1.5) and slope24 == pytest.approx(24.0, abs=2.5)


def test_pulse_width_sets_the_even_harmonics():
    def h(pw: float, k: int) -> float:
        y = render(make("analog", osc_type="square", osc_pw=pw, osc_freq=200.0, duree=1.0, filter_cutoff=16000.0), SR, SR, voice="analog")
        return harmonic_db(y[SR // 4 : 3 * SR // 4 + SR // 4], SR, 200.0, k)

    assert h(0.5, 2) < -60.0 and h(0.5, 3) == pytest.approx(20 * math.log10(1 / 3), abs=1.0)  # a square
    assert h(0.25, 2) == pytest.approx(20 * math.log10(math.sin(math.pi / 2) / (2 * math.sin(math.pi / 4))), abs=1.0)
    assert h(0.25, 4) < -50.0  # sin(4 pi pw) = 0


def test_oscillator_2_plays_its_interval_and_detune():
    assert osc2_ratio(6.6, 0.0) == osc2_ratio(7.4, 0.0) == pytest.approx(2 ** (7 / 12))
    assert osc2_ratio(0.0, 50.0) == pytest.approx(2 ** (50 / 1200))
    y = render(make("analog", osc_type="sine", osc_freq=200.0, duree=1.0, filter_cutoff=16000.0, osc2_mix=0.5, osc2_coarse_st=12.0), SR, SR, voice="analog")
    assert harmonic_db(y, SR, 200.0, 2) == pytest.approx(0.0, abs=1.0)  # equal mix of 200 and 400 Hz
    only2 = render(make("analog", osc_type="sine", osc_freq=200.0, duree=1.0, filter_cutoff=16000.0, osc2_mix=1.0, osc2_coarse_st=0.0, osc2_detune_cents=30.0), SR, SR, voice="analog")
    est = estimate_pitch(only2, SR)
    assert abs(cents(est.f0_hz, 200.0) - 30.0) < 3.0


def test_drive_adds_odd_harmonics_and_fades_to_the_bypass():
    p = dict(osc_type="sine", osc_freq=200.0, duree=1.0, filter_cutoff=16000.0)
    clean = render(make("analog", **p), SR, SR, voice="analog")
    driven = render(make("analog", **p, drive=0.6), SR, SR, voice="analog")
    assert harmonic_db(clean, SR, 200.0, 3) < -70.0 and harmonic_db(driven, SR, 200.0, 3) > -30.0
    slight = render(make("analog", **p, drive=1e-4), SR, SR, voice="analog")
    np.testing.assert_allclose(slight, clean, atol=2e-3)
    curve = drive_curve(4096)
    assert np.all(np.diff(curve) >= 0) and curve[0] < -0.99 and curve[-1] > 0.99 and abs(curve[2048]) < 0.02


# -- fm -------------------------------------------------------------------------------------------
def test_fm_sidebands_follow_the_index():
    # Carrier 2 kHz, modulator 1 kHz: partials at 2 kHz +/- k kHz, J_k(index) (no fold-over below k = 3).
    y = render(make("fm", osc_freq=2000.0, fm_ratio=0.5, fm_index=1.0, duree=1.0, env_sustain=1.0), 44100, 44100, voice="fm")
    j0, j1, j2 = 0.7652, 0.4401, 0.1149
    assert harmonic_db(y, 44100, 1000.0, 3) - harmonic_db(y, 44100, 1000.0, 2) == pytest.approx(20 * math.log10(j1 / j0), abs=1.0)
    assert harmonic_db(y, 44100, 1000.0, 4) - harmonic_db(y, 44100, 1000.0, 2) == pytest.approx(20 * math.log10(j2 / j0), abs=1.5)


def test_fm_integer_ratios_are_harmonic():
    y = render(make("fm", osc_freq=200.0, fm_ratio=3.0, fm_index=2.0, duree=1.0), SR, SR, voice="fm")
    spec = np.abs(np.fft.rfft(y.astype(np.float64) * np.hanning(len(y)))) ** 2
    f = np.fft.rfftfreq(len(y), 1.0 / SR)
    on_harmonics = np.abs(f / 200.0 - np.round(f / 200.0)) * 200.0 < 4.0
    assert spec[on_harmonics].sum() > 0.999 * spec.sum()


def test_the_index_envelope_makes_the_brightness_decay():
    bell = dict(osc_freq=220.0, duree=1.0, fm_ratio=1.0, fm_index=0.0, fm_index_env_amount=5.0, fm_index_decay_s=0.1, env_sustain=1.0)
    y = render(make("fm", **bell), SR, SR, voice="fm")
    assert high_share(y, SR, 0.005, 0.04, 500.0) > 0.3 and high_share(y, SR, 0.5, 0.7, 500.0) < 1e-3
    assert centroid_hz(y, SR, 0.005, 0.04) > 1.8 * centroid_hz(y, SR, 0.5, 0.7)
    static = render(make("fm", **{**bell, "fm_index": 3.0, "fm_index_env_amount": 0.0}), SR, SR, voice="fm")
    assert centroid_hz(static, SR, 0.01, 0.05) == pytest.approx(centroid_hz(static, SR, 0.5, 0.7), rel=0.05)


def test_fm_feedback_brightens_the_modulator_smoothly():
    assert np.allclose(feedback_wave(0.0), np.sin(np.arange(512) * 2 * np.pi / 512), atol=1e-6)
    prev = None
    for beta in np.linspace(0.0, FEEDBACK_MAX_RAD, 7):
        w = feedback_wave(beta).astype(np.float64)
        phi = np.arange(len(w)) * 2 * np.pi / len(w)
        assert np.max(np.abs(w - np.sin(phi + beta * w))) < 2e-3  # y = sin(phi + beta y)
        spec = np.abs(np.fft.rfft(w))
        ratio = spec[2] / spec[1]
        assert prev is None or ratio > prev
        prev = ratio
    a = render(make("fm", fm_feedback=0.0, fm_index=1.0), SR, SR // 2, voice="fm")
    b = render(make("fm", fm_feedback=0.8, fm_index=1.0), SR, SR // 2, voice="fm")
    assert not np.array_equal(a, b) and np.all(np.isfinite(b))


def test_the_fm_index_is_capped_by_carsons_rule():
    assert max_index(1000.0, 1.0, SR) == pytest.approx((0.45 * SR - 1000.0) / 1000.0 - 1.0)
    assert max_index(8000.0, 2.0, SR) == 0.0  # modulator above the band: off
    y = render(make("fm", osc_freq=1500.0, fm_ratio=4.0, fm_index=8.0, duree=1.0), SR, SR, voice="fm")
    spec = np.abs(np.fft.rfft(y.astype(np.float64) * np.hanning(len(y)))) ** 2
    f = np.fft.rfftfreq(len(y), 1.0 / SR)
    # Every partial is a sideband 1500 + k 6000 Hz (no aliasing, which would land elsewhere).
    k = (f - 1500.0) / 6000.0
    on_sidebands = (np.abs(k - np.round(k)) * 6000.0 < 5.0) | (np.abs((f + 1500.0) / 6000.0 - np.round((f + 1500.0) / 6000.0)) * 6000.0 < 5.0)
    assert spec[on_sidebands].sum() > 0.999 * spec.sum()


def test_pitch_curve_is_zero_without_pitch_envelope_or_vibrato():
    t = control_times(1.0, SR)
    assert np.all(pitch_cents(t, 0.0, 0.05, 5.0, 0.0, 0.2) == 0.0)
    vib = pitch_cents(t, 0.0, 0.05, 5.0, 30.0, 0.2)
    assert np.all(vib[t < 0.2] == 0.0) and np.max(np.abs(vib)) == pytest.approx(30.0, abs=0.1)


def test_patch_values_out_of_range_are_rejected():
    with pytest.raises(PatchValueError):
        get_voice("analog").space.check({**ANALOG_BASE, "filter_type": "ladder9"})
    with pytest.raises(PatchValueError):
        get_voice("fm").space.check({**FM_BASE, "fm_ratio": 100.0})


def test_a_detuned_pair_plays_between_its_oscillators():
    from synth.voices.analog import detuned_pair  # noqa: PLC0415

    analog = get_voice("analog")
    pair = {"osc_freq": 500.0, **detuned_pair(30.0, 766.6)}
    assert analog.f0_hz(pair) == pytest.approx(766.6, rel=1e-9)  # the centre a detuned seed was built around
    assert analog.f0_hz({**pair, "osc2_mix": 0.0}) == pair["osc_freq"]  # oscillator 1 alone
    assert analog.f0_hz({**pair, "osc2_coarse_st": 12.0}) == pair["osc_freq"]  # an octave above is another note
    assert get_voice("subtractive").f0_hz({"osc_freq": 440.0}) == 440.0
