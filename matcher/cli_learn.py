"""Learning commands of the ``matcher`` CLI: ``dataset``, ``train``, ``predict``.

Registered by :data:`matcher.cli.EXTENSIONS`.  Same conventions as ``match``:
bad input ends with one ``error:`` line and exit status 2, outputs appear atomically.
Every command works for every voice by name: ``dataset --voice NAME`` draws the
voice's patches, ``train`` reads the voice from the dataset's columns, and
``predict`` uses the model of ``--voice NAME`` (its shipped one) or of ``--model``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

__all__ = ["register", "dataset", "train", "predict"]


def dataset(
    n: int = typer.Option(..., "--n", help="Number of samples."),
    voice: str = typer.Option("subtractive", "--voice", help="Voice whose patches are drawn (see `matcher voices`)."),
    out: Path = typer.Option(..., "--out", help="Dataset folder (re-running the same command resumes)."),
    seed: int = typer.Option(0, "--seed", help="Dataset seed (sample i uses default_rng((seed, i)))."),
    jobs: int = typer.Option(1, "--jobs", "-j", help="Worker processes (does not change the output)."),
    sr: int = typer.Option(22050, "--sr", help="Sample rate in Hz."),
    duration: float = typer.Option(1.0, "--duration", help="Note length in seconds."),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="Distribution of the patches (synth.voice_samplers) (default: the voice's; subtractive: v2, broad, or v1, before issue #8; analog, fm: v1, half the notes move)."),
) -> None:
    """Generate N valid random patches of a voice: one WAV each, params.csv (the voice's parameters) and a features cache."""
    import functools  # noqa: PLC0415

    from matcher.cli import err_console, fail, out_console  # noqa: PLC0415
    from matcher.predictor import feature_version_for, predictor_features  # noqa: PLC0415
    from synth.dataset import DatasetError, generate_dataset  # noqa: PLC0415
    from synth.voice_samplers import VOICE_SAMPLERS  # noqa: PLC0415
    from synth.voices import VOICES  # noqa: PLC0415

    if voice not in VOICES:
        fail(f"--voice must be one of {', '.join(VOICES)}, got {voice!r}")
    if voice not in VOICE_SAMPLERS:
        fail(f"voice {voice!r} has no patch sampler (voices with one: {', '.join(VOICE_SAMPLERS)})")
    samplers = VOICE_SAMPLERS[voice]
    sampler = sampler or next(iter(samplers))
    if n < 1:
        fail(f"--n must be a positive number of samples, got {n}")
    if jobs < 1:
        fail(f"--jobs must be at least 1, got {jobs}")
    if not 8000 <= sr <= 192000:
        fail(f"--sr must be from 8000 to 192000 Hz, got {sr}")
    d = VOICES[voice].space["duree"]
    if not (0.3 <= duration <= d.high):
        fail(f"--duration must be within [0.3, {d.high:g}] seconds, got {duration}")
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder")
    if sampler not in samplers:
        fail(f"--sampler must be one of {', '.join(sorted(samplers))} for voice {voice}, got {sampler!r}")
    version = feature_version_for(voice)
    features = predictor_features if version == 1 else functools.partial(predictor_features, version=version)
    progress = Progress(TextColumn("[bold]dataset[/]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=err_console)
    try:
        with progress:
            task = progress.add_task("dataset", total=n)
            summary = generate_dataset(out, n, seed=seed, jobs=jobs, sr=sr, duration=duration, features=features,
                                       feature_version=version, on_chunk=lambda k: progress.advance(task, k), sampler=sampler, voice=voice)
    except DatasetError as exc:
        fail(str(exc))
    total_rej = sum(summary.rejections.values())
    table = Table(title=f"rejected draws ({total_rej} for {n} samples)")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for reason, count in summary.rejections.most_common():
        table.add_row(reason, str(count))
    out_console.print(table)
    t = summary.timings_s
    if t:
        out_console.print("worker time per sample: " + ", ".join(f"{k[:-2]} {1000 * v / max(summary.generated, 1):.2f} ms" for k, v in t.items()))
    out_console.print(f"wrote {out}/params.csv, features.npz (version {version}) and {n} {voice} WAVs ({summary.generated} generated, {summary.resumed} resumed) in {summary.wall_s:.1f} s")


def train(
    data: Path = typer.Argument(..., help="Dataset folder made by `matcher dataset`."),
    out: Path = typer.Option(..., "--out", help="Model folder to write (model.npz + model.json)."),
    seed: int = typer.Option(0, "--seed", help="Seed of the held-out split and the networks."),
    hidden: str = typer.Option("256,128", "--hidden", help="Hidden layer sizes, comma-separated."),
    max_iter: int = typer.Option(200, "--max-iter", help="Maximum training epochs (early stopping on a validation split)."),
    holdout: float = typer.Option(0.1, "--holdout", help="Fraction of the samples held out for the metrics."),
) -> None:
    """Train the predictor on DATA (a dataset of any voice: the voice is read from its columns) and print held-out metrics."""
    from matcher.cli import fail, out_console  # noqa: PLC0415
    from matcher.pipeline import publish_folder  # noqa: PLC0415
    from matcher.predictor import FEATURE_VERSIONS, combo_indices, layout_for, regression_targets, train_predictor  # noqa: PLC0415
    from synth.dataset import DatasetError, dataset_voice, load_features  # noqa: PLC0415

    import numpy as np  # noqa: PLC0415

    try:
        sizes = tuple(int(s) for s in hidden.split(","))
        if not sizes or min(sizes) < 1:
            raise ValueError
    except ValueError:
        fail(f"--hidden must be positive integers separated by commas, got {hidden!r}")
    if not 0.0 < holdout < 0.5:
        fail(f"--holdout must be within (0, 0.5), got {holdout}")
    if max_iter < 1:
        fail(f"--max-iter must be positive, got {max_iter}")
    if not data.is_dir():
        fail(f"{data}: not a dataset folder")
    try:
        voice = dataset_voice(data)
        x, patches = load_features(data)
    except DatasetError as exc:
        fail(str(exc))
    version = {width: v for v, width in FEATURE_VERSIONS.items()}.get(x.shape[1] if x.ndim == 2 else -1)
    if version is None:
        fail(f"{data}: features of width {x.shape[-1]}, this version computes {sorted(FEATURE_VERSIONS.values())}; regenerate the dataset")
    if len(patches) < 20:
        fail(f"{data}: {len(patches)} samples are too few to train on (need at least 20)")
    if out.exists() and not out.is_dir():
        fail(f"{out}: exists and is not a folder")
    combo_idx = combo_indices(patches, voice)
    y = np.array([regression_targets(p, voice) for p in patches])
    out_console.print(f"training a {voice} predictor on {len(patches)} samples ({x.shape[1]} features, version {version}) ...")
    model, m = train_predictor(x, combo_idx, y, seed=seed, hidden=sizes, max_iter=max_iter, holdout=holdout, voice=voice, feature_version=version)
    model.meta["dataset"] = str(data)
    print_metrics(m, out_console)
    def write_npz(path: Path) -> None:
        model.save(path.with_suffix(""))  # writes model.npz and model.json side by side

    def write_json(path: Path) -> None:
        assert path.exists()  # written by write_npz

    publish_folder({"model.npz": write_npz, "model.json": write_json}, out)
    layout = layout_for(voice)
    out_console.print(f"wrote {out}/model.npz, model.json ({voice}: {len(layout.reg_targets)} regression outputs, {len(layout.combos)} combinations) in {m['train_s']:.1f} s of training")


def print_metrics(m: dict, console) -> None:
    """Held-out metrics as a table."""
    table = Table(title=f"held-out metrics ({m['n']} samples)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    labels = {"osc_type": "oscillator type", "filter_type": "filter type"}
    choice_acc = m.get("choice_acc", {})
    for name, acc in choice_acc.items():
        table.add_row(f"{labels.get(name, name)} accuracy", f"{acc:.1%}")
    if choice_acc:
        table.add_row("combination accuracy (top-1 / top-3)", f"{m['combo_acc']:.1%} / {m['top3_combo_acc']:.1%}")
    else:
        table.add_row("choices", "none (one combination)")
    table.add_section()
    for k, v in m["mae"].items():
        table.add_row(f"MAE unit cube: {k}", f"{v:.3f}")
    table.add_row("mean raw MAE (excl. osc_freq)", f"{m['mae_raw_mean']:.3f}")
    if "cutoff_ratio_err_oct" in m:
        table.add_row("median |cutoff/f0| error (octaves)", f"{m['cutoff_ratio_err_oct']:.3f}")
    if "noise_ratio_mae" in m:
        table.add_row("MAE noise/osc ratio", f"{m['noise_ratio_mae']:.3f}")
    console.print(table)


def predict(
    target: Path = typer.Argument(..., help="Target sound (WAV, FLAC or OGG)."),
    out: Optional[Path] = typer.Option(None, "--out", help="Output folder (default: predictions/<target-stem>/)."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model folder or file (default: the voice's shipped model)."),
    voice: Optional[str] = typer.Option(None, "--voice", help="Voice to predict a patch of (default: the model's voice, or subtractive)."),
    sr: int = typer.Option(22050, "--sr", help="Working sample rate (Hz); match.wav uses the target's rate."),
) -> None:
    """Predict a patch of a voice for TARGET with the network alone (no search); write patch.json and match.wav."""
    from matcher.cli import fail, out_console, output_folder  # noqa: PLC0415
    from matcher.pipeline import DEFAULT_SR, MAX_DURATION_S, publish_folder  # noqa: PLC0415
    from matcher.hybrid import run_predict  # noqa: PLC0415
    from matcher.predictor import ModelFileError, Predictor, load_voice_model  # noqa: PLC0415
    from synth.voices import DEFAULT_VOICE, VOICES  # noqa: PLC0415
    from matcher.search import MatchConfig  # noqa: PLC0415
    from objectives.audio_io import TargetError, load_target, write_wav_atomic  # noqa: PLC0415
    from objectives.metrics import mfcc_distance  # noqa: PLC0415
    from synth.patch_io import patch_document, write_text_atomic  # noqa: PLC0415
    from synth.render import render  # noqa: PLC0415

    del DEFAULT_SR
    t0 = time.perf_counter()
    if sr < 8000:
        fail(f"--sr must be at least 8000 Hz, got {sr}")
    if voice is not None and voice not in VOICES:
        fail(f"--voice must be one of {', '.join(VOICES)}, got {voice!r}")
    try:
        predictor = Predictor.load(model) if model is not None else load_voice_model(voice or DEFAULT_VOICE)
        tgt = load_target(target, sr=sr, max_duration_s=MAX_DURATION_S)
    except (ModelFileError, TargetError) as exc:
        fail(str(exc))
    if voice is not None and predictor.voice != voice:
        fail(f"{model}: a model of voice {predictor.voice!r}, not {voice!r}")
    voice = predictor.voice
    out = output_folder(out, "predictions", target)
    result = run_predict(tgt.audio, MatchConfig(optimizer="predict", budget=1, sr=sr, voice=voice), predictor=predictor)
    patch, loss = result.patch, result.loss
    match_audio = render(patch, tgt.orig_sr, len(tgt.orig_audio), voice)
    info = result.info
    doc = patch_document(patch, voice, tgt.orig_sr, loss, target=str(target), optimizer="predict", evals=1,
                         f0_estimate_hz=result.pitch.f0_hz, probabilities=info["choice_probs"],
                         metrics={"mfcc_distance": mfcc_distance(match_audio, tgt.orig_audio, tgt.orig_sr)})
    publish_folder({
        "patch.json": lambda p: write_text_atomic(p, json.dumps(doc, indent=2) + "\n"),
        "match.wav": lambda p: write_wav_atomic(p, match_audio, tgt.orig_sr),
    }, out)
    table = Table(title=f"prediction (no search), voice {voice}")
    table.add_column("parameter")
    table.add_column("value", justify="right")
    for k, v in patch.items():
        table.add_row(k, v if isinstance(v, str) else f"{v:.4g}")
    table.add_section()
    for name, probs in info["choice_probs"].items():
        table.add_row(f"P({name})", ", ".join(f"{k} {v:.2f}" for k, v in sorted(probs.items(), key=lambda kv: -kv[1])))
    table.add_row("distance", f"{loss:.4g}")
    table.add_row("network / features", f"{info['network_ms']:.2f} ms / {info['features_ms']:.1f} ms")
    out_console.print(table)
    out_console.print(f"wrote {out}/patch.json, match.wav  ({time.perf_counter() - t0:.1f} s in all)")


def register(app: typer.Typer) -> None:
    """Add ``dataset``, ``train`` and ``predict`` to the ``matcher`` app."""
    app.command("dataset")(dataset)
    app.command("train")(train)
    app.command("predict")(predict)
