"""Oscillator and filter-type accuracy of predictor models on fresh in-domain notes.

Run ``python -m experiments.predictor_accuracy [--n 500] [--seed 9100] [--rates 22050,44100]
[--samplers v1,v2] [--models old=REF:matcher/models/default,new=matcher/models/default] [--jobs 2]``.

For every rate and every sampler (:mod:`synth.sampling`), ``--n`` notes of
:func:`experiments.suites.in_domain_suite` (suite ``--seed``: choose one that no
training set or tuning run used) are rendered at that rate, their f0 is
*estimated* (:func:`objectives.pitch.estimate_pitch`, as ``matcher predict``
and the hybrid do) and each model predicts from the features (resampled to the
model's feature rate).  It prints, per rate, a table model × distribution of

- oscillator-type accuracy over all notes;
- filter-type accuracy over the notes whose filter is audible
  (:func:`synth.sampling.filter_audible` at that rate), and over all notes;
- the worst confusions (true → predicted combination, counted where the error
  counts: any oscillator error, filter errors on audible notes).

A model is ``name=path`` (a model stem, folder or file) or
``name=REF:path`` to read the model from git revision ``REF`` (e.g. the model
shipped before retraining: ``old=e246e2d:matcher/models/default``).  The
features of every suite are cached in ``--cache`` (one npz per suite), so a
second model costs only its forward passes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from matcher.predictor import COMBOS, FEATURE_SR_HZ, Predictor, predictor_features

__all__ = ["suite_features", "load_model", "accuracy", "main"]


def suite_features(sampler: str, sr: int, seed: int, n: int, feature_sr_hz: int = FEATURE_SR_HZ, cache: Path | None = None) -> dict:
    """Features (estimated f0) and truth of ``n`` fresh notes of one suite.

    Returns
    -------
    dict
        ``x`` (n, N_FEATURES), ``combo`` (n,) true combination index,
        ``audible`` (n,) bool, ``noiseless`` (n,) bool, ``f0_err_cents`` (n,).
    """
    path = None
    if cache is not None:
        path = cache / f"{sampler}-{sr}-{seed}-{n}-{feature_sr_hz}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    from experiments.suites import in_domain_suite  # noqa: PLC0415
    from objectives.pitch import estimate_pitch  # noqa: PLC0415

    t0 = time.perf_counter()
    targets = in_domain_suite(n, seed=seed, sr=sr, spec=sampler)
    xs, combo, audible, noiseless, f0_err = [], [], [], [], []
    for t in targets:
        pitch = estimate_pitch(t.audio, t.sr)
        f0 = pitch.f0_hz if pitch.voiced and pitch.f0_hz else None
        xs.append(predictor_features(t.audio, t.sr, f0, feature_sr_hz))
        combo.append(COMBOS.index((t.true_patch["osc_type"], t.true_patch["filter_type"])))
        audible.append(bool(t.labels["filter_audible"]))
        noiseless.append(float(t.true_patch["noise_vol"]) == 0.0)
        f0_err.append(1200 * abs(np.log2(f0 / float(t.true_patch["osc_freq"]))) if f0 else np.inf)
    out = {"x": np.array(xs, np.float32), "combo": np.array(combo), "audible": np.array(audible), "noiseless": np.array(noiseless),
           "f0_err_cents": np.array(f0_err), "wall_s": np.array(time.perf_counter() - t0)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **out)
    return out


def load_model(spec: str) -> Predictor:
    """A model from ``path`` or ``REF:path`` (read from git revision REF of this repository)."""
    if ":" in spec and not Path(spec).exists():
        ref, path = spec.split(":", 1)
        tmp = Path(tempfile.mkdtemp(prefix="model-"))
        for suffix in (".npz", ".json"):
            data = subprocess.run(["git", "show", f"{ref}:{path}{suffix}"], check=True, capture_output=True).stdout
            (tmp / f"model{suffix}").write_bytes(data)
        return Predictor.load(tmp / "model")
    return Predictor.load(spec)


def accuracy(model: Predictor, s: dict) -> dict:
    """Accuracies and confusions of one model on one suite's features."""
    probs, _ = model.forward(s["x"])
    pred = probs.argmax(axis=1)
    combos = np.array(COMBOS)
    true_osc, pred_osc = combos[s["combo"], 0], combos[pred, 0]
    true_f, pred_f = combos[s["combo"], 1], combos[pred, 1]
    aud = s["audible"].astype(bool)
    osc_ok, f_ok = true_osc == pred_osc, true_f == pred_f
    confusions = Counter()
    for i in np.nonzero(~osc_ok | (~f_ok & aud))[0]:
        confusions[(COMBOS[s["combo"][i]], COMBOS[pred[i]])] += 1
    return {
        "n": int(len(pred)), "n_audible": int(aud.sum()),
        "osc_acc": float(osc_ok.mean()),
        "filter_acc_audible": float(f_ok[aud].mean()) if aud.any() else float("nan"),
        "filter_acc_all": float(f_ok.mean()),
        "combo_acc_audible": float((osc_ok & f_ok)[aud].mean()) if aud.any() else float("nan"),
        "confusions": confusions.most_common(),
    }


