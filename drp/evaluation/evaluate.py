"""``drp evaluate`` as one function: score runs and baselines on identical folds (within a
dataset or across datasets) and gather the provenance ``metrics.json`` records."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from drp.core.choices import CROSS, SPLITS
from drp.core.paths import DATA_DIR, dataset_path
from drp.models.baselines import DEFAULT_BASELINES

if TYPE_CHECKING:
    import pandas as pd

    from drp.featurize.store import FeaturizedDataset


@dataclass
class Evaluation:
    """What ``drp evaluate`` scored: metric rows and what ``metrics.json`` records beside them.

    Attributes:
        table: one row per model x fold x subset (``metrics.csv``).
        dataset: the training dataset's directory.
        split_name: the split (``cross_dataset_<target>`` across datasets), for default paths.
        provenance: noise ceiling, data checksums, commit, machine, date, command (and the
            cross-dataset counts).
    """

    table: pd.DataFrame
    dataset: Path
    split_name: str
    provenance: dict[str, Any]

    @property
    def summary(self) -> pd.DataFrame:
        """Mean and sd over folds per model and subset (``metrics_summary.csv``)."""
        from drp.evaluation.tables import summarise

        return summarise(self.table)

    @property
    def ceiling(self) -> dict[str, float] | None:
        """The replicate noise ceiling of the test pairs (None without replicates)."""
        return self.provenance.get("noise_ceiling")

    def default_out(self) -> Path:
        """``reports/evaluate/<dataset>_<split>``."""
        return Path("reports") / "evaluate" / f"{self.dataset.name}_{self.split_name}"

    def describe(self, out: Path) -> str:
        """Where :meth:`write` put the tables (``out``), in one line."""
        return (
            f"{self.table['model'].nunique()} models: per fold in {out / 'metrics.csv'}, the "
            f"table in {out / 'metrics_summary.csv'}, both with provenance in "
            f"{out / 'metrics.json'}"
        )

    def write(self, out: str | Path | None = None) -> Path:
        """``metrics.csv``, ``metrics_summary.csv`` and ``metrics.json`` in ``out`` (default
        :meth:`default_out`); returns the directory."""
        from drp.evaluation.tables import write_metrics

        path = Path(out) if out is not None else self.default_out()
        write_metrics(self.table, path, extra=self.provenance)
        return path


def evaluation(
    runs: Sequence[str | Path] = (),
    baselines: Sequence[str] | None = DEFAULT_BASELINES,
    *,
    split: str | None = None,
    target: str | Path | None = None,
    dataset: str | Path | None = None,
    data_dir: Path = DATA_DIR,
    k: int | None = None,
    fold_seed: int | None = None,
    cache_dir: Path | None = None,
    n_boot: int = 0,
    ensemble: bool = False,
    log: Callable[[str], None] | None = None,
    command: str = "drp.evaluate (Python API)",
) -> Evaluation:
    """Score runs and baselines on identical folds, as ``drp evaluate`` does.

    Args:
        runs: run directories (``config.json`` + ``predictions_test.parquet``).
        baselines: baseline names (``drp.models.baselines.BASELINES``); empty or None: none.
        split: the split; with runs it is theirs (another value is an error); without runs
            it is required. ``cross_dataset`` scores on ``target``.
        target: the test dataset of a cross-dataset split (``gdsc1``, ``ccle``, a path).
        dataset: training dataset (default the runs', else ``gdsc2``).
        data_dir: where raw and processed data live.
        k, fold_seed: folds and their seed without runs (default 5 and 0); with runs, theirs.
        cache_dir: fold cache without runs (default ``<dataset>/folds``).
        n_boot: bootstrap resamples for 95% CIs over the split's unit (0: none).
        ensemble: also score, per fold, the mean prediction of the runs that share model and
            fold (a seed ensemble: ``drp train --seed N --fold-seed 0``).
        log: progress messages.
        command: what the provenance records as the command.

    Raises:
        ValueError: nothing to evaluate, a missing split, or runs that disagree.
        FileNotFoundError: a dataset or a run's file is missing.
    """
    import pandas as pd

    from drp.evaluation.baseline_runs import check_baselines, run_baselines
    from drp.evaluation.cross_dataset import evaluate_cross_dataset
    from drp.evaluation.run_dirs import runs_setting
    from drp.evaluation.runs import evaluate_runs, evaluate_with_baselines
    from drp.featurize.store import FeaturizedDataset

    run_dirs = [Path(r) for r in runs]
    names = check_baselines(baselines) if baselines else []
    if not run_dirs and not names:
        raise ValueError("nothing to evaluate: give run directories and/or baselines")
    if n_boot < 0:
        raise ValueError(f"--n-boot must be >= 0 (0: no CIs), got {n_boot}")
    if k is not None and k < 2:
        raise ValueError(f"--k must be >= 2 (each fold is tested once), got {k}")
    if split == CROSS and target is None:
        raise ValueError(f"split {CROSS} needs a target dataset (e.g. gdsc1 or ccle)")
    if target is not None and split != CROSS:
        raise ValueError(f"--target is only for --split {CROSS}")
    if ensemble and (split == CROSS or not run_dirs):
        raise ValueError("ensemble scoring needs runs of a within-dataset split")
    if not run_dirs and split is None:
        raise ValueError(
            f"--split is required without runs (one of {', '.join(SPLITS)} or {CROSS}); "
            "`drp train` uses mixed"
        )
    given = None if dataset is None else dataset_path(dataset, data_dir)
    extra: dict[str, Any] = {}
    ceiling_ds = None  # whose replicates bound the test pairs: the target's across datasets
    if split == CROSS:
        if run_dirs:
            setting = runs_setting(run_dirs, dataset=given, keys=("dataset",))
            path = dataset_path(setting.dataset, data_dir)
        else:
            path = given or dataset_path("gdsc2", data_dir)
        ds = FeaturizedDataset.load(path)
        ceiling_ds = FeaturizedDataset.load(dataset_path(target, data_dir))
        table, cross = evaluate_cross_dataset(
            ds, ceiling_ds, run_dirs, names, seed=fold_seed, n_boot=n_boot, log=log, dataset=path
        )
        split_name = f"{CROSS}_{Path(str(target)).name}"
        extra["cross_dataset"] = {
            "source": cross.source,
            "target": cross.target,
            "counts": cross.counts(),
            "dropped": cross.dropped,
            "drugs_matched": len(cross.drug_map),
        }
    elif run_dirs and names:
        table, setting = evaluate_with_baselines(
            run_dirs,
            names,
            split=split,
            k=k,
            fold_seed=fold_seed,
            dataset=given,
            n_boot=n_boot,
            ensemble=ensemble,
            log=log,
        )
        path, split_name = setting.dataset, setting.split
        ds = FeaturizedDataset.load(path)
    elif run_dirs:
        if split is not None or k is not None or fold_seed is not None or given is not None:
            runs_setting(run_dirs, split=split, k=k, fold_seed=fold_seed, dataset=given)
        table = evaluate_runs(run_dirs, n_boot=n_boot, ensemble=ensemble)
        path = runs_setting(run_dirs[:1]).dataset
        split_name = "_".join(sorted(set(table["split"].astype(str))))
        ds = FeaturizedDataset.load(path) if path.exists() else None
    else:
        path = given or dataset_path("gdsc2", data_dir)
        ds = FeaturizedDataset.load(path)
        table = run_baselines(
            ds,
            split,
            k or 5,
            fold_seed or 0,
            cache_dir or path / "folds",
            names,
            n_boot=n_boot,
            log=log,
            dataset_path=path,
        )
        split_name = split
    provenance = _evaluation_provenance(ds, Path(path), ceiling_ds or ds, command) | extra
    return Evaluation(pd.DataFrame(table), Path(path), str(split_name), provenance)


def _evaluation_provenance(
    ds: FeaturizedDataset | None, path: Path, ceiling_ds: FeaturizedDataset | None, command: str
) -> dict[str, Any]:
    """The noise ceiling, data checksums, commit, machine and date beside the metrics."""
    from datetime import UTC, datetime

    from drp.core.provenance import git_commit, hardware
    from drp.evaluation.metrics import noise_ceiling

    return {
        "noise_ceiling": None if ceiling_ds is None else noise_ceiling(ceiling_ds.replicates),
        "dataset": str(path),
        "data_files": ds.manifest.get("files", {}) if ds is not None else {},
        "git_commit": git_commit(),
        "hardware": hardware(),
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
