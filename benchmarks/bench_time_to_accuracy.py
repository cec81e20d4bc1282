"""Time to a converged, accurate default model: the current training loop against an older one.

Trains the default variant with `drp train` on GDSC2 fold 0 of each split (mixed and
drug-blind), once with the code of this checkout and once with the code of ``--old-commit``
(the loop as it was when the speed issue was filed), in one run, one after the other, and
records for each:

- seconds of training until the validation RMSE first reaches ``--target`` (mixed);
- seconds to the best epoch (the checkpoint kept) and in all;
- the test RMSE of the kept checkpoint.

"Seconds" are the per-epoch times in the run's ``history.csv`` (training plus the validation
pass), so data loading and start-up are excluded for both loops alike. The old loop runs from a
git worktree under ``benchmarks/.old-<commit>/`` on data featurized by its own code (the same
verified archives, copied from ``data/raw``, no network). Rows go to ``benchmarks/RESULTS.md``.

Usage: ``python benchmarks/bench_time_to_accuracy.py [--old-commit 40dd9e4] [--seeds 0 1 2]
[--skip-old] [--device cuda]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from results_table import RESULTS, add_rows  # benchmarks/, the script's folder

ROOT = Path(__file__).resolve().parent.parent
SECTION = "## Time to accuracy"


def run(cmd: list[str], cwd: Path, env: dict | None = None) -> float:
    """Run a command, failing loudly; returns its wall time in seconds."""
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed in {cwd}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def old_checkout(commit: str) -> tuple[Path, dict]:
    """A worktree of ``commit`` with its own featurized GDSC2; returns (root, env)."""
    path = ROOT / "benchmarks" / f".old-{commit}"
    if not path.exists():
        run(["git", "worktree", "add", "--detach", str(path), commit], ROOT)
    env = dict(os.environ, PYTHONPATH=str(path))
    featurized = path / "data" / "featurized" / "gdsc2"
    if not (featurized / "manifest.json").exists():
        raw = path / "data" / "raw"
        raw.mkdir(parents=True, exist_ok=True)
        for archive in (ROOT / "data" / "raw").glob("*"):
            if archive.is_file():
                shutil.copy2(archive, raw / archive.name)
        run([*drp_command(), "featurize", "--dataset", "gdsc2", "--data-dir", "data"], path, env)
    return path, env


def drp_command() -> list[str]:
    """`drp` through the interpreter, so PYTHONPATH picks which checkout's code runs."""
    return [sys.executable, "-c", "import sys; from drp.cli import app; sys.argv[0] = 'drp'; app()"]


def figures(run_dir: Path, target: float) -> dict:
    history = pd.read_csv(run_dir / "history.csv")
    elapsed = history["seconds"].cumsum().to_numpy()
    reached = np.flatnonzero(history["val_rmse"].to_numpy() <= target)
    best = int(history["val_rmse"].idxmin())
    test = pd.read_parquet(run_dir / "predictions_test.parquet")
    return {
        "epochs": len(history),
        "s_to_target": float(elapsed[reached[0]]) if len(reached) else float("nan"),
        "epoch_target": int(reached[0]) + 1 if len(reached) else None,
        "s_to_best": float(elapsed[best]),
        "best_epoch": best + 1,
        "s_total": float(elapsed[-1]),
        "best_val_rmse": float(history["val_rmse"].min()),
        "test_rmse": float(np.sqrt(np.mean((test["y_pred"] - test["y_true"]) ** 2))),
    }


def train(
    loop: str, split: str, seed: int, cwd: Path, env: dict | None, out: Path, device: str = "cpu"
) -> dict:
    """One `drp train` (fold 0 of the folds drawn with ``seed``, trained with ``seed``)."""
    if out.exists():
        shutil.rmtree(out)
    args = ["train", "--dataset", "data/featurized/gdsc2", "--split", split, "--fold", "0"]
    args += ["--seed", str(seed), "--device", device, "--out", str(out)]
    wall = run([*drp_command(), *args], cwd, env)
    config = json.loads((out / "config.json").read_text())
    label = split if seed == 0 else f"{split} s{seed}"
    return {"loop": loop, "split": label, "wall_s": wall, "commit": config.get("git_commit")}