def _fmt_combo(c: tuple[str, str]) -> str:
    return f"{c[0]}/{c[1]}"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="notes per suite (per sampler and rate)")
    ap.add_argument("--seed", type=int, default=9100, help="suite seed (fresh: not used in training or tuning)")
    ap.add_argument("--rates", default="22050,44100")
    ap.add_argument("--samplers", default="v1,v2")
    ap.add_argument("--models", default="old=e246e2d:matcher/models/default,new=matcher/models/default")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--cache", type=Path, default=Path("runs/predictor_accuracy"))
    ap.add_argument("--confusions", type=int, default=5, help="worst confusions printed per cell")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args(argv)
    rates = [int(r) for r in args.rates.split(",")]
    samplers = args.samplers.split(",")
    models = {name: load_model(path) for name, path in (m.split("=", 1) for m in args.models.split(","))}
    feature_rates = sorted({m.feature_sr_hz for m in models.values()})
    cells = [(sp, sr, fsr) for sr in rates for sp in samplers for fsr in feature_rates]
    t0 = time.perf_counter()
    if args.jobs > 1:
        from joblib import Parallel, delayed  # noqa: PLC0415

        feats = Parallel(n_jobs=args.jobs)(delayed(suite_features)(sp, sr, args.seed, args.n, fsr, args.cache) for sp, sr, fsr in cells)
    else:
        feats = [suite_features(sp, sr, args.seed, args.n, fsr, args.cache) for sp, sr, fsr in cells]
    suites = dict(zip(cells, feats))
    print(f"suites ready in {time.perf_counter() - t0:.0f} s (seed {args.seed}, {args.n} notes each, f0 estimated)")
    results = {}
    for sr in rates:
        print(f"\n### {sr} Hz: oscillator / filter-type accuracy (filter where audible)\n")
        head = " | ".join(f"{sp.upper()} distribution" for sp in samplers)
        print(f"| model | {head} |\n|---|" + "---|" * len(samplers))
        for name, model in models.items():
            row = []
            for sp in samplers:
                s = suites[(sp, sr, model.feature_sr_hz)]
                r = accuracy(model, s)
                r["median_f0_err_cents"] = float(np.median(s["f0_err_cents"]))
                results[f"{name}/{sp}/{sr}"] = r
                row.append(f"{r['osc_acc']:.1%} / {r['filter_acc_audible']:.1%}")
            print(f"| {name} | " + " | ".join(row) + " |")
        print()
        for sp in samplers:
            s = suites[(sp, sr, feature_rates[0])]
            print(f"{sp}: {int(s['audible'].sum())}/{len(s['audible'])} notes with an audible filter, "
                  f"{s['noiseless'].mean():.0%} noiseless; filter accuracy over all notes: "
                  + ", ".join(f"{name} {results[f'{name}/{sp}/{sr}']['filter_acc_all']:.1%}" for name in models))
        for name in models:
            for sp in samplers:
                conf = results[f"{name}/{sp}/{sr}"]["confusions"][: args.confusions]
                text = "; ".join(f"{_fmt_combo(t)} → {_fmt_combo(p)} ×{k}" for (t, p), k in conf) or "none"
                print(f"  worst confusions, {name} on {sp}: {text}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1, default=str) + "\n")
    return results


if __name__ == "__main__":
    main()
