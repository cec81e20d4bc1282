"""Hyper-parameter search with Ray Tune and ASHA early stopping (``drp tune``).

Each trial trains one configuration on the *training part* of one fold and reports its
validation RMSE after every epoch; ASHA stops the weaker trials early. The fold's test pairs
are never read: the trial's dataset has their responses replaced by NaN, so any use of them
would show as a NaN metric. The best configuration is written as a TOML file that
``drp train --config`` and ``drp study --config`` accept, with a table of every trial.

Tune once per split kind and per variant with the same search space file and budget for every
twin, so that tuning cannot favour the attention variants.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import tomllib
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from drp.core.config import RunConfig, apply_overrides

DEFAULT_SPACE = Path(__file__).parents[1] / "configs" / "tune_space.toml"
DISTRIBUTIONS = ("loguniform", "uniform", "randint", "choice")
FIXED_KEYS = {"dataset", "split", "k", "fold", "seed", "fold_seed", "folds_dir", "epochs"}
"""Train keys a search may not vary: they define the question, not the model."""


@dataclass(frozen=True)
class SearchSpace:
    """A parsed search-space file: the ``[space]`` distributions and the ``[tune]`` budget."""

    space: dict[str, dict[str, list]]
    num_samples: int = 16
    max_epochs: int = 20
    grace_period: int = 3
    reduction_factor: int = 3
    seed: int = 0

    @classmethod
    def read(cls, path: Path) -> SearchSpace:
        """Parse and check a search-space TOML (see ``drp/configs/tune_space.toml``).

        Raises:
            ValueError: unreadable TOML, an unknown key or distribution, or a fixed key.
        """
        try:
            data = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ValueError(f"search space {path}: {exc}") from None
        unknown = sorted(set(data) - {"tune", "space"})
        budget = data.get("tune", {})
        if unknown or not isinstance(data.get("space"), dict) or not data["space"]:
            raise ValueError(f"search space {path} needs a [space] table (and optional [tune])")
        if not isinstance(budget, dict):
            raise ValueError(f"search space {path}: [tune] must be a table")
        bad = sorted(set(budget) - {"num_samples", "max_epochs", "grace_period",
                                     "reduction_factor", "seed"})  # fmt: skip
        if bad:
            raise ValueError(f"search space {path}: unknown [tune] key(s) {bad}")
        space = {}
        for key, spec in data["space"].items():
            section, _, name = key.partition(".")
            if section not in ("model", "train") or not name:
                raise ValueError(f"search space key {key!r} must be model.<key> or train.<key>")
            if section == "train" and name in FIXED_KEYS:
                raise ValueError(f"search space key {key!r} is fixed by the question, not tuned")
            space[key] = _checked_distribution(key, spec)
        for name, value in budget.items():
            if not isinstance(value, int) or isinstance(value, bool):
                raise ValueError(f"search space [tune] {name} = {value!r} must be an integer")
        result = cls(space, **budget)
        result.check()
        return result

    def check(self) -> None:
        """The values the space can draw must make valid configs (first, middle and last
        choices; both ends of ranges and a float inside them)."""
        for end in (0, -1, None):
            draw = {k: _end(spec, end) for k, spec in self.space.items()}
            RunConfig.from_dict(apply_overrides({"model": {}, "train": {}}, _overrides(draw)))
        if min(self.num_samples, self.max_epochs, self.grace_period) < 1:
            raise ValueError("[tune] num_samples, max_epochs and grace_period must be >= 1")
        if self.reduction_factor < 2:
            raise ValueError("[tune] reduction_factor must be >= 2 (ASHA keeps 1/factor)")

    def ray_space(self) -> dict[str, Any]:
        from ray import tune

        out = {}
        for key, spec in self.space.items():
            kind, values = next(iter(spec.items()))
            out[key] = tune.choice(values) if kind == "choice" else getattr(tune, kind)(*values)
        return out


def _checked_distribution(key: str, spec: Any) -> dict[str, list]:
    """``{kind: values}`` checked: one known kind; two ordered numbers for a range (low > 0
    for loguniform), at least one value for a choice."""
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise ValueError(f"search space {key!r}: give one of {list(DISTRIBUTIONS)}")
    kind, values = next(iter(spec.items()))
    if kind == "choice":
        if not isinstance(values, list) or not values:
            raise ValueError(f"search space {key!r}: choice needs a non-empty list")
        return spec
    numbers = isinstance(values, list) and all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in values
    )
    if not numbers or len(values) != 2 or not values[0] < values[1]:
        raise ValueError(f"search space {key!r}: {kind} needs [low, high] with low < high")
    if kind == "loguniform" and values[0] <= 0:
        raise ValueError(f"search space {key!r}: loguniform needs low > 0")
    return spec


def _end(spec: dict[str, list], end: int | None) -> Any:
    """A value the distribution can draw: its first (0) or last (-1) one, or (None) one from
    inside a range, a float for uniform and loguniform as Ray draws them."""
    kind, values = next(iter(spec.items()))
    if end is None:
        if kind == "choice":
            return values[len(values) // 2]
        middle = (values[0] + values[1]) / 2
        return int(middle) if kind == "randint" else float(middle) + 1e-3
    if kind == "randint":
        return values[0] if end == 0 else values[1] - 1
    return values[end]


def _overrides(params: dict[str, Any]) -> list[str]:
    return [f"{k}={v}" for k, v in params.items()]


def tuned_config(base: RunConfig, params: dict[str, Any]) -> RunConfig:
    """``base`` with a trial's ``{"section.key": value}`` parameters applied."""
    data = base.to_dict()
    data["model"].pop("name", None)
    return RunConfig.from_dict(apply_overrides(data, _overrides(params)))


