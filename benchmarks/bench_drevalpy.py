"""DrEvalPy's DrugGNN against drp on drp's drug-blind folds, scored on identical test pairs.

Three steps in two environments (DrEvalPy pins its own dependencies, so it gets its own venv):

``export`` (drp's environment) writes drp's featurized GDSC2 in DrEvalPy's custom-dataset
layout under ``data/drevalpy/<name>/``: ``gene_expression.csv`` (``cell_line_name`` index, the
expression drp reads), ``drug_smiles.csv`` (``pubchem_id``, ``canonical_smiles``: drp's drug
ids and standardised structures), ``<name>.csv`` (``cell_line_name``, ``pubchem_id``,
``LN_IC50``) and ``folds/s<seed>_f<fold>.csv`` (every pair with its part: train, val or test,
exactly drp's structure-grouped drug-blind folds).

``train`` (a venv with ``pip install drevalpy==1.6.0 rdkit``; drp is not imported) fits
DrugGNN per fold with its first hyper-parameter grid point (hidden 64, dropout 0.2, learning
rate 1e-3; all exported genes, no response transformation: DrEvalPy's defaults), its own graph
featurizer on the exported SMILES, early stopping on the validation part (its patience, 5)
and at most ``--epochs`` epochs; the test predictions go to ``runs/bench_drevalpy/``. A
finished fold is kept (resumable).

``score`` (drp's environment) scores DrugGNN, drp's default (the test predictions
`bench_new_drugs.py --save-predictions --label LABEL` kept) and the cell mean on the test pairs
all of them predicted, and writes a table to ``benchmarks/RESULTS.md``.

Usage::

    python benchmarks/bench_drevalpy.py export [--seeds 0 1]
    /path/to/drevalpy-venv/bin/python benchmarks/bench_drevalpy.py train --seed 0 [--epochs 5]
    python benchmarks/bench_drevalpy.py score --label descriptor-prior [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
LAYOUT = ROOT / "data" / "drevalpy"
RUNS = ROOT / "runs" / "bench_drevalpy"
RESULTS = Path(__file__).with_name("RESULTS.md")
SECTION = "## DrEvalPy's DrugGNN on drp's drug-blind folds"
NAME = "GDSC2_drp"
FOLDS = 5


def export(args: argparse.Namespace) -> None:
    """drp's featurized dataset and folds in DrEvalPy's custom-dataset layout."""
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.cache import load_or_make_folds

    ds = FeaturizedDataset.load(args.dataset)
    root = LAYOUT / NAME
    (root / "folds").mkdir(parents=True, exist_ok=True)
    expression = ds.omics["expression"].set_axis(ds.cells["cell_id"].to_numpy(), axis=0)
    expression = expression.fillna(expression.mean())
    expression.rename_axis("cell_line_name").to_csv(root / "gene_expression.csv")
    pd.DataFrame(
        {"pubchem_id": ds.drugs["drug_id"], "canonical_smiles": ds.drugs["smiles_standardised"]}
    ).to_csv(root / "drug_smiles.csv", index=False)
    pairs = ds.pairs.rename(
        columns={"cell_id": "cell_line_name", "drug_id": "pubchem_id", "ln_ic50": "LN_IC50"}
    )
    pairs[["cell_line_name", "pubchem_id", "LN_IC50"]].to_csv(root / f"{NAME}.csv", index=False)
    for seed in args.seeds:
        folds = load_or_make_folds(ds, "drug_blind", FOLDS, seed, args.dataset / "folds")
        for f, fold in enumerate(folds):
            parts = [
                frame[["cell_id", "drug_id", "ln_ic50"]].assign(part=name)
                for name, frame in zip(("train", "val", "test"), fold.frames(ds.pairs), strict=True)
            ]
            pd.concat(parts).to_csv(root / "folds" / f"s{seed}_f{f}.csv", index=False)
    print(f"exported {len(pairs):,} pairs, {len(expression)} cells, {len(ds.drugs)} drugs, "
          f"fold seeds {args.seeds} -> {root}")  # fmt: skip


def train(args: argparse.Namespace) -> None:
    """DrugGNN on every fold of ``args.seed`` (drevalpy's environment)."""
    import torch
    from drevalpy.datasets.dataset import DrugResponseDataset, FeatureDataset
    from drevalpy.datasets.featurizer.create_drug_graphs import _smiles_to_graph
    from drevalpy.models.DrugGNN.drug_gnn import DrugGNN
    from drevalpy.models.utils import load_and_select_gene_features

    torch.set_num_threads(args.threads)
    cells = load_and_select_gene_features("gene_expression", None, str(LAYOUT), NAME)
    smiles = pd.read_csv(LAYOUT / NAME / "drug_smiles.csv")
    graphs = {
        d: _smiles_to_graph(s)
        for d, s in zip(smiles.pubchem_id, smiles.canonical_smiles, strict=True)
    }
    missing = sorted(d for d, g in graphs.items() if g is None)
    if missing:
        print(f"DrEvalPy's featurizer made no graph for {len(missing)} drugs: {missing}")
    drugs = FeatureDataset({d: {"drug_graph": g} for d, g in graphs.items() if g is not None})
    RUNS.mkdir(parents=True, exist_ok=True)
    os.chdir(RUNS)  # Lightning writes its lightning_logs/ into the working directory
    for f in args.folds:
        out = RUNS / f"s{args.seed}_f{f}_epochs{args.epochs}.csv"
        if out.exists():
            continue
        table = pd.read_csv(LAYOUT / NAME / "folds" / f"s{args.seed}_f{f}.csv")
        table = table[
            table.drug_id.isin(drugs.features) & table.cell_id.astype(str).isin(cells.features)
        ]

        def part(name: str, t: pd.DataFrame = table) -> DrugResponseDataset:
            rows = t[t.part == name]
            return DrugResponseDataset(
                rows.ln_ic50.to_numpy(float), rows.cell_id.astype(str).to_numpy(),
                rows.drug_id.astype(str).to_numpy(), dataset_name=NAME,
            )  # fmt: skip

        model = DrugGNN()
        model.build_model(
            {"hidden_dim": 64, "dropout": 0.2, "learning_rate": 0.001, "epochs": args.epochs,
             "gene_list": None, "num_workers": 0}
        )  # fmt: skip
        start = time.perf_counter()
        model.train(part("train"), cells, drugs, output_earlystopping=part("val"))
        test = table[table.part == "test"]
        pred = model.predict(
            test.cell_id.astype(str).to_numpy(), test.drug_id.astype(str).to_numpy(), cells, drugs
        )
        test.assign(y_pred=pred)[["cell_id", "drug_id", "y_pred"]].to_csv(out, index=False)
        wall = time.perf_counter() - start
        print(json.dumps({"seed": args.seed, "fold": f, "wall_s": round(wall, 1),
                          "epochs_cap": args.epochs, "test_pairs": len(test)}), flush=True)  # fmt: skip


def score(args: argparse.Namespace) -> None:
    """DrugGNN, drp's default and the cell mean on the pairs all three predicted."""
    from drp.evaluation.metrics import metrics
    from drp.evaluation.scoring import fit_predict
    from drp.featurize.store import FeaturizedDataset
    from drp.models.baselines import BASELINES
    from drp.splits.cache import load_or_make_folds

    ds = FeaturizedDataset.load(args.dataset)
    saved = ROOT / "runs" / "bench_new_drugs" / "predictions"
    rows = []
    for seed in args.seeds:
        folds = load_or_make_folds(ds, "drug_blind", FOLDS, seed, args.dataset / "folds")
        for f in range(FOLDS):
            gnn_file = RUNS / f"s{seed}_f{f}_epochs{args.epochs}.csv"
            drp_file = saved / f"{args.label}_s{seed}_f{f}_{args.model}.parquet"
            if not gnn_file.exists() or not drp_file.exists():
                print(f"seed {seed} fold {f}: missing {gnn_file.name} or {drp_file.name}")
                continue
            train_part, val, test = folds[f].frames(ds.pairs)
            cell_mean = fit_predict(BASELINES["cell_mean"](), ds, train_part, val, test)
            keys = ["cell_id", "drug_id"]
            gnn = pd.read_csv(gnn_file, dtype={"cell_id": str, "drug_id": str})
            common = cell_mean[keys].merge(gnn[keys]).merge(pd.read_parquet(drp_file)[keys])
            for name, frame in (
                (
                    f"DrugGNN (≤ {args.epochs} epochs)",
                    gnn.merge(test, on=keys).rename(columns={"ln_ic50": "y_true"}),
                ),
                (f"drp {args.model} ({args.label})", pd.read_parquet(drp_file)),
                ("cell_mean", cell_mean),
            ):
                scored = common.merge(frame[[*keys, "y_true", "y_pred"]], on=keys)
                m = metrics(scored)
                rows.append({"seed": seed, "fold": f, "model": name, "pairs": len(scored),
                             "test_pairs": len(test), "n_train": len(train_part), **{k: m[k] for k in
                             ("rmse", "pearson", "per_drug_r", "per_cell_r")}})  # fmt: skip
    table = pd.DataFrame(rows)
    print(table.to_string())
    write_results(table, args)


def paired_line(table: pd.DataFrame, args: argparse.Namespace, stamp: str) -> str:
    """drp minus DrugGNN per (seed, fold), RMSE and per-drug r, with the Nadeau-Bengio corrected
    95% interval (the folds of one draw share training pairs) over every scored fold."""
    from drp.study.statistics import corrected_resampled_ttest

    wide = table.pivot_table(index=["seed", "fold"], columns="model", values=["rmse", "per_drug_r"])
    gnn, ours = f"DrugGNN (≤ {args.epochs} epochs)", f"drp {args.model} ({args.label})"
    cells = []
    for metric in ("rmse", "per_drug_r"):
        diff = (wide[(metric, ours)] - wide[(metric, gnn)]).to_numpy()
        _, _, lo, hi = corrected_resampled_ttest(
            diff, int(table.n_train.mean()), int(table.test_pairs.mean())
        )
        cells.append(f"{diff.mean():+.3f} [{lo:+.3f}, {hi:+.3f}]")
    seeds = ", ".join(str(s) for s in sorted(set(table.seed)))
    by_fold = wide[("rmse", ours)] - wide[("rmse", gnn)]
    return (
        f"| {stamp} | {seeds} | {ours} − DrugGNN, paired (corrected 95%) | {len(wide)} | "
        f"{int(table[table.model == ours].pairs.sum()):,} | {cells[0]} | – | {cells[1]} | – | "
        + " / ".join(f"{v:+.2f}" for v in by_fold)
        + " |"
    )


def write_results(table: pd.DataFrame, args: argparse.Namespace) -> None:
    import subprocess
    from datetime import UTC, datetime

    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
    ).stdout.strip()
    lines = []
    stamp = f"{datetime.now(UTC):%Y-%m-%d %H:%M} | {commit}"
    for (seed, model), part in table.groupby(["seed", "model"], sort=False):
        cells = [f"{part[c].mean():.3f} ± {part[c].std():.3f}" for c in ("rmse", "per_drug_r")]
        lines.append(
            f"| {datetime.now(UTC):%Y-%m-%d %H:%M} | {commit} | {seed} | {model} | {len(part)} | "
            f"{int(part.pairs.sum()):,} of {int(part.test_pairs.sum()):,} | {cells[0]} | "
            f"{part.pearson.mean():.3f} | {cells[1]} | {part.per_cell_r.mean():.3f} | "
            + " / ".join(f"{v:.2f}" for v in part.rmse)
            + " |"
        )
    if table.model.nunique() == 3 and len(table) >= 6:  # an interval needs two folds
        lines.append(paired_line(table, args, stamp))
    text = RESULTS.read_text()
    if SECTION not in text:
        text += (
            f"\n{SECTION}\n\nWritten by `benchmarks/bench_drevalpy.py`: DrEvalPy 1.6.0's DrugGNN "
            f"(first grid point, at most {args.epochs} epochs, early stopping on the validation "
            "part) trained on drp's structure-grouped drug-blind folds exported in DrEvalPy's "
            "custom-dataset layout, beside drp's default (label in the model column's run) and "
            "the cell mean, on the test pairs all three predicted; mean ± sd over folds.\n\n"
            "| date | commit | fold seed | model | folds | pairs scored | RMSE | Pearson | "
            "per-drug r | per-cell r | RMSE by fold |\n|---|---|---|---|---|---|---|---|---|---|---|\n"
        )
    head, _, tail = text.partition(SECTION)
    end = tail.find("\n\n", tail.find("|---"))
    end = len(tail) if end < 0 else end
    tail = tail[:end].rstrip("\n") + "\n" + "\n".join(lines) + tail[end:]
    RESULTS.write_text(head + SECTION + tail)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="step", required=True)
    for name in ("export", "train", "score"):
        step = sub.add_parser(name)
        step.add_argument("--dataset", type=Path, default=ROOT / "data" / "featurized" / "gdsc2")
        step.add_argument("--epochs", type=int, default=5)
        if name == "train":
            step.add_argument("--seed", type=int, default=0)
            step.add_argument("--folds", type=int, nargs="+", default=list(range(FOLDS)))
            step.add_argument("--threads", type=int, default=2)
        else:
            step.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
        if name == "score":
            step.add_argument("--label", default="defaults")
            step.add_argument("--model", default="gat_edge")
    args = parser.parse_args()
    {"export": export, "train": train, "score": score}[args.step](args)


if __name__ == "__main__":
    main()
