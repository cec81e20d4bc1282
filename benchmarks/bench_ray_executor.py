"""The Ray executor against the local one on GDSC2: same preset, same seeds, same metrics.

Runs ``drp study --preset PRESET`` twice into fresh study directories, once with the local
executor (torch's default threads: all cores) and once with ``--executor ray`` (a local Ray
instance) with ``--cpus-per-run`` set to the core count, so every run has the same torch
threads, and compares every cell's test metrics. Rows go to ``benchmarks/RESULTS.md``.

Usage: ``python benchmarks/bench_ray_executor.py [--preset smoke] [--cpus-per-run 2]``
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from results_table import add_rows

from drp.training import hardware

HERE = Path(__file__).parent
SECTION = "## Ray executor"
HEADER = f"""{SECTION}

`benchmarks/bench_ray_executor.py`: `drp study --preset P` with the local executor and with
`--executor ray` (local Ray instance) on GDSC2, same seeds and torch threads per run; the
largest difference of any cell's test metric, and the wall times (Ray's include starting it).

| date | commit | machine | preset | cells | CPUs per run | max abs diff (rmse / pearson / per-drug r) | local s | ray s |
|---|---|---|---|---|---|---|---|---|
"""
KEYS = ["variant", "split", "fold", "seed"]


def run(args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([str(Path(sys.executable).parent / "drp"), *args], check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--cpus-per-run", type=int, default=os.cpu_count())
    parser.add_argument("--root", type=Path, default=Path("studies/bench_ray"))
    args = parser.parse_args()
    shutil.rmtree(args.root, ignore_errors=True)
    common = ["study", "--preset", args.preset, "--out-root", str(args.root)]
    local_s = run([*common, "--name", "local"])
    ray_s = run([*common, "--name", "ray", "--executor", "ray",
                 "--cpus-per-run", str(args.cpus_per_run)])  # fmt: skip
    local = pd.read_csv(args.root / "local" / "results.csv").sort_values(KEYS, ignore_index=True)
    ray = pd.read_csv(args.root / "ray" / "results.csv").sort_values(KEYS, ignore_index=True)
    if not local[KEYS].equals(ray[KEYS]):
        raise SystemExit("the two studies hold different cells")
    diffs = [(local[m] - ray[m]).abs().max() for m in ("rmse", "pearson", "per_drug_r")]
    print(f"{len(local)} cells; max abs diff {diffs}; local {local_s:.0f} s, ray {ray_s:.0f} s")
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    hw = hardware()
    machine = hw.get("gpu") or f"CPU, {hw.get('cpus')} cores"
    cells = [f"{datetime.now(UTC):%Y-%m-%d %H:%M}", commit, machine, args.preset,
             str(len(local)), str(args.cpus_per_run), " / ".join(f"{d:.1e}" for d in diffs),
             f"{local_s:.0f}", f"{ray_s:.0f}"]  # fmt: skip
    add_rows(SECTION, HEADER, "| " + " | ".join(cells) + " |\n")


if __name__ == "__main__":
    main()
