"""``--voice auto``: the voices race as arms of one match (matcher.voice_race)."""

from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from matcher.cli import app
from matcher.search import MatchConfig
from matcher.strategies import run_strategy
from matcher.voice_race import BASE_VOICE, RACE_WEIGHTS, carry_patch, race_voices
from objectives.distance import FitnessWeights
from synth.render import render
from synth.sampling import sample_valid_patch
from synth.voices import VOICES, get_voice

SR = 22050


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_subtractive_patch_carried_into_analog_renders_the_same_samples(seed):
    patch, audio = sample_valid_patch(np.random.default_rng(seed), render, sr=SR, duree_s=0.5)
    carried = carry_patch(patch, "analog")
    assert set(carried) == set(get_voice("analog").space.names)
    assert np.array_equal(render(carried, SR, len(audio), "analog"), audio)


def test_carry_fills_what_the_other_voice_lacks_and_clips_to_range():
    fm = carry_patch({"osc_freq": 5000.0, "osc_type": "saw", "filter_cutoff": 900.0}, "fm")
    assert set(fm) == set(get_voice("fm").space.names)
    assert fm["osc_freq"] == get_voice("fm").space["osc_freq"].high  # clipped
    assert fm["fm_index"] == 0.0  # the voice's neutral value: no modulation


def _vibrato_note() -> tuple[dict, np.ndarray]:
    """An analog note with a deep vibrato: the subtractive voice cannot play it."""
    patch = carry_patch({"duree": 0.6, "osc_freq": 330.0, "osc_type": "saw", "osc_vol": 0.8, "noise_vol": 0.0, "filter_type": "lowpass",
                         "filter_cutoff": 2500.0, "filter_res": 0.8, "env_attack": 0.01, "env_decay": 0.2, "env_sustain": 0.7,
                         "env_release": 0.1, "master_vol": 0.8}, "analog")
    patch.update(vib_depth_cents=40.0, vib_rate_hz=5.5, vib_delay_s=0.0)
    return patch, render(patch, SR, int(0.6 * SR), "analog")


def test_the_race_moves_to_the_voice_that_plays_a_vibrato_and_beats_the_subtractive_voice_alone():
    _, audio = _vibrato_note()
    config = MatchConfig(optimizer="hybrid", budget=240, seed=0, jobs=1, sr=SR)
    alone = run_strategy(audio, replace(config, weights=RACE_WEIGHTS))  # the same fitness as the race's
    rows = []
    result, best = race_voices(audio, config, callback=rows.extend)
    assert result.voice == "analog"
    assert result.loss < 0.95 * alone.loss
    assert set(best) == set(VOICES)  # every voice got rendered evidence
    assert result.loss == min(b.loss for b in best.values())
    assert result.evals == len(rows) <= config.budget
    assert [r.eval for r in rows] == list(range(1, len(rows) + 1))
    assert {r.voice for r in rows} == set(VOICES)
    assert all(r.arm.startswith(r.voice) for r in rows)
    # The base is judged by the default fitness; the unsettled race by RACE_WEIGHTS from its first re-evaluation on.
    switch = result.info["judged_from_eval"]
    assert 0 < switch < len(rows) and result.info["weights"] == RACE_WEIGHTS
    assert [r.judge for r in rows] == [0] * switch + [1] * (len(rows) - switch)
    assert {r.voice for r in rows[:switch]} == {BASE_VOICE} and rows[switch].voice == BASE_VOICE
    for judged in (rows[:switch], rows[switch:]):
        assert all(b.best_loss <= a.best_loss for a, b in zip(judged, judged[1:]))  # best so far never rises under one judge
    assert result.info["voice_losses"] == {v: b.loss for v, b in best.items()}
    assert sum(result.info["voice_evals"].values()) == len(rows)


