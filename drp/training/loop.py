"""Training loop: unique-entity batching, AdamW + warmup/cosine, clipping, early stopping on a
validation set drawn from the training pairs only, atomic checkpoints and resume.

A run directory holds::

    config.json            resolved config, data checksums, git commit, seed, hardware, date
    history.csv            epoch, train_loss, val_rmse, val_within_drug_rmse, lr, seconds
                           (also metrics.jsonl)
    best.pt / last.pt      checkpoints {hyper_parameters, state_dict, optimizer, ...}
    predictions_val.parquet, predictions_test.parquet   cell_id, drug_id, y_true, y_pred

``config.json`` is written by :func:`drp.training.run_record.write_run_config`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from drp.core.config import RunConfig
from drp.core.device import autocast, choose_bf16, resolve_device
from drp.core.files import atomic_write, atomic_write_text
from drp.featurize.store import FeaturizedDataset
from drp.models.model import PairBatch, check_architecture
from drp.models.registry import build_model
from drp.splits.fold import Fold
from drp.training.batching import EntityTensors, OmicsScaler, predict_indices
from drp.training.intervals import write_calibration


@dataclass
class FoldIndices:
    """Row indices into ``dataset.pairs``: [n_train], [n_val], [n_test].

    A hand-made fold; :class:`drp.splits.folds.Fold` (same fields) is accepted wherever this is.
    """

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray

    def frames(self, pairs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """``(train, val, test)`` rows of ``pairs``, in index order."""
        return tuple(
            pairs.iloc[rows].reset_index(drop=True) for rows in (self.train, self.val, self.test)
        )


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed every generator (CPU and CUDA) and, with ``deterministic``, ask torch for
    deterministic kernels.

    With two or more CPU threads, the accumulating index/scatter kernels of the backward pass
    (e.g. ``index_put_`` behind ``z_cell[pair_cell]``) otherwise sum in a varying order: two
    GDSC2 runs of one seed differed by 0.19 validation RMSE after one epoch. On the 2-core CPU
    deterministic kernels cost ~4% of an epoch (benchmarks/RESULTS.md). CUDA's atomic scatters
    vary the same way (two seeded fixture runs on an H200 differed), so CUDA gets them too, with
    the cuBLAS workspace setting they need (``CUBLAS_WORKSPACE_CONFIG``, set here unless the
    user set it; it takes effect if cuBLAS has not started yet). The switch is process-wide.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # seeds every CUDA device too
    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)


def _save_checkpoint(state: dict, path: Path) -> None:
    atomic_write(path, lambda p: torch.save(state, p))


def _save_table(frame: pd.DataFrame, path: Path) -> None:
    atomic_write(path, lambda p: frame.to_csv(p, index=False))


def _append_line(path: Path, line: str) -> None:
    """Append ``line`` to a text file atomically: the file is rewritten whole under a
    temporary name, so a crash leaves the old lines or all of them, never a torn last line."""
    old = path.read_text() if path.exists() else ""
    atomic_write_text(path, old + line + "\n")


def _lr_lambda(warmup_steps: int, total_steps: int) -> Callable[[int], float]:
    def schedule(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return schedule


def within_drug_mse(residual: torch.Tensor, drug: torch.Tensor, n_drugs: int) -> torch.Tensor:
    """Mean squared residual [B] after each drug's mean residual in the batch is removed
    (``drug`` [B]: the pair's drug position, < ``n_drugs``): the error of the cell-to-cell
    pattern, blind to the drug's level."""
    total = torch.zeros(n_drugs, device=residual.device).index_add(0, drug, residual)
    count = torch.zeros(n_drugs, device=residual.device).index_add(
        0, drug, torch.ones_like(residual)
    )
    centred = residual - (total / count.clamp(min=1))[drug]
    return centred.pow(2).mean()


def within_drug_rmse(residual: np.ndarray, drug: np.ndarray) -> float:
    """RMSE of residuals [N] after each drug's (``drug`` [N]) mean residual is removed; NaN
    when there are none."""
    if len(residual) == 0:
        return float("nan")
    means = pd.Series(residual).groupby(drug).transform("mean").to_numpy()
    return float(np.sqrt(np.mean((residual - means) ** 2)))


class Trainer:
    """Fit one model on one fold; everything needed to resume lives in the run directory."""

    def __init__(
        self,
        config: RunConfig,
        ds: FeaturizedDataset,
        fold: FoldIndices | Fold,
        run_dir: Path,
        on_epoch: Callable[[dict], None] | None = None,
    ) -> None:
        self.config, self.ds, self.fold, self.run_dir = config, ds, fold, Path(run_dir)
        self.on_epoch = on_epoch
        tc = config.train
        self.device = resolve_device(tc.device)
        seed_everything(tc.seed)
        cell_idx, drug_idx = ds.pair_indices(ds.pairs)
        self.cell_idx, self.drug_idx = cell_idx, drug_idx
        self.y = ds.pairs["ln_ic50"].to_numpy(np.float32)
        # scalers and target normalisation: training pairs only
        train_cells = np.unique(cell_idx[fold.train])
        raw = torch.from_numpy(ds.omics_matrix(list(tc.omics)))
        self.scaler = OmicsScaler.fit(raw[train_cells])
        self.target_mean = float(self.y[fold.train].mean())
        self.target_std = float(self.y[fold.train].std())
        self.tensors = EntityTensors.from_dataset(ds, list(tc.omics), self.scaler, self.device)
        self._entity_steps(cell_idx[fold.train], drug_idx[fold.train])
        widths = [ds.omics[n].shape[1] for n in tc.omics]
        atom_dim = ds.graphs[0].x.shape[1]
        bond_dim = ds.graphs[0].edge_attr.shape[1]
        self.model = build_model(
            config.model, widths, atom_dim, bond_dim, ds.fingerprints.shape[1]
        ).to(self.device)
        self.optimizer = torch.optim.AdamW(
            self.model.parameters(),
            lr=tc.lr,
            betas=(0.9, tc.adam_beta2),
            weight_decay=tc.weight_decay,
        )
        steps = self.steps_per_epoch()
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, _lr_lambda(tc.warmup_epochs * steps, tc.epochs * steps)
        )
        self.generator = torch.Generator().manual_seed(tc.seed)
        self.epoch, self.best_rmse, self.best_epoch, self.bad_epochs = 0, math.inf, -1, 0
        self.history: list[dict] = []
        model_digest = hashlib.sha256(repr(dataclasses.astuple(config.model)).encode())
        workload = f"model {model_digest.hexdigest()[:8]}, batch {tc.batch_size}"
        self.bf16, self.precision = choose_bf16(
            self.device, tc.precision, self._time_step, workload
        )

    def _time_step(self, bf16: bool, repeats: int = 3) -> float:
        """Median seconds of a forward and backward pass on one training batch (after a
        warm-up), for the precision probe; weights, gradients and random state are left as they
        were."""
        rows = self.fold.train[: self.config.train.batch_size]
        batch = PairBatch(
            self.step_drugs,
            self.step_cells,
            torch.from_numpy(self.drug_pos[self.drug_idx[rows]]).to(self.device),
            torch.from_numpy(self.cell_pos[self.cell_idx[rows]]).to(self.device),
        )
        rng = torch.get_rng_state()
        times = []
        for i in range(repeats + 1):
            start = time.perf_counter()
            with autocast(self.device, bf16):
                out = self.model(batch)
            out.y.float().square().mean().backward()
            if i:
                times.append(time.perf_counter() - start)
        self.optimizer.zero_grad(set_to_none=True)
        torch.set_rng_state(rng)
        return float(np.median(times))

    def _entity_steps(self, train_cells: np.ndarray, train_drugs: np.ndarray) -> None:
        """Fix the entities that every training step encodes: all training cells and drugs.

        A random batch of 4,096 GDSC2 pairs already holds ~900 of the ~920 cells and all
        drugs, so encoding every training entity costs nothing extra, saves the per-step
        ``unique`` and graph gathering, and gives every step the same shapes. An entity absent
        from a batch gets no gradient, as before.
        """
        cells, drugs = np.unique(train_cells), np.unique(train_drugs)
        self.cell_pos = np.full(self.tensors.omics.shape[0], -1, np.int64)
        self.cell_pos[cells] = np.arange(len(cells))
        self.drug_pos = np.full(self.tensors.fingerprints.shape[0], -1, np.int64)
        self.drug_pos[drugs] = np.arange(len(drugs))
        self.n_step_drugs = len(drugs)
        t = self.tensors
        index = torch.from_numpy(drugs).to(self.device)
        self.step_cells = t.omics[torch.from_numpy(cells).to(self.device)]
        self.step_drugs = (
            t.fingerprints[index]
            if self.config.model.drug == "fingerprint"
            else t.graphs.select(index)
        )

    # ---- checkpoints -------------------------------------------------------------------
    def _state(self) -> dict:
        return {
            "hyper_parameters": self.model.hyper_parameters,
            "state_dict": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "epoch": self.epoch,
            "best_rmse": self.best_rmse,
            "best_epoch": self.best_epoch,
            "bad_epochs": self.bad_epochs,
            "history": self.history,
            "generator": self.generator.get_state(),
            "bf16": self.bf16,  # a resumed run keeps its precision whatever a probe says now
            "torch_rng": torch.get_rng_state(),
            # dropout on CUDA draws from the device's generator, not the CPU one
            "cuda_rng": torch.cuda.get_rng_state_all() if self.device.type == "cuda" else [],
            "scaler_mean": self.scaler.mean,
            "scaler_scale": self.scaler.scale,
            "target_mean": self.target_mean,
            "target_std": self.target_std,
            "omics": list(self.config.train.omics),
            # feature names, so another dataset's omics can be aligned to them at predict time
            "omics_features": {
                n: [str(c) for c in self.ds.omics[n].columns] for n in self.config.train.omics
            },
        }

    def resume(self) -> bool:
        """Continue from ``last.pt`` if present; returns whether a checkpoint was loaded."""
        path = self.run_dir / "last.pt"
        if not path.exists():
            return False
        # generator states must stay CPU byte tensors; load_state_dict moves weights and
        # optimiser moments to the model's device
        state = torch.load(path, weights_only=True, map_location="cpu")
        check_architecture(state["hyper_parameters"], path)
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.epoch, self.best_rmse = state["epoch"], state["best_rmse"]
        self.best_epoch, self.bad_epochs = state["best_epoch"], state["bad_epochs"]
        self.history = list(state["history"])
        if "bf16" in state and bool(state["bf16"]) != self.bf16:
            self.bf16 = bool(state["bf16"])
            self.precision = self.precision | {
                "precision": "bf16" if self.bf16 else "fp32",
                "chosen_by": "resumed run",
            }
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if self.device.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        return True

    # ---- loop --------------------------------------------------------------------------
    def _batches(self) -> list[np.ndarray]:
        """One epoch's batches of training pair rows: random pairs, ``batch_size`` at a time."""
        tc = self.config.train
        train = self.fold.train
        order = train[torch.randperm(len(train), generator=self.generator).numpy()]
        return [order[i : i + tc.batch_size] for i in range(0, len(order), tc.batch_size)]

    def steps_per_epoch(self) -> int:
        """Optimiser steps in one epoch (fixes the learning-rate schedule's length)."""
        return math.ceil(len(self.fold.train) / self.config.train.batch_size)

    def _train_epoch(self) -> float:
        self.model.train()
        tc = self.config.train
        y_norm = (self.y - self.target_mean) / self.target_std
        total, count = 0.0, 0
        for rows in self._batches():
            pair_cell = torch.from_numpy(self.cell_pos[self.cell_idx[rows]]).to(self.device)
            pair_drug = torch.from_numpy(self.drug_pos[self.drug_idx[rows]]).to(self.device)
            target = torch.from_numpy(y_norm[rows]).to(self.device)
            batch = PairBatch(self.step_drugs, self.step_cells, pair_drug, pair_cell)
            with autocast(self.device, self.bf16):
                out = self.model(batch)
            loss = torch.nn.functional.mse_loss(out.y.float(), target)
            if tc.within_drug_weight > 0:
                loss = loss + tc.within_drug_weight * within_drug_mse(
                    out.y.float() - target, pair_drug, self.n_step_drugs
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), tc.grad_clip)
            self.optimizer.step()
            self.scheduler.step()
            total += loss.item() * len(rows)
            count += len(rows)
        return total / max(count, 1)

    def predict_rows(self, rows: np.ndarray) -> np.ndarray:
        """ln IC50 predictions for pair rows [R]."""
        pred = predict_indices(self.model, self.tensors, self.cell_idx[rows], self.drug_idx[rows])
        return pred * self.target_std + self.target_mean

    def fit(self) -> dict:
        tc = self.config.train
        self.run_dir.mkdir(parents=True, exist_ok=True)
        while self.epoch < tc.epochs and self.bad_epochs < tc.patience:
            start = time.perf_counter()
            train_loss = self._train_epoch()
            val_pred = self.predict_rows(self.fold.val)
            residual = val_pred - self.y[self.fold.val]
            val_rmse = float(np.sqrt(np.mean(residual**2)))
            within = within_drug_rmse(residual, self.drug_idx[self.fold.val])
            score = within if tc.stop_criterion == "within_drug_rmse" else val_rmse
            self.epoch += 1
            improved = score < self.best_rmse - 1e-4
            if improved:
                self.best_rmse, self.best_epoch, self.bad_epochs = score, self.epoch, 0
            else:
                self.bad_epochs += 1
            row = {
                "epoch": self.epoch,
                "train_loss": train_loss,
                "val_rmse": val_rmse,
                "val_within_drug_rmse": within,
                "lr": self.scheduler.get_last_lr()[0],
                "seconds": time.perf_counter() - start,
            }
            self.history.append(row)
            state = self._state()
            if improved:
                _save_checkpoint(state, self.run_dir / "best.pt")
            _save_checkpoint(state, self.run_dir / "last.pt")
            _save_table(pd.DataFrame(self.history), self.run_dir / "history.csv")
            _append_line(self.run_dir / "metrics.jsonl", json.dumps(row))
            if self.on_epoch:
                self.on_epoch(row)
        best = torch.load(self.run_dir / "best.pt", weights_only=True, map_location=self.device)
        self.model.load_state_dict(best["state_dict"])
        for name, rows in (("val", self.fold.val), ("test", self.fold.test)):
            if len(rows) == 0:  # the estimator trains on train + val and predicts test itself
                continue
            frame = self.ds.pairs.iloc[rows][["cell_id", "drug_id"]].reset_index(drop=True)
            frame["y_true"] = self.y[rows]
            frame["y_pred"] = self.predict_rows(rows)
            atomic_write(
                self.run_dir / f"predictions_{name}.parquet",
                lambda p, f=frame: f.to_parquet(p, index=False),
            )
            if name == "val":
                write_calibration(self.run_dir, frame, self.config.train.split)
        at_best = next((r for r in self.history if r["epoch"] == self.best_epoch), {})
        summary = {
            "best_epoch": self.best_epoch,
            "best_val_rmse": at_best.get("val_rmse", self.best_rmse),
            "stop_on": self.config.train.stop_criterion,
            "epochs_run": self.epoch,
            "train_seconds": sum(row["seconds"] for row in self.history),
            "precision": "bf16" if self.bf16 else "fp32",
            "precision_choice": self.precision,
        }
        atomic_write_text(self.run_dir / "summary.json", json.dumps(summary, indent=2))
        return summary
