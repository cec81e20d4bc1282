"""The Ray executor against the local one on GDSC2: same preset, same seeds, same metrics.

Runs the study ``--preset PRESET`` twice into fresh study directories, once with the local
executor and once with the Ray executor (a local Ray instance), each in its own process and
with its defaults: no ``--cpus-per-run``, so each Ray run takes the torch threads a local run
uses. Compares every cell's test metrics; rows go to ``benchmarks/RESULTS.md``.

``--via api`` (default) builds each study as ``drp study`` does, through
``drp.study.runner.run_study`` with ``LocalExecutor()`` / ``RayExecutor()``; ``--via cli`` runs
``drp study [--executor ray]`` itself (its ``--cpus-per-run`` must default to none for the
executors' defaults to apply).

Usage: ``python benchmarks/bench_ray_executor.py [--preset smoke] [--via api|cli]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import torch
from results_table import add_rows

from drp.core.provenance import hardware

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


def study_worker(kind: str, preset: str, root: Path, name: str) -> None:
    """One study as ``drp study --preset PRESET [--executor ray]`` builds it, with every
    executor option at its default; its folds are drawn into ``root/folds`` (both studies
    share them, and the dataset's own fold cache is left alone)."""
    from drp.api import dataset_path
    from drp.core.config import load_config
    from drp.core.executors import LocalExecutor, RayExecutor
    from drp.study.presets import preset_by_name
    from drp.study.runner import run_study

    executor = LocalExecutor() if kind == "local" else RayExecutor()
    config = load_config(None, [f"train.folds_dir={root / 'folds'}"])
    run_study(name, preset_by_name(preset), dataset_path("gdsc2"), root, config, preset,
              log=print, executor=executor)  # fmt: skip


def run(kind: str, args: argparse.Namespace) -> float:
    """Wall seconds of one study (``kind`` local or ray) in a fresh process; no CPUs per run."""
    if args.via == "cli":
        extra = ["--executor", "ray"] if kind == "ray" else []
        command = [str(Path(sys.executable).parent / "drp"), "study", "--preset", args.preset,
                   "--out-root", str(args.root), "--name", kind,
                   "--set", f"train.folds_dir={args.root / 'folds'}", *extra]  # fmt: skip
    else:
        command = [sys.executable, __file__, "--preset", args.preset, "--root", str(args.root),
                   "--worker", kind]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(command, check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="smoke")
    parser.add_argument("--root", type=Path, default=Path("studies/bench_ray"))
    parser.add_argument("--via", choices=("api", "cli"), default="api")
    parser.add_argument("--worker", choices=("local", "ray"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        study_worker(args.worker, args.preset, args.root, args.worker)
        return
    shutil.rmtree(args.root, ignore_errors=True)
    local_s = run("local", args)
    ray_s = run("ray", args)
    local = pd.read_csv(args.root / "local" / "results.csv").sort_values(KEYS, ignore_index=True)
    ray = pd.read_csv(args.root / "ray" / "results.csv").sort_values(KEYS, ignore_index=True)
    if not local[KEYS].equals(ray[KEYS]):
        raise SystemExit("the two studies hold different cells")
    diffs = [(local[m] - ray[m]).abs().max() for m in ("rmse", "pearson", "per_drug_r")]
    threads = torch.get_num_threads()
    print(f"{len(local)} cells; no --cpus-per-run ({threads} torch threads each, via {args.via}); "
          f"max abs diff {' / '.join(f'{d:.1e}' for d in diffs)}; local {local_s:.0f} s, ray {ray_s:.0f} s")  # fmt: skip
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=HERE
    ).stdout.strip()
    hw = hardware()
    machine = hw.get("gpu") or f"CPU, {hw.get('cpus')} cores"
    per_run = f"none given (default: {threads} threads, as local; via {args.via})"
    cells = [f"{datetime.now(UTC):%Y-%m-%d %H:%M}", commit, machine, args.preset,
             str(len(local)), per_run, " / ".join(f"{d:.1e}" for d in diffs),
             f"{local_s:.0f}", f"{ray_s:.0f}"]  # fmt: skip
    add_rows(SECTION, HEADER, "| " + " | ".join(cells) + " |\n")


if __name__ == "__main__":
    main()
