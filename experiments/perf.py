"""Performance figures of the core, measured side by side in one run.

Run ``python -m experiments.perf [--reps 300] [--match-runs 3]``.  Prints:

1. render cost of the default voice for a 1 s note at 22.05 kHz and 44.1 kHz
   (ms and × real time), the full fitness cost (render + features + distance,
   as the search calls it) and the ratio fitness / render;
2. parallel scaling of population evaluation, ``--jobs 2`` vs ``--jobs 1``;
3. median wall time of ``matcher match`` on a bundled 1 s target with the
   default settings, start-up included (a fresh process each time).

Times are medians of interleaved repetitions, so a load change on this shared
machine hits both sides of each ratio alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from matcher.evaluator import Evaluator, loss_of_patch
from objectives.distance import Fitness
from objectives.features import analyse
from synth.render import render
from synth.sampling import sample_valid_patch
from synth.voices import SUBTRACTIVE

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "targets" / "saw_lowpass.wav"


def _time_ms(fn) -> float:
    t = time.perf_counter()
    fn()
    return (time.perf_counter() - t) * 1000.0


def render_and_fitness(reps: int, seed: int = 0) -> dict[str, float]:
    """Median ms of a render at 22.05 and 44.1 kHz and of one fitness evaluation (interleaved)."""
    rng = np.random.default_rng(seed)
    target_patch, target = sample_valid_patch(rng, render)
    fitness = Fitness(analyse(target, 22050))
    power = float(np.dot(target, target))
    patches = [sample_valid_patch(rng, render)[0] for _ in range(16)]
    for p in patches[:4]:  # warm caches (wavetables, both server rates)
        render(p, 44100, 44100)
        loss_of_patch(fitness, p, 22050, 22050, "subtractive", power)
    r22, r44, fit = [], [], []
    for i in range(reps):
        p = patches[i % len(patches)]
        r44.append(_time_ms(lambda: render(p, 44100, 44100)))
    for i in range(reps):
        p = patches[i % len(patches)]
        r22.append(_time_ms(lambda: render(p, 22050, 22050)))
        fit.append(_time_ms(lambda: loss_of_patch(fitness, p, 22050, 22050, "subtractive", power)))
    return {"render22_ms": statistics.median(r22), "render44_ms": statistics.median(r44), "fitness_ms": statistics.median(fit)}


def parallel_scaling(population: int, reps: int, seed: int = 0) -> dict[str, float]:
    """Median seconds to evaluate one population with 1 and with 2 worker processes."""
    rng = np.random.default_rng(seed)
    _, target = sample_valid_patch(rng, render)
    space = SUBTRACTIVE.space.lock(duree=1.0)
    patches = [space.decode(rng.random(space.dim)) for _ in range(population)]
    one = Evaluator(target, 22050, jobs=1, solve_gain=True)
    two = Evaluator(target, 22050, jobs=2, solve_gain=True)
    two.warm_up()
    one.evaluate(patches[:8])
    t1, t2 = [], []
    for _ in range(reps):
        t1.append(_time_ms(lambda: one.evaluate(patches)) / 1000)
        t2.append(_time_ms(lambda: two.evaluate(patches)) / 1000)
    same = np.array_equal(one.evaluate(patches)[0], two.evaluate(patches)[0])
    return {"jobs1_s": statistics.median(t1), "jobs2_s": statistics.median(t2), "identical": same}


def match_wall_times(runs: int, target: Path = EXAMPLE) -> list[float]:
    """Wall seconds of ``matcher match TARGET`` (default settings) in fresh processes."""
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(runs):
            t = time.perf_counter()
            subprocess.run([sys.executable, "-m", "matcher.cli", "match", str(target), "--out", os.path.join(tmp, f"m{i}")], check=True, capture_output=True)
            times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300, help="repetitions of each render / fitness timing")
    ap.add_argument("--population", type=int, default=192, help="patches per population for the scaling test")
    ap.add_argument("--scaling-reps", type=int, default=7)
    ap.add_argument("--match-runs", type=int, default=3)
    args = ap.parse_args(argv)

    r = render_and_fitness(args.reps)
    print("1. Cost per evaluation, 1 s note (median of", args.reps, "interleaved repetitions)")
    print(f"   render @ 22.05 kHz : {r['render22_ms']:.3f} ms  ({1000 / r['render22_ms']:.0f}x real time)")
    print(f"   render @ 44.1 kHz  : {r['render44_ms']:.3f} ms  ({1000 / r['render44_ms']:.0f}x real time)")
    print(f"   fitness @ 22.05 kHz (render + features + distance): {r['fitness_ms']:.3f} ms")
    print(f"   fitness / render   : {r['fitness_ms'] / r['render22_ms']:.2f}  (requirement <= 1.3)")

    s = parallel_scaling(args.population, args.scaling_reps)
    print(f"\n2. Population of {args.population} evaluated (median of {args.scaling_reps})")
    print(f"   --jobs 1: {s['jobs1_s']:.3f} s   --jobs 2: {s['jobs2_s']:.3f} s   speed-up {s['jobs1_s'] / s['jobs2_s']:.2f}x  (requirement >= 1.7)")
    print(f"   identical losses with 1 and 2 jobs: {s['identical']}")

    if args.match_runs > 0:
        times = match_wall_times(args.match_runs)
        print(f"\n3. `matcher match {EXAMPLE.relative_to(Path.cwd()) if EXAMPLE.is_relative_to(Path.cwd()) else EXAMPLE}` (defaults, fresh process, start-up included)")
        print(f"   runs: {', '.join(f'{t:.1f}' for t in times)} s   median {statistics.median(times):.1f} s  (requirement <= 20 s)")


if __name__ == "__main__":
    main()