def device_label(device: str) -> str:
    """The card's name on CUDA; the CPU's architecture and thread count otherwise."""
    if device == "cuda":
        return f"cuda: {torch.cuda.get_device_name(0)}"
    return f"cpu: {platform.machine()}, {torch.get_num_threads()} threads"


def write_results(rows: list[dict], target: float, device: str = "cpu") -> None:
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    device = device_label(device)
    lines = [
        f"| {stamp} | {r['loop']} | {str(r['commit'])[:12]} | {r['split']} | {device} | "
        f"{r['epochs']} | {_fmt(r['s_to_target'])} ({r['epoch_target'] or '–'}) | "
        f"{_fmt(r['s_to_best'])} ({r['best_epoch']}) | {_fmt(r['s_total'])} | "
        f"{r['best_val_rmse']:.3f} | {r['test_rmse']:.3f} | {r.get('ratio', '')} |\n"
        for r in rows
    ]
    header = (
        f"{SECTION}\n\nWritten by `benchmarks/bench_time_to_accuracy.py`: the default model "
        "trained by `drp train` on GDSC2 fold 0, the current loop and the loop of an older "
        "commit in one run, one after the other. Seconds are training time (epochs plus "
        f"validation passes) from `history.csv`; target = first validation RMSE <= {target} "
        "(epoch in brackets); ratio = old / new seconds to the target on the mixed split, "
        "within the same run (blind-split folds of older commits can differ).\n\n"
        "| date | loop | commit | split | device | epochs | s to target (epoch) | "
        "s to best (epoch) | s total | best val RMSE | test RMSE | ratio |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    add_rows(SECTION, header, "".join(lines))


def _fmt(x: float) -> str:
    return "–" if x != x else f"{x:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old-commit", default="40dd9e4")
    parser.add_argument("--splits", nargs="+", default=["mixed", "drug_blind"])
    parser.add_argument("--target", type=float, default=1.05)
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[0],
        help="seeds (folds and training); the ratio compares medians over seeds, since runs "
        "of one loop differ by as much as loops do",
    )
    parser.add_argument("--skip-old", action="store_true", help="time the current loop only")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "runs" / "bench_time_to_accuracy")
    args = parser.parse_args()

    if not (ROOT / "data" / "featurized" / "gdsc2" / "manifest.json").exists():
        run([*drp_command(), "featurize", "--dataset", "gdsc2"], ROOT)
    loops = [("new", ROOT, None)]
    if not args.skip_old:
        old_root, old_env = old_checkout(args.old_commit)
        loops.append((f"old {args.old_commit}", old_root, old_env))
    rows = []
    for split in args.splits:
        by_loop: dict[str, list[dict]] = {}
        for seed in args.seeds:
            for loop, cwd, env in loops:
                out = args.out / f"{loop.split()[0]}_{split}_s{seed}"
                row = train(loop, split, seed, cwd, env, out, args.device)
                row |= figures(out, args.target)
                print(json.dumps(row))
                by_loop.setdefault(loop.split()[0], []).append(row)
                rows.append(row)
        # Blind-split folds of older commits may be drawn by another rule (drug ids before
        # structures), so only the mixed split gives a like-for-like ratio.
        if "old" in by_loop and split == "mixed":
            key = "s_to_target"
            old, new = (np.nanmedian([r[key] for r in by_loop[k]]) for k in ("old", "new"))
            over = f", median of {len(args.seeds)} seeds" if len(args.seeds) > 1 else ""
            by_loop["new"][-1]["ratio"] = f"{old / new:.2f}x ({key.removeprefix('s_')}{over})"
    write_results(rows, args.target, args.device)
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
