"""Valid-patch samplers of every voice: subtractive draw for draw as before, analog and fm half moving, valid and reproducible."""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import pytest

from synth.render import render
from synth.sampling import audio_problems, sample_valid_patch
from synth.voice_samplers import (
    FM_PARTS, MOVING_PROBABILITY, STILL_VALUES, VOICE_SAMPLERS, get_voice_sampler, is_moving, sample_voice_patch,
)
from synth.voices import VOICES, get_voice

from tests.conftest import SR


@pytest.mark.parametrize("name", ["v1", "v2"])
def test_subtractive_samplers_give_the_patches_of_sample_valid_patch(name):
    sampler = get_voice_sampler("subtractive", name)
    for i in range(6):
        p_old, a_old = sample_valid_patch(np.random.default_rng([3, i]), render, SR, 0.3, spec=name)
        p_new, a_new = sample_voice_patch(np.random.default_rng([3, i]), render, sampler, SR, 0.3)
        assert p_new == p_old and a_new.tobytes() == a_old.tobytes()


def test_every_voice_has_a_default_sampler_and_unknown_names_are_refused():
    assert set(VOICE_SAMPLERS) == set(VOICES)
    assert get_voice_sampler("subtractive").name == "v2"
    for voice in ("analog", "fm"):
        assert get_voice_sampler(voice).voice == voice
    with pytest.raises(ValueError, match="expected one of"):
        get_voice_sampler("analog", "v9")


@pytest.mark.parametrize("voice", ["analog", "fm"])
def test_draws_are_in_the_space_reproducible_and_half_move(voice):
    sampler = get_voice_sampler(voice)
    space = get_voice(voice).space
    assert sampler.draw(np.random.default_rng(5), 0.7) == sampler.draw(np.random.default_rng(5), 0.7)
    rng = np.random.default_rng(0)
    draws = [sampler.draw(rng, 0.7) for _ in range(600)]
    for d in draws:
        assert space.check(d) == d and d["duree"] == 0.7
    moving = np.array([is_moving(d) for d in draws])
    assert abs(moving.mean() - MOVING_PROBABILITY) < 0.07
    # A still note has every movement amount exactly 0 (the parts are bypassed) and its times at the still values.
    for d in (d for d, m in zip(draws, moving) if not m):
        for name in ("pitch_env_st", "vib_depth_cents", "fenv_amount_oct", "osc2_mix", "fm_index_env_amount"):
            if name in d:
                assert d[name] == 0.0
        assert d["pitch_env_decay_s"] == STILL_VALUES["pitch_env_decay_s"] and d["vib_rate_hz"] == STILL_VALUES["vib_rate_hz"]
    # Each movement part is on in a fair share of the notes.
    parts = {"pitch_env_st": 0, "vib_depth_cents": 0, **({"fenv_amount_oct": 0, "osc2_mix": 0} if voice == "analog" else {"fm_index_env_amount": 0})}
    for name in parts:
        parts[name] = sum(d[name] != 0.0 for d in draws)
    assert min(parts.values()) > 0.15 * len(draws)
    if voice == "analog":
        types = Counter(d["filter_type"] for d in draws)
        assert set(types) == set(space["filter_type"].choices) and min(types.values()) > 600 / 4 / 2
    else:
        assert len(FM_PARTS) == 3


@pytest.mark.parametrize("voice", ["analog", "fm"])
def test_valid_patches_pass_the_rules_and_render_audibly(voice):
    sampler = get_voice_sampler(voice)
    rej = Counter()
    render_voice = functools.partial(render, voice=voice)
    for i in range(8):
        p, audio = sample_voice_patch(np.random.default_rng([1, i]), render_voice, sampler, SR, 0.4, rejections=rej)
        assert sampler.rules(p, SR) == [] and audio_problems(audio) == []
        np.testing.assert_array_equal(audio, render(p, SR, len(audio), voice))
        p2, _ = sample_voice_patch(np.random.default_rng([1, i]), render_voice, sampler, SR, 0.4)
        assert p2 == p
    bad = sampler.draw(np.random.default_rng(0), 0.4)
    bad.update(env_attack=0.3, env_decay=0.3, env_release=0.3, noise_vol=1.0, osc_vol=0.5)
    assert {"envelope_longer_than_note", "noise_masks_note"} <= set(sampler.rules(bad, SR))
