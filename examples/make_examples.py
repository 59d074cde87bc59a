"""Render the example targets bundled in ``examples/targets/`` (run from the repo root).

``python examples/make_examples.py`` rewrites them; the patches are listed here
so the examples double as known answers.
"""

from __future__ import annotations

from pathlib import Path

import soundfile as sf

from synth.render import render

EXAMPLES = {
    "saw_lowpass": dict(duree=1.0, osc_freq=220.0, osc_type="saw", osc_vol=0.8, noise_vol=0.05, filter_type="lowpass", filter_cutoff=1800.0, filter_res=2.0, env_attack=0.01, env_decay=0.15, env_sustain=0.6, env_release=0.2, master_vol=0.7),
    "square_bandpass_noisy": dict(duree=1.0, osc_freq=330.0, osc_type="square", osc_vol=0.7, noise_vol=0.25, filter_type="bandpass", filter_cutoff=1300.0, filter_res=3.0, env_attack=0.05, env_decay=0.2, env_sustain=0.4, env_release=0.3, master_vol=0.8),
    "triangle_highpass": dict(duree=1.0, osc_freq=146.8, osc_type="triangle", osc_vol=0.9, noise_vol=0.0, filter_type="highpass", filter_cutoff=400.0, filter_res=1.5, env_attack=0.003, env_decay=0.3, env_sustain=0.3, env_release=0.4, master_vol=0.9),
}
SR = 44100


def main() -> None:
    out = Path(__file__).parent / "targets"
    out.mkdir(exist_ok=True)
    for name, patch in EXAMPLES.items():
        audio = render(patch, SR, int(patch["duree"] * SR))
        sf.write(out / f"{name}.wav", audio, SR, subtype="PCM_16")
        print(f"wrote {out / name}.wav")


if __name__ == "__main__":
    main()