def blind_test(ds, fold):
    """A view of ``ds`` whose test pairs' responses are NaN: a trial cannot read them."""
    pairs = ds.pairs.copy()
    pairs.loc[pairs.index[fold.test], "ln_ic50"] = np.nan
    return replace(ds, pairs=pairs)


def run_trial(params: dict[str, Any], context: dict[str, Any]) -> None:
    """One Ray Tune trial: train on the fold's training part, report validation RMSE per
    epoch (``val_rmse``, ``epoch``)."""
    from ray import tune

    from drp.featurize.store import FeaturizedDataset
    from drp.splits.cache import load_or_make_folds
    from drp.training.loop import FoldIndices, Trainer

    cfg = tuned_config(RunConfig.from_dict(context["base"]), params)
    tc = cfg.train
    ds = FeaturizedDataset.load(Path(tc.dataset))
    fold = load_or_make_folds(
        ds, tc.split, tc.k, tc.effective_fold_seed, Path(context["folds_dir"])
    )[tc.fold]
    blind = blind_test(ds, fold)
    run_dir = Path(tempfile.mkdtemp(prefix="drp-trial-"))
    try:
        part = FoldIndices(fold.train, fold.val, np.empty(0, dtype=np.int64))
        trainer = Trainer(
            cfg,
            blind,
            part,
            run_dir,
            on_epoch=lambda row: tune.report({"val_rmse": row["val_rmse"], "epoch": row["epoch"]}),
        )
        trainer.fit()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)


