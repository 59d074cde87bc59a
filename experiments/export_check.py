"""Render difference and size of ``matcher export`` scripts.

``python -m experiments.export_check [--n 10] [--seed 0]`` draws audible
patches of every voice (seeded points of its space, noise included), writes
each as a script with :func:`matcher.export.pyo_script` (what ``matcher export`` writes), runs the script (``--wav``, in a clean interpreter that
cannot import this project) at 22.05 and 44.1 kHz, and prints the largest
absolute sample difference against :func:`synth.render.render` of the same
patch, and the script's size.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from matcher.export import pyo_script
from synth.render import render
from synth.voices import VOICES, get_voice

RATES_HZ = (22050, 44100)


def patches(voice_name: str, n: int, seed: int, sr: int) -> list[dict]:
    """``n`` audible patches of a voice: seeded points of its space, redrawn while the render is near silent."""
    rng = np.random.default_rng(seed)
    space = get_voice(voice_name).space
    found: list[dict] = []
    while len(found) < n:
        patch = space.decode(rng.uniform(0.05, 0.95, space.dim))
        if float(np.max(np.abs(render(patch, sr, int(round(float(patch.get("duree", 1.0)) * sr)), voice_name)))) > 1e-2:
            found.append(patch)
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    print("voice         rate   patches  max |script - matcher render|  identical  script bytes (lines), median")
    with tempfile.TemporaryDirectory(prefix="export-check-") as tmp:
        for voice_name in VOICES:
            for sr in RATES_HZ:
                worst, identical, sizes = 0.0, 0, []
                for i, patch in enumerate(patches(voice_name, args.n, args.seed, sr)):
                    script = Path(tmp) / f"synth_{voice_name}_{i}.py"
                    text = pyo_script(voice_name, patch, sr)
                    script.write_text(text)
                    sizes.append((len(text.encode()), text.count("\n")))
                    wav = Path(tmp) / "out.wav"
                    subprocess.run([sys.executable, "-I", str(script), "--wav", str(wav)], check=True, capture_output=True, env=env)
                    exported, _ = sf.read(wav, dtype="float32")
                    expected = render(patch, sr, int(round(float(patch.get("duree", 1.0)) * sr)), voice_name)
                    worst = max(worst, float(np.max(np.abs(exported - expected))))
                    identical += int(np.array_equal(exported, expected))
                size_bytes, lines = sorted(sizes)[len(sizes) // 2]
                print(f"{voice_name:<12} {sr:>6}  {args.n:>7}  {worst:>29.3g}  {identical:>5}/{args.n:<3}  {size_bytes} ({lines})")


if __name__ == "__main__":
    main()
