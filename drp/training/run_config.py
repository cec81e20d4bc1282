"""The config a training run uses: a base config, a named variant and keyword overrides,
validated; and the run directory it is written to by default."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from drp.core.config import RunConfig, apply_overrides, load_config
from drp.core.paths import DATA_DIR, dataset_path


def _as_config(config: RunConfig | dict | str | Path | None, overrides: Sequence[str]) -> RunConfig:
    """A validated RunConfig from a RunConfig, a ``{"model": ..., "train": ...}`` dict or a
    TOML path (None: the defaults), with ``section.key=value`` ``overrides`` applied."""
    if config is None or isinstance(config, str | Path):
        return load_config(None if config is None else Path(config), list(overrides))
    data = config.to_dict() if isinstance(config, RunConfig) else config
    unknown = sorted(set(data) - {"model", "train"})
    if unknown:
        raise ValueError(f"unknown config section(s) {unknown}; use 'model' and 'train'")
    sections = {s: dict(data.get(s, {})) for s in ("model", "train")}
    return RunConfig.from_dict(apply_overrides(sections, list(overrides)))


def training_config(
    config: RunConfig | dict | str | Path | None = None,
    *,
    overrides: Sequence[str] = (),
    variant: str | None = None,
    dataset: str | Path | None = None,
    data_dir: Path = DATA_DIR,
    split: str | None = None,
    fold: int | None = None,
    seed: int | None = None,
    epochs: int | None = None,
    device: str | None = None,
    fold_seed: int | None = None,
) -> tuple[RunConfig, str]:
    """The config ``drp train`` would use, and the run's model name.

    ``variant`` replaces the model section by a named variant; the keyword arguments that are
    not None override ``[train]``. The name is the variant, else ``DEFAULT_VARIANT``
    when the model is that variant's, else ``custom``.

    Raises:
        ValueError: invalid config or unknown variant.
        FileNotFoundError: the dataset is not featurized.
    """
    from drp.models.registry import DEFAULT_VARIANT, variant_config

    cfg = _as_config(config, overrides)
    if variant:
        cfg = replace(cfg, model=variant_config(variant, cfg.model))
    updates = {
        k: v
        for k, v in {
            "split": split,
            "fold": fold,
            "seed": seed,
            "fold_seed": fold_seed,
            "epochs": epochs,
            "device": device,
        }.items()
        if v is not None
    }
    if dataset:
        updates["dataset"] = str(dataset_path(dataset, data_dir))
    cfg = replace(cfg, train=replace(cfg.train, **updates)).validate()
    dataset_path(cfg.train.dataset, data_dir)
    name = variant or (
        DEFAULT_VARIANT if cfg.model == variant_config(DEFAULT_VARIANT) else "custom"
    )
    return cfg, name


def default_run_dir(config: RunConfig, name: str) -> Path:
    """``runs/<name>_<split>_f<fold>_s<seed>``, with ``_fs<fold_seed>`` when the folds were
    drawn with another seed than the training's."""
    tc = config.train
    draw = "" if tc.effective_fold_seed == tc.seed else f"_fs{tc.effective_fold_seed}"
    return Path("runs") / f"{name}_{tc.split}_f{tc.fold}_s{tc.seed}{draw}"