def tune_search(
    base: RunConfig,
    space: SearchSpace,
    out: Path,
    *,
    variant: str,
    num_samples: int | None = None,
    address: str | None = None,
    cpus_per_trial: float = 1.0,
    gpus_per_trial: float = 0.0,
    num_cpus: int | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Run the search and write ``best.toml``, ``trials.csv`` and ``tune.json`` to ``out``.

    Args:
        base: the config every trial starts from (dataset, split, fold, variant's model).
        space: distributions and budget (``num_samples`` overrides the file's).
        variant: the model's name, recorded in the outputs.
        address: as :class:`drp.core.executors.RayExecutor` (None: a local Ray instance).

    Returns:
        The ``tune.json`` record (best parameters, best validation RMSE, trials).
    """
    from drp.core.executors import import_ray, ray_session

    import_ray()  # a clear error before the Ray Tune imports when Ray is missing
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.basic_variant import BasicVariantGenerator

    from drp.core.provenance import git_commit, hardware
    from drp.splits.run_folds import folds_dir

    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    tc = replace(base.train, epochs=space.max_epochs, patience=space.max_epochs)
    base = replace(base, train=replace(tc, dataset=str(Path(tc.dataset).resolve())))
    context = {"base": base.to_dict(), "folds_dir": str(folds_dir(base).resolve())}
    n = num_samples or space.num_samples
    with ray_session(address, num_cpus):
        trainable = tune.with_resources(
            tune.with_parameters(run_trial, context=context),
            {"cpu": cpus_per_trial, "gpu": gpus_per_trial},
        )
        tuner = tune.Tuner(
            trainable,
            param_space=space.ray_space(),
            tune_config=tune.TuneConfig(
                metric="val_rmse",
                mode="min",
                num_samples=n,
                scheduler=ASHAScheduler(
                    time_attr="training_iteration",
                    max_t=space.max_epochs,
                    grace_period=min(space.grace_period, space.max_epochs),
                    reduction_factor=space.reduction_factor,
                ),
                search_alg=BasicVariantGenerator(random_state=space.seed),
            ),
            run_config=tune.RunConfig(name="trials", storage_path=str(out / "ray"), verbose=0),
        )
        grid = tuner.fit()
    rows = []
    for i, result in enumerate(grid):
        history = result.metrics_dataframe
        if result.error is not None or history is None or history.empty:
            rows.append(
                {"trial": i, "val_rmse": float("nan"), "epochs": 0, "error": str(result.error)}
            )
            continue
        best = history.loc[history["val_rmse"].idxmin()]
        rows.append(
            {
                "trial": i,
                **{k: result.config[k] for k in space.space},
                "val_rmse": float(best["val_rmse"]),
                "best_epoch": int(best["epoch"]),
                "epochs": int(history["epoch"].max()),
                "stopped_early": int(history["epoch"].max()) < space.max_epochs,
                "error": "",
            }
        )
    import pandas as pd

    trials = pd.DataFrame(rows).sort_values("val_rmse", na_position="last")
    trials.to_csv(out / "trials.csv", index=False)
    if trials["val_rmse"].isna().all():
        raise RuntimeError(f"every trial failed; see {out / 'trials.csv'}")
    top = trials.iloc[0]
    params = {k: _plain(top[k]) for k in space.space}
    record = {
        "variant": variant,
        "split": base.train.split,
        "fold": base.train.fold,
        "fold_seed": base.train.effective_fold_seed,
        "best_val_rmse": float(top["val_rmse"]),
        "best_params": params,
        "trials": len(trials),
        "trials_failed": int(trials["val_rmse"].isna().sum()),
        "trials_stopped_early": int(trials["stopped_early"].fillna(False).sum()),
        "budget": {
            "num_samples": n,
            "max_epochs": space.max_epochs,
            "grace_period": space.grace_period,
            "reduction_factor": space.reduction_factor,
            "seed": space.seed,
        },  # fmt: skip
        "space": space.space,
        "scored_on": "validation pairs of the fold's training part (test pairs never read)",
        "commit": git_commit(),
        "hardware": hardware(),
        "command": command,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    (out / "tune.json").write_text(json.dumps(record, indent=2, default=str))
    (out / "best.toml").write_text(best_toml(params, record))
    return record


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def best_toml(params: dict[str, Any], record: dict[str, Any]) -> str:
    """The tuned keys as a ``[model]``/``[train]`` TOML, with where they came from."""
    lines = [
        f"# drp tune: best of {record['trials']} trials for {record['variant']} on "
        f"{record['split']} fold {record['fold']} (validation RMSE "
        f"{record['best_val_rmse']:.4f}; commit {record['commit']}, {record['created']})",
        "# use: drp train --config best.toml  |  drp study --config best.toml",
    ]
    for section in ("model", "train"):
        keys = {k.split(".", 1)[1]: v for k, v in params.items() if k.startswith(section + ".")}
        if keys:
            lines += ["", f"[{section}]"]
            lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    return "\n".join(lines) + "\n"
