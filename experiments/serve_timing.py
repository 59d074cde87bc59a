"""Time ``matcher serve`` from upload to the first progress event and to the result.

``python -m experiments.serve_timing [--runs 3] [--budget 2000] [--target examples/targets/saw_lowpass.wav]``
starts ``matcher serve --port 0`` in a fresh process (as a user would), then
for each run uploads the target (``POST /api/jobs``, the CLI's default voice
and strategy), follows ``/api/jobs/{id}/events`` and prints, measured from the
moment the upload starts:

* ``first progress``: the first event with at least one evaluation;
* ``result``: the event of the finished job (results published, page can show them),
  with the search's own wall time (``search_wall_s``) beside it;

and the load average, since the machine may be shared.

Run 1 includes the server process's first match (imports, Pyo boot, model
load); later runs show a warm server.  ``--compare-cli`` also times
``matcher match`` on the same target (fresh process, start-up included) under
the same load, for scale.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx2 as httpx


def start_server(data_dir: Path) -> tuple[subprocess.Popen, str]:
    """``matcher serve --port 0`` and the URL it prints once ready."""
    proc = subprocess.Popen([sys.executable, "-m", "matcher.cli", "serve", "--port", "0", "--data", str(data_dir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    line = proc.stdout.readline()
    match = re.search(r"http://[^\s]+/", line)
    if not match:
        proc.kill()
        raise SystemExit(f"serve did not print its URL: {line!r}")
    return proc, match.group(0)


def time_one(client: httpx.Client, url: str, target: Path, budget: int) -> dict:
    """Upload ``target`` and follow its events; times in seconds from the start of the upload."""
    t0 = time.perf_counter()
    with open(target, "rb") as fh:
        response = client.post(f"{url}api/jobs", files={"file": (target.name, fh)}, data={"budget": str(budget)})
    response.raise_for_status()
    t_queued = time.perf_counter() - t0
    job_id = response.json()["id"]
    first_progress = None
    n_events = 0
    with client.stream("GET", f"{url}api/jobs/{job_id}/events", timeout=None) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            job = json.loads(line[6:])
            n_events += 1
            if first_progress is None and job["evals"] > 0:
                first_progress = time.perf_counter() - t0
            if job["state"] in ("done", "failed"):
                break
    if job["state"] != "done":
        raise SystemExit(f"job failed: {job['error']}")
    result_s = time.perf_counter() - t0
    return {"queued_s": t_queued, "first_progress_s": first_progress, "result_s": result_s, "search_s": job["result"]["search_wall_s"], "events": n_events, "evals": job["evals"], "distance": job["best_distance"]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget", type=int, default=2000)
    parser.add_argument("--compare-cli", action="store_true", help="also time `matcher match` on the same target in a fresh process, under the same load")
    parser.add_argument("--target", type=Path, default=Path(__file__).resolve().parents[1] / "examples" / "targets" / "saw_lowpass.wav")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="serve-timing-") as tmp:
        proc, url = start_server(Path(tmp))
        try:
            with httpx.Client(timeout=60) as client:
                print(f"server {url}; target {args.target.name}; budget {args.budget}")
                print(f"load average {os.getloadavg()[0]:.1f} at start")
                print("run  upload->queued  upload->first progress  upload->result  (search)  events  evals  distance")
                for run in range(1, args.runs + 1):
                    r = time_one(client, url, args.target, args.budget)
                    print(f"{run:>3}  {r['queued_s']:>12.3f} s  {r['first_progress_s']:>20.3f} s  {r['result_s']:>12.2f} s  ({r['search_s']:.2f} s)  {r['events']:>6}  {r['evals']:>5}  {r['distance']:.4g}")
            if args.compare_cli:
                out = Path(tmp) / "cli-match"
                t0 = time.perf_counter()
                subprocess.run([sys.executable, "-m", "matcher.cli", "match", str(args.target), "--budget", str(args.budget), "--out", str(out)], check=True, capture_output=True)
                print(f"matcher match, fresh process, same target and budget: {time.perf_counter() - t0:.2f} s")
            print(f"load average {os.getloadavg()[0]:.1f} at the end")
        finally:
            proc.terminate()
            proc.wait(30)


if __name__ == "__main__":
    main()
