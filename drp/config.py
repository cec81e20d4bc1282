"""Configuration dataclasses, TOML loading and ``key=value`` overrides."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import tomllib


@dataclass(frozen=True)
class ModelConfig:
    """Architecture; every attention component has a non-attention twin selected here."""

    drug: str = "graph"  # graph | fingerprint
    conv: str = "gat_edge"  # gat_edge | gat | gcn | gin
    pool: str = "attention"  # attention | mean | max | sum
    fusion: str = "concat"  # concat | cross_attention
    hidden: int = 128
    layers: int = 3
    heads: int = 4
    dropout: float = 0.1  # cell encoder and head
    graph_dropout: float = 0.0  # message passing and attention coefficients
    cell_block_hidden: int = 256
    cell_tokens: int = 8


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation, data selection and the split to train on."""

    dataset: str = "data/featurized/gdsc2"
    omics: tuple[str, ...] = ("expression",)
    split: str = "mixed"
    k: int = 5
    fold: int = 0
    seed: int = 0
    epochs: int = 20
    patience: int = 4
    batch_size: int = 4096
    lr: float = 3e-3
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    warmup_epochs: int = 1
    device: str = "auto"
    folds_dir: str = ""  # "" = <dataset>/folds, shared with `drp evaluate`


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        model = _build(ModelConfig, data.get("model", {}), "model")
        train = _build(TrainConfig, data.get("train", {}), "train")
        return cls(model=model, train=train)


def _coerce(value: Any, like: Any) -> Any:
    if isinstance(like, bool):
        return value if isinstance(value, bool) else str(value).lower() in ("1", "true", "yes")
    if isinstance(like, int):
        return int(value)
    if isinstance(like, float):
        return float(value)
    if isinstance(like, tuple):
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return tuple(value)
    return value


def _build(cls, values: dict[str, Any], section: str):
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ValueError(f"unknown [{section}] key(s) {unknown}; known: {sorted(known)}")
    default = cls()
    return replace(default, **{k: _coerce(v, getattr(default, k)) for k, v in values.items()})


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a TOML file (sections ``[model]`` and ``[train]``) and apply ``section.key=value``."""
    data: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    if path is not None:
        loaded = tomllib.loads(Path(path).read_text())
        for section, values in loaded.items():
            if section not in data:
                raise ValueError(f"{path}: unknown section [{section}]; use [model] or [train]")
            data[section].update(values)
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        if section not in data:
            raise ValueError(f"override {item!r}: unknown section {section!r}")
        data[section][name] = value
    return RunConfig.from_dict(data)
