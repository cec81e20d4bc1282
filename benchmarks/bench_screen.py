"""Library screening at scale: `drp.prediction.screen` end to end, beside `drp predict RUN --matrix`.

Trains nothing. From a finished run (``--run``), builds libraries of ``--n`` compounds (default
2,145 and 10,000) by repeating the SMILES of the run dataset's drugs under new names
(``lib_00001`` ...), and for each:

- times :func:`drp.prediction.screen.screen` end to end in-process (loading the run and dataset, reading
  and standardising the library, chunked scoring into ``predictions.parquet``, top-K tables,
  applicability domain and the HTML summary), in a fresh subprocess per row so that its peak
  resident memory (``ru_maxrss``) is its own;
- times ``drp predict RUN --matrix`` end to end as a subprocess (the run dataset's own
  cells x drugs), with its peak RSS.

Targets on the 2-core CPU: 2,145 compounds x 921 GDSC2 cells (~2.0M pairs) in <= 30 s with peak
RSS <= 3 GB. Rows go to ``benchmarks/RESULTS.md`` under "## Screening" (``--results`` writes
elsewhere, e.g. for a smoke test on a fixture run).

Usage: ``python benchmarks/bench_screen.py --run runs/RUN [--n 2145 10000] [--chunk-size 1024]
[--device cpu] [--no-matrix]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from results_table import RESULTS, add_rows  # benchmarks/, the script's folder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SECTION = "## Screening"
TARGET = "2,145 x 921 in <= 30 s, peak RSS <= 3 GB (2-core CPU)"
# `drp` through the interpreter (PYTHONPATH picks the checkout), reporting its own peak RSS
DRP_WITH_RSS = (
    "import atexit, resource, sys; "
    "atexit.register(lambda: print('PEAK_RSS_KB', "
    "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)); "
    "from drp.cli import app; sys.argv[0] = 'drp'; app()"
)


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def build_library(run_dir: Path, n: int, path: Path) -> Path:
    """``n`` compounds: the run dataset's drug SMILES repeated, each under a new name."""
    config = json.loads((run_dir / "config.json").read_text())
    drugs = pd.read_parquet(Path(config["dataset"]) / "drugs.parquet")
    smiles = drugs["smiles"].astype(str).to_numpy()
    pd.DataFrame(
        {
            "drug_id": [f"lib_{i + 1:05d}" for i in range(n)],
            "smiles": [smiles[i % len(smiles)] for i in range(n)],
        }
    ).to_csv(path, index=False)
    return path


def child_screen(args: argparse.Namespace) -> None:
    """One screen in this (fresh) process; prints a JSON row."""
    import torch

    from drp.prediction.predictor import Predictor
    from drp.prediction.screen import screen
    from drp.report.screen import write_screen_report

    start = time.perf_counter()
    predictor = Predictor.from_run(args.run, args.device)
    loaded = time.perf_counter() - start
    result = screen(predictor, args.library, args.out, run_dir=args.run, chunk_size=args.chunk_size)
    write_screen_report(result)
    wall = time.perf_counter() - start
    row = {
        "job": "drp.prediction.screen (in-process)",
        "compounds": result.n_read,
        "cells": len(result.cell_ids),
        "pairs": result.meta["pairs"],
        "wall_s": wall,
        "load_s": loaded,
        "peak_rss_gb": peak_rss_gb(),
        "hardware": hardware_label(args.device, torch.get_num_threads()),
    }
    print("ROW " + json.dumps(row), flush=True)


def hardware_label(device: str, threads: int) -> str:
    if device == "cuda":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.machine()}, {threads} threads"


def run_screen_row(args: argparse.Namespace, n: int, work: Path) -> dict:
    library = build_library(args.run, n, work / f"lib_{n}.csv")
    cmd = [sys.executable, __file__, "--child-screen", "--run", str(args.run)]
    cmd += ["--library", str(library), "--out", str(work / f"screen_{n}")]
    cmd += ["--chunk-size", str(args.chunk_size), "--device", args.device]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    subprocess_wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"screen of {n} compounds failed:\n{done.stderr[-3000:]}")
    line = next(x for x in done.stdout.splitlines() if x.startswith("ROW "))
    return json.loads(line[4:]) | {"subprocess_s": subprocess_wall}


def run_matrix_row(args: argparse.Namespace, work: Path) -> dict:
    out = work / "matrix.parquet"
    cmd = [sys.executable, "-c", DRP_WITH_RSS, "predict", str(args.run), "--matrix"]
    cmd += ["--device", args.device, "--out", str(out)]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"drp predict --matrix failed:\n{done.stderr[-3000:]}")
    rss_kb = next(
        int(x.split()[1]) for x in done.stderr.splitlines() if x.startswith("PEAK_RSS_KB")
    )
    pairs = len(pd.read_parquet(out, columns=["drug_id"]))
    return {
        "job": "drp predict --matrix (subprocess)",
        "chunk": "–",
        "compounds": "–",
        "cells": "–",
        "pairs": pairs,
        "wall_s": wall,
        "subprocess_s": wall,
        "peak_rss_gb": rss_kb / 1024**2,
    }


def commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True)
    return done.stdout.decode().strip() or "unknown"


def write_results(rows: list[dict], run_dir: Path, chunk_size: int, path: Path) -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    code = commit()
    hardware = next((r["hardware"] for r in rows if "hardware" in r), "–")
    lines = [
        f"| {stamp} | {code} | {hardware} | {run_dir.name} | {r['job']} | {r['compounds']} | "
        f"{r['cells']} | {r['pairs']:,} | {r.get('chunk', chunk_size)} | {r['wall_s']:.1f} | "
        f"{r['subprocess_s']:.1f} | {r['peak_rss_gb']:.2f} |\n"
        for r in rows
    ]
    header = (
        f"{SECTION}\n\nWritten by `benchmarks/bench_screen.py`: a library of N compounds (the "
        "run dataset's drug SMILES repeated under new names) screened against every cell line "
        "of the run's dataset by `drp.prediction.screen` in a fresh process (wall = in-process, from "
        "loading the run to the written summary; subprocess = including interpreter start), "
        "and `drp predict RUN --matrix` as a subprocess. Peak RSS = the process's "
        f"`ru_maxrss`. Target: {TARGET}.\n\n"
        "| date | commit | hardware | run | job | compounds | cells | pairs | chunk "
        "| wall (s) | subprocess (s) | peak RSS (GB) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    add_rows(SECTION, header, "".join(lines), path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="a finished `drp train` run")
    parser.add_argument("--n", type=int, nargs="+", default=[2145, 10000])
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-matrix", action="store_true", help="skip `drp predict --matrix`")
    parser.add_argument("--results", type=Path, default=RESULTS, help="table to append to")
    parser.add_argument("--child-screen", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--library", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_screen:
        child_screen(args)
        return
    args.run = args.run.resolve()
    if not (args.run / "best.pt").exists():
        sys.exit(f"{args.run} has no best.pt: give a finished `drp train` run")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-screen-") as tmp:
        work = Path(tmp)
        for n in args.n:
            rows.append(run_screen_row(args, n, work))
            print(json.dumps(rows[-1]), flush=True)
        if not args.no_matrix:
            rows.append(run_matrix_row(args, work))
            print(json.dumps(rows[-1]), flush=True)
    write_results(rows, args.run, args.chunk_size, args.results)
    print(f"rows appended to {args.results}")


if __name__ == "__main__":
    main()
