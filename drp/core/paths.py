"""Where drp keeps its data by default (relative to the working directory)."""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path("data")
"""Raw archives under ``raw/``, processed tables under ``processed/``, datasets under
``featurized/<name>``."""


def dataset_path(dataset: str | Path, data_dir: Path = DATA_DIR) -> Path:
    """A built-in name (``gdsc2``) means ``<data_dir>/featurized/<name>``; anything else is a
    path.

    Raises:
        FileNotFoundError: no ``manifest.json`` there (the dataset is not featurized).
    """
    path = Path(dataset)
    if not path.exists() and "/" not in str(dataset):
        path = Path(data_dir) / "featurized" / str(dataset)
    if not (path / "manifest.json").exists():
        raise FileNotFoundError(
            f"no featurized dataset at {path}: run `drp featurize --dataset {dataset}`"
        )
    return path
