"""Render cost of every voice against the subtractive voice, side by side in one run.

Run ``python -m experiments.voice_cost [--reps 300] [--seed 0] [--long 3]``.

For each sample rate (22.05 and 44.1 kHz) the script renders 1 s notes
(``duree`` = 1 s, ``n_samples`` = sr) of these cases, interleaved (one render
of every case per repetition, so a load change on this shared machine hits all
cases alike), and prints the median cost of each and its ratio to the
subtractive voice's random patches:

- ``random``: patches decoded from uniform unit vectors of the voice's space
  (``duree`` locked to 1 s), the patches a search evaluates; 16 are cycled;
- ``plain``: a plain note with every optional part off (the cheapest graph);
- ``all on``: every optional part on (the dearest graph): for ``analog`` a
  square (two saws) on both oscillators, noise, filter envelope, pitch
  envelope, vibrato and drive, once through the 24 dB lowpass and once through a
  biquad.

With ``--long S`` the same notes are also rendered ``S`` seconds long
(interleaved with the 1 s ones), and the script prints the cost of each
extra second of audio, ``(t(S) - t(1 s)) / (S - 1)``, and its ratio: the cost
per second of audio without the fixed cost of building a note's graph.

Times are CPU seconds of this process (``time.process_time``), which other
jobs on the machine disturb less than wall time; the wall-time ratios are
printed too.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Mapping

import numpy as np

from synth.render import get_renderer
from synth.voices import VOICES, get_voice

SAMPLE_RATES = (22050, 44100)
REFERENCE = ("subtractive", "random")

PLAIN: dict[str, dict[str, float | str]] = {
    "subtractive": dict(osc_freq=220.0, osc_type="saw", osc_vol=0.8, noise_vol=0.0, filter_type="lowpass", filter_cutoff=3000.0, filter_res=0.7),
    "analog": dict(
        osc_freq=220.0, osc_type="saw", osc_pw=0.5, osc_vol=0.8, osc2_coarse_st=0.0, osc2_detune_cents=0.0, osc2_mix=0.0, noise_vol=0.0,
        filter_type="lowpass", filter_cutoff=3000.0, filter_res=0.7, fenv_amount_oct=0.0, fenv_attack_s=0.002, fenv_decay_s=0.2, fenv_sustain=0.0,
        pitch_env_st=0.0, pitch_env_decay_s=0.05, vib_rate_hz=5.0, vib_depth_cents=0.0, vib_delay_s=0.0, drive=0.0,
    ),
    "fm": dict(
        osc_freq=220.0, osc_vol=0.8, fm_ratio=1.0, fm_index=0.0, fm_index_env_amount=0.0, fm_index_decay_s=0.2, fm_feedback=0.0, noise_vol=0.0,
        pitch_env_st=0.0, pitch_env_decay_s=0.05, vib_rate_hz=5.0, vib_depth_cents=0.0, vib_delay_s=0.0,
    ),
}
"""Per voice, a plain note with every optional part off (amp envelope and duration added by :func:`cases`)."""

ALL_ON: dict[str, list[dict[str, float | str]]] = {
    "subtractive": [dict(noise_vol=0.2)],
    "analog": [
        dict(osc_type="square", osc_pw=0.3, osc2_mix=0.4, osc2_coarse_st=7.0, osc2_detune_cents=8.0, noise_vol=0.1, filter_type=ft,
             filter_res=3.0, fenv_amount_oct=3.0, fenv_decay_s=0.2, fenv_sustain=0.2, pitch_env_st=5.0, vib_depth_cents=20.0, vib_delay_s=0.2, drive=0.5)
        for ft in ("lowpass24", "bandpass")
    ],
    "fm": [dict(fm_ratio=2.0, fm_index=1.5, fm_index_env_amount=4.0, fm_feedback=0.15, noise_vol=0.1, pitch_env_st=5.0, vib_depth_cents=20.0, vib_delay_s=0.2)],
}
"""Per voice, overrides of :data:`PLAIN` that switch every optional part on."""

ENVELOPE = dict(duree=1.0, env_attack=0.01, env_decay=0.1, env_sustain=0.7, env_release=0.1, master_vol=0.8)


def cases(seed: int, duree_s: float = 1.0, n_random: int = 16) -> list[tuple[str, str, list[Mapping[str, float | str]]]]:
    """``(voice, case, patches)`` for every voice: random, plain and all-on notes of ``duree_s``.

    The random patches depend on ``seed`` only: the same unit vectors decoded
    with ``duree`` locked to ``duree_s``, so two durations play the same notes.
    """
    rng = np.random.default_rng(seed)
    out = []
    for name, voice in VOICES.items():
        space = voice.space.lock(duree=duree_s)
        out.append((name, "random", [space.decode(rng.uniform(size=space.dim)) for _ in range(n_random)]))
        plain = {**PLAIN.get(name, {}), **ENVELOPE, "duree": duree_s}
        if name in PLAIN:
            out.append((name, "plain", [voice.space.check(plain)]))
        for overrides in ALL_ON.get(name, []):
            label = "all on" + (f" ({overrides['filter_type']})" if "filter_type" in overrides else "")
            out.append((name, label, [voice.space.check({**plain, **overrides})]))
    return out


def measure(sr: int, reps: int, seed: int, durations_s: tuple[float, ...] = (1.0,)) -> dict[float, list[tuple[str, str, float, float]]]:
    """Median CPU and wall ms of each case at ``sr``, per note duration: ``{duree_s: [(voice, case, cpu_ms, wall_ms)]}``.

    Every case of every duration is rendered once per repetition (interleaved);
    a note of ``d`` seconds is rendered into ``d * sr`` samples.
    """
    renderer = get_renderer()
    table = [(d, voice, case, patches) for d in durations_s for voice, case, patches in cases(seed, d)]
    for d, voice, _, patches in table:  # warm up: server at this rate, wavetables, noise table
        for p in patches:
            renderer.render(p, sr, int(round(d * sr)), voice)
    cpu: list[list[float]] = [[] for _ in table]
    wall: list[list[float]] = [[] for _ in table]
    for i in range(reps):
        for k, (d, voice, _, patches) in enumerate(table):
            p = patches[i % len(patches)]
            t_wall, t_cpu = time.perf_counter(), time.process_time()
            renderer.render(p, sr, int(round(d * sr)), voice)
            cpu[k].append(time.process_time() - t_cpu)
            wall[k].append(time.perf_counter() - t_wall)
    out: dict[float, list[tuple[str, str, float, float]]] = {d: [] for d in durations_s}
    for k, (d, v, c, _) in enumerate(table):
        out[d].append((v, c, 1e3 * statistics.median(cpu[k]), 1e3 * statistics.median(wall[k])))
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=300, help="interleaved repetitions per sample rate")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random patches")
    parser.add_argument("--long", type=float, default=0.0, help="also render notes of this many seconds (> 1) and print the cost of each extra second")
    args = parser.parse_args(argv)
    get_voice(REFERENCE[0])
    durations = (1.0, args.long) if args.long > 1.0 else (1.0,)
    print(f"render of a 1 s note, median of {args.reps} interleaved repetitions; ratio to {REFERENCE[0]} {REFERENCE[1]}")
    header = f"{'sr':>6} {'voice':<12} {'case':<20} {'cpu ms':>8} {'ratio':>6} {'wall ms':>8} {'ratio':>6}"
    if len(durations) > 1:
        header += f" {'cpu ms/extra s':>15} {'ratio':>6}"
    print(header)
    for sr in SAMPLE_RATES:
        rows = measure(sr, args.reps, args.seed, durations)
        short = rows[1.0]
        ref = next(r for r in short if (r[0], r[1]) == REFERENCE)
        if len(durations) > 1:
            extra = [(lng[2] - sht[2]) / (args.long - 1.0) for sht, lng in zip(short, rows[args.long])]
            ref_extra = extra[short.index(ref)]
        for k, (voice, case, cpu_ms, wall_ms) in enumerate(short):
            line = f"{sr:>6} {voice:<12} {case:<20} {cpu_ms:8.3f} {cpu_ms / ref[2]:6.2f} {wall_ms:8.3f} {wall_ms / ref[3]:6.2f}"
            if len(durations) > 1:
                line += f" {extra[k]:15.3f} {extra[k] / ref_extra:6.2f}"
            print(line)


if __name__ == "__main__":
    main()