def test_a_settled_base_voice_skips_the_challengers_and_gets_the_whole_budget(monkeypatch):
    import matcher.voice_race as race

    _, audio = sample_valid_patch(np.random.default_rng(7), render, sr=SR, duree_s=0.5)
    config = MatchConfig(optimizer="hybrid", budget=200, seed=0, jobs=1, sr=SR)
    base = run_strategy(audio, replace(config, budget=round(race.BASE_SHARE * 200)))  # judged by the default fitness
    monkeypatch.setattr(race, "SETTLED_LOSS", 1.01 * base.loss)  # this base counts as settled
    rows = []
    result, best = race_voices(audio, config, callback=rows.extend)
    assert set(best) == {BASE_VOICE} and result.voice == BASE_VOICE
    assert result.evals == 200 and result.loss <= base.loss
    assert result.info["weights"] == FitnessWeights() and {r.judge for r in rows} == {0}  # a settled race keeps its judge


def test_match_voice_auto_names_the_winner_in_patch_json_and_history(tmp_path):
    _, audio = _vibrato_note()
    target = tmp_path / "vib.wav"
    sf.write(target, audio, SR, subtype="FLOAT")
    out = tmp_path / "m"
    result = CliRunner().invoke(app, ["match", str(target), "--voice", "auto", "--budget", "120", "--jobs", "1", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "voice race: analog wins" in result.output
    doc = json.loads((out / "patch.json").read_text())
    assert doc["voice"] == "analog" and set(doc["params"]) == set(get_voice("analog").space.names)
    assert set(doc["voice_race"]["voices"]) == set(VOICES)
    assert doc["distance"] == pytest.approx(min(doc["voice_race"]["voices"].values()))
    with open(out / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert {r["arm"].split()[0] for r in rows} == set(VOICES)
    assert "fm_ratio" in rows[0] and "fenv_amount_oct" in rows[0]
    fm_row = next(r for r in rows if r["arm"].startswith("fm"))
    assert fm_row["filter_type"] == "" and fm_row["fm_ratio"] != ""  # a voice's row leaves other voices' parameters empty
    played, _ = sf.read(out / "match.wav", dtype="float32")
    assert np.array_equal(played, render(doc["params"], SR, len(audio), "analog"))


def test_unknown_voice_error_mentions_auto(tmp_path):
    target = tmp_path / "t.wav"
    sf.write(target, _vibrato_note()[1], SR)
    result = CliRunner().invoke(app, ["match", str(target), "--voice", "nope", "--budget", "10"])
    assert result.exit_code == 2
    assert "auto" in result.output


def test_the_race_judges_with_its_own_weights_unless_told_others():
    _, audio = _vibrato_note()
    config = MatchConfig(optimizer="cma", budget=60, seed=0, jobs=1, sr=SR)
    raced, _ = race_voices(audio, config)
    from matcher.evaluator import Evaluator  # noqa: PLC0415

    ev = Evaluator(audio, SR, raced.voice, RACE_WEIGHTS, 1, solve_gain=True)
    (loss,), _ = ev.evaluate([raced.patch])
    ev.close()
    assert loss == pytest.approx(raced.loss, rel=1e-6)


def test_a_raced_match_of_a_96_khz_target_is_polished_in_its_winning_voice(tmp_path):
    """Above 48 kHz the match keeps a share of its budget for a polish at the target's rate: the race hands it its winner's arms."""
    from matcher.pipeline import MatchSettings, match_target  # noqa: PLC0415
    from objectives.audio_io import load_target  # noqa: PLC0415

    patch, _ = _vibrato_note()
    path = tmp_path / "vib96k.wav"
    sf.write(path, render(patch, 96000, int(0.6 * 96000), "analog"), 96000, subtype="FLOAT")
    outcome = match_target(load_target(path), MatchSettings(budget=120, jobs=1, voice="auto"))
    assert outcome.polish_evals > 0 and outcome.distance_sr == 96000
    assert outcome.voice in VOICES
    polished = [r for r in outcome.rows if r.arm == "polish@96000Hz"]
    assert {r.voice for r in polished} == {outcome.voice}
    assert np.array_equal(outcome.match_audio, render(outcome.patch, 96000, len(outcome.target.orig_audio), outcome.voice))


def test_a_hybrid_race_seeds_each_challenger_with_its_own_predictor(monkeypatch):
    import matcher.predictor as predictor
    import matcher.voice_race as race
    from objectives.pitch import estimate_pitch  # noqa: PLC0415

    _, audio = _vibrato_note()
    pitch = estimate_pitch(audio, SR)
    for voice in ("analog", "fm"):
        seeds = race._predicted_seeds(voice, audio, SR, pitch)
        assert len(seeds) == (race.PREDICTED_SEEDS if voice == "analog" else 1)  # fm has no choices: one combination
        space = get_voice(voice).space
        assert all(space.check(s) == s for s in seeds)
        assert all(s["osc_freq"] == pytest.approx(pitch.f0_hz, rel=1e-6) for s in seeds)

    def no_model(voice):
        raise predictor.ModelFileError(f"voice {voice!r} ships no predictor")

    monkeypatch.setattr(predictor, "load_voice_model", no_model)
    assert race._predicted_seeds("analog", audio, SR, pitch) == []


def test_a_challenger_searches_the_pitch_near_the_f0_estimate_and_an_fm_ratio_near_its_seed():
    import matcher.voice_race as race

    base_names = set(get_voice(BASE_VOICE).space.names)
    for voice in ("analog", "fm"):
        spread = race._spreads(voice, base_names, race.CARRIED_SIGMA, race.MOVEMENT_SIGMA)
        assert "osc_freq" not in spread  # left to the search's own narrow pitch spread
        space = get_voice(voice).space
        assert spread["vib_depth_cents"] == pytest.approx(race.MOVEMENT_SIGMA * space["vib_depth_cents"].width)
        assert spread["filter_cutoff" if voice == "analog" else "env_decay"] == pytest.approx(
            race.CARRIED_SIGMA * space["filter_cutoff" if voice == "analog" else "env_decay"].width)
    assert race._spreads("fm", base_names, race.CARRIED_SIGMA, race.MOVEMENT_SIGMA)["fm_ratio"] == get_voice("fm").motion_spreads["fm_ratio"]
    leader = race._spreads("analog", base_names, None, 0.05)
    assert not base_names & set(leader)  # the leader's base parameters keep the optimiser's sigma0

    # In a race, the analog challenger's candidates stay within a few cents of the f0 estimate
    # (with a share of the voice's whole pitch range they reached 58 cents on this note).
    _, audio = _vibrato_note()
    rows = []
    result, _ = race_voices(audio, MatchConfig(optimizer="hybrid", budget=240, seed=0, jobs=1, sr=SR), callback=rows.extend)
    cents = np.array([1200 * np.log2(float(r.patch["osc_freq"]) / result.pitch.f0_hz) for r in rows if r.voice == "analog"])
    assert len(cents) > 50 and np.max(np.abs(cents)) < 10.0


def test_a_hybrid_race_evaluates_the_fitted_pitch_motion_as_seeds_and_a_plain_race_does_not():
    import matcher.voice_race as race
    from objectives.pitch import estimate_pitch  # noqa: PLC0415

    _, audio = _vibrato_note()
    pitch = estimate_pitch(audio, SR)
    fitted = race._fitted_motion(audio, SR, pitch)
    rates = {m["vib_rate_hz"] for m in fitted if "vib_rate_hz" in m}
    assert rates  # the note's 40-cent vibrato is read off its pitch track
    for optimizer, expected in (("hybrid", True), ("cma", False)):
        rows = []
        race_voices(audio, MatchConfig(optimizer=optimizer, budget=240, seed=0, jobs=1, sr=SR), callback=rows.extend)
        seeded = any(r.voice == "analog" and min(abs(float(r.patch["vib_rate_hz"]) - rate) for rate in rates) < 1e-6 for r in rows)
        assert seeded == expected


def test_snapped_patches_switch_off_only_the_parts_that_are_nearly_off():
    import matcher.voice_race as race

    patch, _ = _vibrato_note()
    patch.update(osc_pw=0.49, osc2_mix=0.02, fenv_amount_oct=1.5, noise_vol=0.1)
    near, quiet = race.snapped_patches(patch, "analog")
    assert near["osc_pw"] == 0.5 and near["osc2_mix"] == 0.0  # within SNAP_TOLERANCE of the neutral values
    assert near["fenv_amount_oct"] == 1.5 and near["vib_depth_cents"] == 40.0  # parts that are on stay on
    assert near["noise_vol"] == 0.1 and quiet["noise_vol"] == 0.0
    assert {k: v for k, v in quiet.items() if k != "noise_vol"} == {k: v for k, v in near.items() if k != "noise_vol"}
    clean = {**quiet}
    assert race.snapped_patches(clean, "analog") == []  # nothing left to snap: no candidate repeats the patch
    sub = {**carry_patch(patch, "subtractive"), "noise_vol": 0.03}
    assert race.snapped_patches(sub, "subtractive") == [{**sub, "noise_vol": 0.0}]  # no neutral parts: only the noise


def test_the_race_ends_on_the_snapped_patch_when_it_is_closer():
    """A leader with remnants (a 2 % second oscillator detuned, a faint noise floor) on a clean note: the snap removes them."""
    import matcher.voice_race as race
    from objectives.pitch import estimate_pitch  # noqa: PLC0415

    truth, audio = _vibrato_note()
    remnant = {**truth, "osc2_mix": 0.03, "osc2_detune_cents": 17.0, "noise_vol": 0.02}
    pitch = estimate_pitch(audio, SR)
    config = MatchConfig(optimizer="cma", budget=3, seed=0, jobs=1, sr=SR, weights=RACE_WEIGHTS)
    ledger = race._Ledger(None, 0.0)
    race._search_from(audio, config, "analog", [remnant], 1, "cma", race.LEADER_SIGMA, None, ledger, pitch, None)
    before = ledger.leader()
    stopped_by = race._lead_and_snap(audio, config, ledger, 1 + race.SNAP_EVALS, "cma", race.LEADER_SIGMA, pitch, None)
    after = ledger.leader()
    assert stopped_by == "budget" and ledger.evals == 1 + race.SNAP_EVALS
    assert after.loss < before.loss
    assert after.patch["osc2_mix"] == 0.0 and after.patch["noise_vol"] == 0.0


@pytest.mark.parametrize("slack, snapped_wins", [(0.0, False), (10.0, True)])
def test_a_snapped_patch_nearly_as_close_as_the_leader_replaces_it(monkeypatch, slack, snapped_wins):
    """The target has a slight vibrato: switching it off is worse, and kept only within the slack."""
    import matcher.voice_race as race
    from objectives.pitch import estimate_pitch  # noqa: PLC0415

    truth, _ = _vibrato_note()
    truth = {**truth, "vib_depth_cents": 4.0}
    audio = render(truth, SR, int(0.6 * SR), "analog")
    monkeypatch.setattr(race, "SNAP_SLACK", slack)
    config = MatchConfig(optimizer="cma", budget=3, seed=0, jobs=1, sr=SR, weights=RACE_WEIGHTS)
    ledger = race._Ledger(None, 0.0)
    leader = {**truth, "filter_cutoff": 1.05 * truth["filter_cutoff"]}  # a little off, so its distance is not 0
    race._search_from(audio, config, "analog", [leader], 1, "cma", race.LEADER_SIGMA, None, ledger, estimate_pitch(audio, SR), None)
    before = ledger.leader()
    race._lead_and_snap(audio, config, ledger, 1 + race.SNAP_EVALS, "cma", race.LEADER_SIGMA, estimate_pitch(audio, SR), None)
    after = ledger.leader()
    assert (after.patch["vib_depth_cents"] == 0.0) == snapped_wins
    assert after.loss > before.loss if snapped_wins else after.loss == before.loss
