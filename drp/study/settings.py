"""A study's settings: ``study.json`` and the check that every worker shares them."""

from __future__ import annotations

import json
import platform
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import torch

from drp.core.config import RunConfig
from drp.core.files import atomic_write_text, exclusive_lock
from drp.core.provenance import git_commit, hardware
from drp.data.validation import summarise_drops
from drp.evaluation.ensembles import manifest_checksum
from drp.evaluation.metrics import noise_ceiling
from drp.featurize.store import FeaturizedDataset
from drp.models.registry import DEFAULT_VARIANT
from drp.study.presets import Preset


class StudyMismatch(ValueError):
    """A study directory started with another preset, grid, config or dataset than this call:
    its cells would mix two designs."""


def _flatten(value: object, prefix: str) -> dict[str, object]:
    if isinstance(value, dict):
        out: dict[str, object] = {}
        for key, item in value.items():
            out |= _flatten(item, f"{prefix}.{key}")
        return out
    return {prefix: value}


LOCATIONS = ("config.train.dataset", "config.train.folds_dir")
"""Config keys that say where data lies, not what it is: the dataset is compared by checksum,
so a study resumes from another machine or working directory."""
_IN_GRID = ("config.train.epochs", "config.train.patience", "config.train.k")


def study_settings(info: dict) -> dict[str, object]:
    """What every worker of one study must share, from a ``study.json`` payload, as dotted
    keys: ``preset``, ``grid.*``, ``config.*`` (less :data:`LOCATIONS`) and ``dataset`` (the
    manifest checksum)."""
    settings: dict[str, object] = {}
    if "preset" in info:
        settings["preset"] = info["preset"]
    dataset = info.get("dataset") or {}
    if "manifest_sha256" in dataset or "manifest_files" in dataset:
        settings["dataset"] = dataset.get("manifest_sha256") or manifest_checksum(
            dataset["manifest_files"]
        )
    settings |= _flatten(info.get("grid", {}), "grid")
    config = _flatten(info.get("config", {}), "config")
    settings |= {k: v for k, v in config.items() if k not in LOCATIONS + _IN_GRID}
    return settings


def check_same_study(study: Path, first: dict, now: dict) -> None:
    """Refuse to add ``now`` (a ``study.json`` payload) to the study recorded as ``first``.

    Only keys both record are compared, so a study written by an older ``drp`` still resumes.

    Raises:
        StudyMismatch: one line naming every setting that differs (up to six), with both values.
    """
    old, new = study_settings(first), study_settings(now)
    keys = [k for k in new if k in old and old[k] != new[k]]
    if not keys:
        return

    def shown(key: str, info: dict, value: object) -> str:
        if key != "dataset":
            return repr(value)
        return f"{str(value)[:12]} ({(info.get('dataset') or {}).get('path', '?')})"

    diffs = [f"{k} {shown(k, first, old[k])} there, {shown(k, now, new[k])} here" for k in keys]
    more = f" and {len(diffs) - 6} more" if len(diffs) > 6 else ""
    raise StudyMismatch(
        f"{study} holds a study with other settings: {'; '.join(diffs[:6])}{more}; run it with "
        "its own preset, config and dataset (see its study.json), or choose another --name"
    )


@contextmanager
def collect_lock(study: Path, name: str = ".collect.lock") -> Iterator[None]:
    """One collector at a time per study directory (an exclusive ``flock`` on ``name``)."""
    with exclusive_lock(Path(study) / name):
        yield


def write_study_json(
    study: Path,
    name: str,
    preset: Preset,
    preset_name: str,
    ds: FeaturizedDataset,
    dataset_dir: Path,
    base: RunConfig,
) -> None:
    """Write (or, resuming, update) ``study.json``: the grid, config, dataset and provenance.
    Under a lock, so that of two workers starting at once the second sees the first's record.

    Raises:
        StudyMismatch: the directory's study has other settings (:func:`check_same_study`).
    """
    drops = summarise_drops(ds.drops).to_dict(orient="records")
    payload = {
        "name": name,
        "preset": preset_name,
        "preset_description": preset.description,
        "dataset": {
            "name": ds.name,
            "path": str(dataset_dir),
            "manifest_sha256": manifest_checksum(ds.manifest.get("files", {})),
            "manifest_files": ds.manifest.get("files", {}),
            "counts": ds.manifest.get("counts", {}),
        },
        "grid": {
            "variants": list(preset.variants),
            "splits": list(preset.splits),
            "folds": list(preset.folds),
            "seeds": list(preset.seeds),
            "k": preset.k,
            "epochs": preset.epochs,
            "patience": preset.patience,
            "baselines": list(preset.baselines),
            "questions": list(preset.questions),
            "external": preset.external,
            "default_variant": DEFAULT_VARIANT,
        },
        "provenance": {
            "commit": git_commit(),
            "date": datetime.now(UTC).isoformat(timespec="seconds"),
            "hardware": hardware(),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "command": " ".join(sys.argv),
        },
        # what every run trained with: the base config with the preset's schedule and folds
        "config": RunConfig(
            model=base.model,
            train=replace(
                base.train,
                dataset=str(dataset_dir),
                epochs=preset.epochs,
                patience=preset.patience,
                k=preset.k,
            ),
        ).to_dict(),
        "data_summary": {
            "counts": ds.manifest.get("counts", {}),
            "drops": drops,
            "noise_ceiling": noise_ceiling(ds.replicates),
        },
    }
    payload = json.loads(json.dumps(payload, default=str))  # tuples as lists, as read back
    info = study / "study.json"
    with collect_lock(study, ".study.lock"):
        if info.exists():  # a resumed study keeps the provenance of its first run
            first = json.loads(info.read_text())
            check_same_study(study, first, payload)
            payload["resumed"] = [*first.get("resumed", []), payload["provenance"]]
            payload["provenance"] = first.get("provenance", payload["provenance"])
        atomic_write_text(info, json.dumps(payload, indent=2, default=str))
