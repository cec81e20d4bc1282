"""Speed and memory of the default model on full GDSC2; writes benchmarks/RESULTS.md.

Measures, in one process:
- seconds per training epoch over all GDSC2 pairs with unique-entity batching, and pairs/s;
- pairs/s of naive per-pair batching (every pair carries its own copy of the drug graph,
  collated with ``Batch.from_data_list`` as per-pair graph loaders do) on the same model;
- seconds to predict the whole cell x drug matrix;
- peak resident memory of the unique-entity epoch and matrix prediction (measured before the
  naive run, whose per-pair graph copies need far more), and after it.

Usage: ``python benchmarks/bench_training.py [--dataset data/featurized/gdsc2] [--device cpu]``
"""

from __future__ import annotations

import argparse
import platform
import resource
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Batch

from drp.core.config import ModelConfig, TrainConfig
from drp.featurize.store import FeaturizedDataset
from drp.models.graphs import GraphSelection
from drp.models.model import PairBatch
from drp.models.registry import build_model
from drp.training.batching import EntityTensors, OmicsScaler, predict_indices

RESULTS = Path(__file__).with_name("RESULTS.md")


def peak_rss_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def train_step(model, optimizer, batch: PairBatch, target: torch.Tensor) -> None:
    loss = torch.nn.functional.mse_loss(model(batch).y, target)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", default="data/featurized/gdsc2")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size)
    parser.add_argument("--naive-batches", type=int, default=20)
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)

    ds = FeaturizedDataset.load(Path(args.dataset))
    raw = torch.from_numpy(ds.omics_matrix(["expression"]))
    tensors = EntityTensors.from_dataset(ds, ["expression"], OmicsScaler.fit(raw), device)
    config = ModelConfig()
    model = build_model(
        config,
        [raw.shape[1]],
        ds.graphs[0].x.shape[1],
        ds.graphs[0].edge_attr.shape[1],
        ds.fingerprints.shape[1],
    ).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cell_idx, drug_idx = ds.pair_indices(ds.pairs)
    y = torch.from_numpy(
        ((ds.pairs.ln_ic50 - ds.pairs.ln_ic50.mean()) / ds.pairs.ln_ic50.std()).to_numpy(np.float32)
    ).to(device)
    n, bs = len(ds.pairs), args.batch_size
    order = torch.randperm(n)
    c_all = torch.from_numpy(cell_idx).to(device)
    d_all = torch.from_numpy(drug_idx).to(device)

    # warm-up, then one full epoch of unique-entity batching
    model.train()
    train_step(model, optimizer, tensors.batch(c_all[:bs], d_all[:bs]), y[:bs])
    sync(device)
    start = time.perf_counter()
    for s in range(0, n, bs):
        rows = order[s : s + bs].to(device)
        train_step(model, optimizer, tensors.batch(c_all[rows], d_all[rows]), y[rows])
    sync(device)
    epoch_s = time.perf_counter() - start
    unique_pps = n / epoch_s

    # whole matrix
    n_c, n_d = len(ds.cells), len(ds.drugs)
    mc = np.repeat(np.arange(n_c), n_d)
    md = np.tile(np.arange(n_d), n_c)
    predict_indices(model, tensors, mc[:1024], md[:1024])
    start = time.perf_counter()
    predict_indices(model, tensors, mc, md)
    sync(device)
    matrix_s = time.perf_counter() - start

    train_peak_rss = peak_rss_gb()  # before the naive run, whose copies dominate memory

    # naive per-pair batching on the same model: each pair carries its own drug graph copy
    naive_pairs = 0
    start = time.perf_counter()
    for b in range(args.naive_batches):
        rows = order[b * bs : (b + 1) * bs]
        graphs = Batch.from_data_list([ds.graphs[int(d)] for d in drug_idx[rows.numpy()]])
        sel = GraphSelection(
            graphs.x.to(device),
            graphs.edge_index.to(device),
            graphs.edge_attr.to(device),
            graphs.batch.to(device),
            graphs.num_graphs,
        )
        rows_d = rows.to(device)
        ar = torch.arange(len(rows), device=device)
        batch = PairBatch(sel, tensors.omics[c_all[rows_d]], ar, ar)
        train_step(model, optimizer, batch, y[rows_d])
        naive_pairs += len(rows)
    sync(device)
    naive_pps = naive_pairs / (time.perf_counter() - start)

    figures = {
        "pairs": n,
        "batch_size": bs,
        "epoch_seconds": epoch_s,
        "unique_pairs_per_s": unique_pps,
        "naive_pairs_per_s": naive_pps,
        "speedup_vs_naive": unique_pps / naive_pps,
        "matrix": f"{n_c} x {n_d}",
        "matrix_seconds": matrix_s,
        "peak_rss_gb": train_peak_rss,
        "peak_rss_gb_with_naive": peak_rss_gb(),
    }
    if device.type == "cuda":
        figures["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 1024**3
    for key, value in figures.items():
        print(f"{key:>20}: {value:.3f}" if isinstance(value, float) else f"{key:>20}: {value}")
    write_results(figures, device)


def write_results(figures: dict, device: torch.device) -> None:
    commit = (
        subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
        or "unknown"
    )
    hw = (
        torch.cuda.get_device_name(0)
        if device.type == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    header = (
        "| date | commit | device | batch | epoch (s) | pairs/s | naive pairs/s | speed-up "
        "| matrix (s) | peak RSS (GB) | peak RSS incl. naive (GB) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    row = (
        f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {commit} | {device.type}: {hw} | "
        f"{figures['batch_size']} | {figures['epoch_seconds']:.1f} | "
        f"{figures['unique_pairs_per_s']:,.0f} | {figures['naive_pairs_per_s']:,.0f} | "
        f"{figures['speedup_vs_naive']:.1f}x | {figures['matrix_seconds']:.2f} | "
        f"{figures['peak_rss_gb']:.2f} | {figures['peak_rss_gb_with_naive']:.2f} |\n"
    )
    if not RESULTS.exists():
        RESULTS.write_text(
            "# Benchmarks\n\nWritten by `benchmarks/bench_training.py` on full GDSC2 "
            f"({figures['pairs']:,} pairs, default model). Epoch = one pass over all pairs "
            "with unique-entity batching; naive = per-pair graph copies collated with "
            "`Batch.from_data_list`, same model, same run. Targets on the 2-core CPU: epoch "
            "<= 10 s, >= 10x naive, matrix <= 5 s, peak RSS <= 3 GB.\n\n"
            "## Training speed and memory\n\n" + header
        )
    # the speed table is the first table: add the row after its last line
    lines = RESULTS.read_text().splitlines(keepends=True)
    last = max(i for i, line in enumerate(lines) if line.startswith("| 20"))
    lines.insert(last + 1, row)
    RESULTS.write_text("".join(lines))


if __name__ == "__main__":
    main()
