"""Random valid patches: every rule rejects what it should, draws are reproducible and valid."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from synth.render import render
from synth.sampling import (
    CLIP_PEAK,
    FILTER_WINDOWS,
    SILENCE_PEAK,
    audio_problems,
    draw_patch,
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


@pytest.mark.parametrize("filter_type", FILTER_TYPES)
def test_filter_window_rules(patch, filter_type):
    lo, hi = FILTER_WINDOWS[filter_type]
    base = {**_valid(patch), "filter_type": filter_type}
    f0 = base["osc_freq"]
    assert rule_problems({**base, "filter_cutoff": f0 * np.sqrt(lo * hi)}, SR) == []
    assert rule_problems({**base, "filter_cutoff": f0 * lo * 0.9}, SR) == ["filter_cuts_note"]
    assert rule_problems({**base, "filter_cutoff": f0 * hi * 1.1}, SR) == ["filter_inaudible"]


def test_other_rules(patch):
    p = _valid(patch)
    assert "cutoff_near_nyquist" in rule_problems({**p, "osc_freq": 1500.0, "filter_cutoff": 9500.0}, SR)
    assert rule_problems({**p, "env_attack": 0.3, "env_decay": 0.4, "env_release": 0.3}, SR) == ["envelope_longer_than_note"]
    assert rule_problems({**p, "noise_vol": 0.6 * p["osc_vol"]}, SR) == ["noise_masks_note"]
    assert rule_problems({**p, "osc_type": "sine", "noise_vol": 0.0}, SR) == ["filter_unidentifiable"]
    assert rule_problems({**p, "osc_type": "saw", "noise_vol": 0.0}, SR) == []


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
