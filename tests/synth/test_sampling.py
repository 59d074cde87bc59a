"""Random valid patches: every rule rejects what it should, draws are reproducible and valid."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from synth.render import render
from synth.sampling import (
    CLIP_PEAK,
    FILTER_WINDOWS,
    SAMPLER_V1,
    SAMPLER_V2,
    SAMPLERS,
    SILENCE_PEAK,
    audio_problems,
    draw_patch,
    filter_audible,
    get_sampler,
    rule_problems,
    sample_valid_patch,
)
from synth.voices import FILTER_TYPES, OSC_TYPES, SUBTRACTIVE

from tests.conftest import SR


def _valid(patch):
    """A patch that passes every rule (checked, so the tests below change one thing at a time)."""
    p = patch(osc_freq=220.0, filter_type="lowpass", filter_cutoff=220.0 * 4, noise_vol=0.1, osc_vol=0.8, duree=1.0)
    assert rule_problems(p, SR) == []
    return p


def test_draws_are_in_the_voice_space_and_reproducible():
    a = [draw_patch(np.random.default_rng(5)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    draws = [draw_patch(rng, duree_s=0.7) for _ in range(400)]
    for d in draws:
        assert SUBTRACTIVE.space.check(d) == d
        assert d["duree"] == 0.7
    # Balanced choices: every osc and filter type is drawn a fair share.
    osc = Counter(d["osc_type"] for d in draws)
    filt = Counter(d["filter_type"] for d in draws)
    assert set(osc) == set(OSC_TYPES) and min(osc.values()) > 400 / len(OSC_TYPES) / 2
    assert set(filt) == set(FILTER_TYPES) and min(filt.values()) > 400 / len(FILTER_TYPES) / 2


@pytest.mark.parametrize("spec", [SAMPLER_V1, SAMPLER_V2], ids=["v1", "v2"])
@pytest.mark.parametrize("filter_type", FILTER_TYPES)
def test_filter_window_rules(patch, filter_type, spec):
    lo, hi = spec.filter_windows[filter_type]
    base = {**_valid(patch), "filter_type": filter_type, "osc_freq": 110.0}
    f0 = base["osc_freq"]
    assert rule_problems({**base, "filter_cutoff": f0 * np.sqrt(lo * hi)}, SR, spec) == []
    assert rule_problems({**base, "filter_cutoff": f0 * lo * 0.9}, SR, spec) == ["filter_cuts_note"]
    assert rule_problems({**base, "filter_cutoff": f0 * hi * 1.1}, SR, spec) == ["filter_inaudible"]


def test_v2_windows_are_at_least_the_issues_and_the_default():
    for filter_type, (lo, hi) in {"lowpass": (2, 24), "highpass": (0.5, 4), "bandpass": (1, 8)}.items():
        got_lo, got_hi = SAMPLER_V2.filter_windows[filter_type]
        assert got_lo <= lo and got_hi >= hi
    assert FILTER_WINDOWS == SAMPLER_V2.filter_windows
    assert get_sampler(None) is SAMPLER_V2 and get_sampler("v1") is SAMPLER_V1 and set(SAMPLERS) == {"v1", "v2"}
    with pytest.raises(ValueError, match="unknown sampler"):
        get_sampler("v3")


def test_other_rules(patch):
    p = _valid(patch)
    for spec in (SAMPLER_V1, SAMPLER_V2):
        assert "cutoff_near_nyquist" in rule_problems({**p, "osc_freq": 1500.0, "filter_cutoff": 9500.0}, SR, spec)
        assert rule_problems({**p, "env_attack": 0.3, "env_decay": 0.4, "env_release": 0.3}, SR, spec) == ["envelope_longer_than_note"]
        assert rule_problems({**p, "noise_vol": 0.6 * p["osc_vol"]}, SR, spec) == ["noise_masks_note"]
        assert rule_problems({**p, "osc_type": "saw", "noise_vol": 0.0}, SR, spec) == []
    # V1 demanded noise on a sine; V2 allows a pure sine.
    assert rule_problems({**p, "osc_type": "sine", "noise_vol": 0.0}, SR, SAMPLER_V1) == ["filter_unidentifiable"]
    assert rule_problems({**p, "osc_type": "sine", "noise_vol": 0.0}, SR) == []
    # At 44.1 kHz 0.4·sr is above the voice's cutoff range: the range rule still holds.
    assert rule_problems({**p, "osc_freq": 1000.0, "filter_cutoff": 12000.0}, 44100) == ["cutoff_out_of_range"]


REFERENCE = Path(__file__).parent / "fixtures" / "sampler_v1_reference.json"


def _same_patch(got: dict, want: dict) -> bool:
    """Same names and choices, numbers equal up to the last bit or two (numpy's exp and log may round differently on another CPU)."""
    return got.keys() == want.keys() and all(
        got[k] == want[k] if isinstance(want[k], str) else got[k] == pytest.approx(want[k], rel=1e-12) for k in want
    )


def test_v1_draws_the_same_patches_as_before_the_sampler_had_versions():
    """The reference was written by the code of commit e246e2d, before SamplerSpec existed."""
    ref = json.loads(REFERENCE.read_text())
    rng = np.random.default_rng(2024)
    for got, want in zip([draw_patch(rng, 1.0, SAMPLER_V1) for _ in range(len(ref["draws"]))], ref["draws"], strict=True):
        assert _same_patch(got, want)
    for i, want in enumerate(ref["valid"]):
        rej = Counter()
        got, _ = sample_valid_patch(np.random.default_rng([2024, i]), render, 22050, 0.5, rejections=rej, spec="v1")
        assert _same_patch(got, want["patch"]) and dict(rej) == want["rejections"]


def test_v2_valid_notes_half_noiseless_pure_sines_windows_and_levels():
    rng = np.random.default_rng(8)
    notes = [sample_valid_patch(rng, render, SR, 0.2)[0] for _ in range(240)]
    noiseless = [p["noise_vol"] == 0.0 for p in notes]
    assert 0.4 < np.mean(noiseless) < 0.6  # binomial sd 0.032 around 0.5
    assert all(p["noise_vol"] <= 0.5 * p["osc_vol"] for p in notes)
    assert any(p["osc_type"] == "sine" and p["noise_vol"] == 0.0 for p in notes)  # pure sines occur
    for p in notes:
        lo, hi = SAMPLER_V2.filter_windows[p["filter_type"]]
        assert lo <= p["filter_cutoff"] / p["osc_freq"] <= hi
        assert 0.5 <= p["osc_vol"] <= 1.0 and 0.5 <= p["master_vol"] <= 1.0
        assert SUBTRACTIVE.space.check(p) == p
    # The windows are used to their ends (V1 stopped at lowpass 16, highpass 1 and 6).
    ratio = {t: [p["filter_cutoff"] / p["osc_freq"] for p in notes if p["filter_type"] == t] for t in FILTER_TYPES}
    assert max(ratio["lowpass"]) > 16 and min(ratio["highpass"]) < 1


def test_filter_audible(patch):
    saw = _valid(patch)  # saw through a lowpass at 4 × f0, noise 0.1
    clean = {**saw, "noise_vol": 0.0}
    assert filter_audible(saw) and filter_audible(clean)
    assert not filter_audible({**clean, "osc_type": "sine"})  # pure sine: only the gain at f0 is heard
    assert not filter_audible({**clean, "osc_type": "sine", "noise_vol": 0.02})  # noise too faint to show the filter
    assert filter_audible({**clean, "osc_type": "sine", "noise_vol": 0.08})  # filtered noise shows the type
    # A gentle highpass an octave below f0 barely touches a clean saw: a lowpass above the band imitates it at 22.05 kHz.
    gentle_hp = {**clean, "filter_type": "highpass", "filter_cutoff": 110.0, "filter_res": 0.7}
    assert not filter_audible(gentle_hp, 22050)
    assert filter_audible({**gentle_hp, "filter_res": 4.0})  # a resonant one boosts f0 audibly
    assert filter_audible({**clean, "filter_type": "bandpass", "filter_cutoff": 440.0, "filter_res": 2.0})
    # A triangle's harmonics fade fast: a lowpass at 24 × f0 leaves it unchanged.
    assert not filter_audible({**clean, "osc_type": "triangle", "filter_cutoff": 24 * 220.0})


def test_audio_problems():
    assert audio_problems(np.zeros(100, np.float32)) == ["silent"]
    assert audio_problems(np.full(100, SILENCE_PEAK / 2, np.float32)) == ["silent"]
    assert audio_problems(np.array([0.0, -CLIP_PEAK], np.float32)) == ["clipping"]
    assert audio_problems(np.array([0.0, 0.5, -0.3], np.float32)) == []
    assert audio_problems(np.zeros(0, np.float32)) == ["silent"]


def test_sample_valid_patch_is_valid_reproducible_and_counts_rejections():
    rej = Counter()
    p1, a1 = sample_valid_patch(np.random.default_rng(11), render, SR, 0.4, rejections=rej)
    p2, a2 = sample_valid_patch(np.random.default_rng(11), render, SR, 0.4)
    assert p1 == p2 and a1.tobytes() == a2.tobytes()
    assert a1.shape == (int(round(0.4 * SR)),)
    assert rule_problems(p1, SR) == [] and audio_problems(a1) == []
    assert SUBTRACTIVE.space.check(p1) == p1
    np.testing.assert_array_equal(a1, render(p1, SR, len(a1)))
    assert all(isinstance(k, str) for k in rej)


def test_several_valid_patches_cover_the_choices():
    rng = np.random.default_rng(2)
    seen = Counter()
    rej = Counter()
    for _ in range(12):
        p, audio = sample_valid_patch(rng, render, SR, 0.3, rejections=rej)
        assert audio_problems(audio) == [] and rule_problems(p, SR) == []
        seen[p["osc_type"]] += 1
    assert len(seen) >= 3
    assert sum(rej.values()) > 0  # the broad draws do get rejected sometimes


def test_gives_up_after_max_draws_when_every_render_is_silent():
    silent = lambda patch, sr, n: np.zeros(n, np.float32)  # noqa: E731
    rej = Counter()
    with pytest.raises(RuntimeError, match="no valid patch"):
        sample_valid_patch(np.random.default_rng(0), silent, SR, 0.2, rejections=rej, max_draws=50)
    assert rej["silent"] > 0 and sum(rej.values()) >= 50
