"""Wall time of the real ``matcher match``: ``--jobs 1`` against ``--jobs 2`` and the default, side by side, and the first run in a fresh venv.

Run ``python -m experiments.match_speed [--runs 5] [--target examples/targets/saw_lowpass.wav] [--fresh-venv] [--autogroup-nice -15] [--baseline REV]``.

Each run is a fresh ``matcher match TARGET`` process (start-up included), timed from
launch to exit; the settings are interleaved run by run so that load on this shared
machine hits them alike.  Printed: every run, the medians, the ratio of the medians
(``--jobs 1`` / ``--jobs N``), and whether every run wrote the same patch.

``--autogroup-nice N`` (Linux, root) runs the timings in a new session whose
scheduler autogroup has nice ``N``: with autogroups on (the default), processes
of other sessions share the cores with this one by session, whatever their own
nice, so on a machine that other jobs load a negative value is the way to time
the match itself rather than its share of the machine.  Printed either way.

``--baseline REV`` also times the code of git revision ``REV`` (exported with
``git archive`` into a temporary folder and run from there with this venv's
packages), ``--jobs 1`` and ``--jobs N``, interleaved with this checkout's runs,
and prints this checkout's time over the baseline's: a change's speed-up
measured side by side, whatever the machine's load does meanwhile.

``--fresh-venv`` first builds a new virtual environment with the project installed
from this checkout (non-editable, as a user gets it), then times its first
``matcher match`` and a second one: the first run pays for compiling byte code and
the numba functions librosa uses, which later runs load from cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["time_match", "main"]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "targets" / "saw_lowpass.wav"


def time_match(matcher: list[str], target: Path, out: Path, extra: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, dict]:
    """Wall seconds of one ``matcher match`` process and the params of the patch it wrote."""
    t0 = time.perf_counter()
    subprocess.run([*matcher, "match", str(target), "--out", str(out), *extra], check=True, capture_output=True, env=env, cwd=cwd)
    wall = time.perf_counter() - t0
    return wall, json.loads((out / "patch.json").read_text())["params"]


def _fresh_venv(tmp: Path) -> list[str]:
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, str(ROOT)], check=True)
    return [str(venv / "bin" / "matcher")]


def _export_revision(rev: str, into: Path) -> Path:
    """The tree of git revision ``rev`` of this checkout, written into ``into`` (no git state changes)."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _shield(nice: int) -> None:
    """Move this process (and the matches it starts) to a new session whose autogroup has ``nice``."""
    try:
        os.setsid()
    except PermissionError:  # already a session leader
        pass
    Path("/proc/self/autogroup").write_text(f"{nice}\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5, help="runs of each setting")
    ap.add_argument("--target", type=Path, default=EXAMPLE)
    ap.add_argument("--jobs", type=int, default=2, help="the parallel setting compared with --jobs 1")
    ap.add_argument("--fresh-venv", action="store_true", help="also time the first runs in a new venv")
    ap.add_argument("--autogroup-nice", type=int, default=None, help="time in a new session with this autogroup nice (Linux, root)")
    ap.add_argument("--also", action="append", default=[], metavar="ARGS",
                    help='another setting timed in the same interleaved runs, e.g. --also="--voice subtractive" (repeatable; left out of the same-patch check)')
    ap.add_argument("--baseline", default=None, metavar="REV", help="also time git revision REV, --jobs 1 and N, interleaved (e.g. HEAD~1)")
    args = ap.parse_args(argv)
    if args.autogroup_nice is not None:
        _shield(args.autogroup_nice)
    matcher = [sys.executable, "-m", "matcher.cli"]
    settings = {"--jobs 1": ["--jobs", "1"], f"--jobs {args.jobs}": ["--jobs", str(args.jobs)], "default": []}
    settings.update({extra: extra.split() for extra in args.also})
    baseline = {f"{args.baseline} --jobs {j}": ["--jobs", str(j)] for j in (1, args.jobs)} if args.baseline else {}
    times: dict[str, list[float]] = {k: [] for k in [*settings, *baseline]}
    patches: list[dict] = []  # of the --jobs settings and the default, which must agree
    with tempfile.TemporaryDirectory() as tmp:
        # `python -m` puts the working folder first on the path: the baseline runs from its own tree.
        old_tree = _export_revision(args.baseline, Path(tmp) / "baseline") if args.baseline else None
        if args.fresh_venv:
            t0 = time.perf_counter()
            fresh = _fresh_venv(Path(tmp))
            print(f"fresh venv built in {time.perf_counter() - t0:.0f} s")
            alone = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # its own installed copy, not this checkout
            first, _ = time_match(fresh, args.target, Path(tmp) / "fresh1", [], alone)
            second, _ = time_match(fresh, args.target, Path(tmp) / "fresh2", [], alone)
            third, _ = time_match(fresh, args.target, Path(tmp) / "fresh3", [], alone)
            print(f"fresh venv, default settings: first run {first:.2f} s, second {second:.2f} s, third {third:.2f} s")
        for i in range(args.runs):
            for name, extra in settings.items():
                wall, params = time_match(matcher, args.target, Path(tmp) / f"{name.replace(' ', '')}{i}", extra)
                times[name].append(wall)
                if name not in args.also:
                    patches.append(params)
                print(f"run {i + 1} {name:>9}: {wall:.2f} s", flush=True)
            for name, extra in baseline.items():
                wall, _ = time_match(matcher, args.target.resolve(), Path(tmp) / f"base{name.split()[-1]}{i}", extra, cwd=old_tree)
                times[name].append(wall)
                print(f"run {i + 1} {name}: {wall:.2f} s", flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"\n`matcher match {args.target.name}` (default strategy and budget), {args.runs} fresh processes each, interleaved:")
    for k, v in times.items():
        print(f"  {k:>9}: median {med[k]:.2f} s  (runs {', '.join(f'{x:.2f}' for x in v)})")
    print(f"  speed-up --jobs 1 / --jobs {args.jobs}: {med['--jobs 1'] / med[f'--jobs {args.jobs}']:.2f}x;  --jobs 1 / default: {med['--jobs 1'] / med['default']:.2f}x")
    for extra in args.also:
        print(f"  default / {extra}: {med['default'] / med[extra]:.2f}x")
    for j in (1, args.jobs) if args.baseline else ():
        print(f"  this checkout / {args.baseline}, --jobs {j}: {med[f'--jobs {j}'] / med[f'{args.baseline} --jobs {j}']:.2f}x the time")
    same = all(p == patches[0] for p in patches)
    print(f"  same patch.json params in every run: {same}")
    group = Path("/proc/self/autogroup").read_text().strip() if Path("/proc/self/autogroup").exists() else "n/a"
    print(f"  cores: {len(os.sched_getaffinity(0))}, load average at the end: {os.getloadavg()[0]:.2f}, scheduler autogroup: {group}")


if __name__ == "__main__":
    main()
