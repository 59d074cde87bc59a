"""The hybrid on a voice's own notes against the plain search it ran before the voice had a predictor.

Run ``python -m experiments.voice_hybrid --voice analog --n 8 --budget 400 [--seeds 1] [--suite-seed 4040]``.

For ``--n`` fresh valid 1 s notes of the voice's sampler at 22.05 kHz
(:func:`experiments.train_default_model.fresh_notes`, never in a training set:
suite seed 4040), runs the ``hybrid`` strategy (predicted seeds, then the race)
and :func:`matcher.search.run_match` with the hybrid's optimiser from the
voice's screening design (what ``hybrid`` did for a voice without a predictor),
at the same budget and seed; prints one JSON row per (note, seed) and a summary
line: median fitness and MFCC distance of both, the share of pairs where the
hybrid ends lower, and the median loss of the hybrid's first seed.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace

import numpy as np

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    from experiments.train_default_model import fresh_notes  # noqa: PLC0415
    from matcher.hybrid import HYBRID_OPTIMIZER, run_hybrid  # noqa: PLC0415
    from matcher.search import MatchConfig, run_match  # noqa: PLC0415
    from objectives.metrics import mfcc_distance  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--voice", required=True)
    ap.add_argument("--n", type=int, default=8, help="fresh notes")
    ap.add_argument("--budget", type=int, default=400)
    ap.add_argument("--seeds", type=int, default=1, help="search seeds per note")
    ap.add_argument("--suite-seed", type=int, default=4040)
    args = ap.parse_args(argv)
    rows = []
    for i, (_, audio) in enumerate(fresh_notes(args.voice, args.n, seed=args.suite_seed)):
        for seed in range(args.seeds):
            config = MatchConfig(budget=args.budget, seed=seed, sr=22050, voice=args.voice)
            hybrid = run_hybrid(audio, config)
            plain = run_match(audio, replace(config, optimizer=HYBRID_OPTIMIZER))
            mfcc = [mfcc_distance(render(r.patch, 22050, len(audio), args.voice), audio, 22050) for r in (hybrid, plain)]
            rows.append({"note": i, "seed": seed, "hybrid": hybrid.loss, "plain": plain.loss, "first_seed": hybrid.info["seed_loss"],
                         "mfcc_hybrid": mfcc[0], "mfcc_plain": mfcc[1]})
            print(json.dumps(rows[-1]), flush=True)
    med = {k: float(np.median([r[k] for r in rows])) for k in rows[0] if k not in ("note", "seed")}
    wins = float(np.mean([r["hybrid"] < r["plain"] for r in rows]))
    print(f"{args.voice}, {len(rows)} (note, seed) pairs, budget {args.budget}: median fitness hybrid {med['hybrid']:.3g}, plain {med['plain']:.3g} "
          f"(hybrid lower on {wins:.0%}); median MFCC hybrid {med['mfcc_hybrid']:.3g}, plain {med['mfcc_plain']:.3g}; "
          f"hybrid's first seed {med['first_seed']:.3g}")


if __name__ == "__main__":
    main()
