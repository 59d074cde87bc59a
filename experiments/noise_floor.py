"""Noise floor of the fitness and its cost, measured in one run (DESIGN §5.7, §6).

``python -m experiments.noise_floor`` prints, for a handful of patches
(oscillator × filter types, noise_vol 0.05 and 0.3):

* the distance between two noise realisations of the same patch and the
  distance to neighbouring patches (cutoff ×1.2, +50 cents, sustain −0.1,
  attack ×2 where the attack is long enough to hear), for a naive log-mel L1
  (librosa mel, absolute floor 1e-7) and for :class:`objectives.distance.Fitness`;
  the ratio noise / nearest neighbour is what matters (< 1 means the search
  can tell the right patch from a wrong one despite the noise);
* the per-candidate cost of features + distance against a render, median of
  many repetitions measured side by side, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

SR = 22050
N = SR
BASE = dict(
    duree=1.0, osc_freq=440.0, osc_type="saw", osc_vol=0.8, noise_vol=0.3, filter_type="lowpass",
    filter_cutoff=3000.0, filter_res=1.0, env_attack=0.01, env_decay=0.1, env_sustain=0.6,
    env_release=0.2, master_vol=0.7,
)
PATCHES = {
    "saw lowpass 440": BASE,
    "square bandpass 220": dict(BASE, osc_type="square", filter_type="bandpass", filter_cutoff=900.0, filter_res=3.0, osc_freq=220.0),
    "triangle highpass 330": dict(BASE, osc_type="triangle", filter_type="highpass", filter_cutoff=600.0, osc_freq=330.0, env_attack=0.05),
    "sine lowpass 880": dict(BASE, osc_type="sine", filter_cutoff=2000.0, osc_freq=880.0),
}


def neighbours(p: dict) -> dict[str, dict]:
    """Patches one audible step away from ``p``."""
    out = {"+50c": dict(p, osc_freq=p["osc_freq"] * 2 ** (50 / 1200)), "sus-0.1": dict(p, env_sustain=p["env_sustain"] - 0.1)}
    if p["osc_type"] != "sine":  # a cutoff change on a lone sine is only a small level change
        out["cut x1.2"] = dict(p, filter_cutoff=p["filter_cutoff"] * 1.2)
    if p["env_attack"] >= 0.03:
        out["att x2"] = dict(p, env_attack=p["env_attack"] * 2)
    return out


class NaiveLogMel:
    """The naive fitness of DESIGN §5.7: mean |ln(mel + 1e-7) - ln(mel_t + 1e-7)| (librosa defaults)."""

    def __init__(self, target: np.ndarray, sr: int) -> None:
        self.sr = sr
        self.target = self._logmel(target)

    def _logmel(self, y: np.ndarray) -> np.ndarray:
        import librosa  # noqa: PLC0415

        return np.log(librosa.feature.melspectrogram(y=y, sr=self.sr) + 1e-7)

    def __call__(self, y: np.ndarray) -> float:
        return float(np.mean(np.abs(self._logmel(y) - self.target)))


def robustness_table() -> None:
    from objectives.distance import Fitness  # noqa: PLC0415
    from objectives.features import analyse  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415

    print("Noise realisation vs neighbouring patch (1 s notes at 22.05 kHz; noise = max over 2 other seeds)")
    print(f"{'patch':<24}{'noise':>6}  {'distance':<8}{'noise':>8}  {'neighbours':<46}{'ratio':>6}")
    worst: dict[str, list[float]] = {"naive": [], "fitness": []}
    for name, patch in PATCHES.items():
        for noise_vol in (0.05, 0.3):
            p = dict(patch, noise_vol=noise_vol)
            target = render(p, SR, N)
            others = [render(p, SR, N, noise_seed=s) for s in (1, 2)]
            near = {k: render(q, SR, N) for k, q in neighbours(p).items()}
            for label, dist in (("naive", NaiveLogMel(target, SR)), ("fitness", Fitness(analyse(target, SR)))):
                d_noise = max(dist(o) for o in others)
                d_nb = {k: dist(v) for k, v in near.items()}
                ratio = d_noise / min(d_nb.values())
                worst[label].append(ratio)
                nb = " ".join(f"{k} {v:.3f}" for k, v in d_nb.items())
                print(f"{name:<24}{noise_vol:>6.2f}  {label:<8}{d_noise:>8.3f}  {nb:<46}{ratio:>6.2f}")
    for label, ratios in worst.items():
        r = np.array(ratios)
        print(f"{label}: ratio noise / nearest neighbour: median {np.median(r):.2f}, worst {r.max():.2f} "
              f"(noise_vol 0.05 worst {r[0::2].max():.2f}, 0.3 worst {r[1::2].max():.2f})")


def cost_table(repeat: int) -> None:
    from objectives.distance import Fitness  # noqa: PLC0415
    from objectives.features import analyse  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415

    p = dict(BASE, noise_vol=0.1)
    target = render(p, SR, N)
    fit = Fitness(analyse(target, SR))
    cand = render(dict(p, filter_cutoff=2500.0), SR, N)
    render(p, SR, N), fit(cand)  # warm up

    clock = time.perf_counter
    t_alone, t_render, t_fit, t_hot = [], [], [], []
    for _ in range(repeat):
        t0 = clock()
        render(p, SR, N)
        t_alone.append(clock() - t0)
    for _ in range(repeat):  # what an optimiser pays per candidate: render, then fitness
        t0 = clock()
        audio = render(p, SR, N)
        t1 = clock()
        fit(audio)
        t_render.append(t1 - t0)
        t_fit.append(clock() - t1)
    for _ in range(repeat):
        t0 = clock()
        fit(cand)
        t_hot.append(clock() - t0)
    alone, rend, fitness, hot = (1e3 * float(np.median(t)) for t in (t_alone, t_render, t_fit, t_hot))
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"\nCost per candidate, 1 s at 22.05 kHz, median of {repeat} (OPENBLAS_NUM_THREADS={threads}, load {os.getloadavg()[0]:.2f}):")
    print(f"  render alone                         {alone:.3f} ms")
    print(f"  render, in a render+fitness loop     {rend:.3f} ms")
    print(f"  features + distance, in that loop    {fitness:.3f} ms")
    print(f"  features + distance, repeated alone  {hot:.3f} ms")
    print(f"  fitness / render = (render + features + distance) / render = {(rend + fitness) / rend:.2f} in the loop, "
          f"{(alone + hot) / alone:.2f} from the separate medians")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=1000, help="timing repetitions")
    parser.add_argument("--skip-robustness", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_robustness:
        robustness_table()
    cost_table(args.repeat)


if __name__ == "__main__":
    main()
