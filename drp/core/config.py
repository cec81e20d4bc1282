"""Configuration dataclasses, TOML loading and ``key=value`` overrides."""

from __future__ import annotations

import tomllib
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from drp.core.choices import CONVS, DRUG_ENCODERS, FUSIONS, NEW_DRUG_SPLITS, POOLS, SPLITS


@dataclass(frozen=True)
class ModelConfig:
    """Architecture; every attention component has a non-attention twin selected here."""

    drug: str = "hybrid"  # hybrid (graph + fingerprint) | graph | fingerprint
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
    fold_seed: int = -1  # seed of the fold draw; -1 = train.seed (seed ensembles fix it)
    epochs: int = 20
    patience: int = 4
    batch_size: int = 4096
    lr: float = 3e-3
    adam_beta2: float = 0.99  # 0.999 adapts too slowly for ~600-step runs (RESULTS.md)
    weight_decay: float = 1e-2
    grad_clip: float = 1.0
    warmup_epochs: int = 1
    device: str = "auto"
    precision: str = "auto"  # auto (bf16 on CPUs with bf16 instructions, else fp32) | bf16 | fp32
    folds_dir: str = ""  # "" = <dataset>/folds, shared with `drp evaluate`
    # a new drug's main effect: "similarity" (Tanimoto kernel ridge, drp/models/drug_prior.py)
    # or "none" (the network's own); the prior also learns from the auxiliary screen's drugs
    drug_prior: str = "similarity"
    prior_auxiliary: str = "gdsc1"  # featurized dataset name beside `dataset`, a path, or ""
    # a new drug's cell-to-cell pattern: the weight of its structural analogues' pattern beside
    # the network's (drp/models/drug_pattern.py); 0 = the network's alone
    prior_pattern: float = 0.7
    # weight of the within-drug error beside the squared error: each pair's residual minus its
    # drug's mean residual in the batch, so the loss rewards ranking cells within a drug
    within_drug_weight: float = 0.0
    # the early-stopping criterion on the validation part: "rmse", "within_drug_rmse" (the error
    # left after each drug's mean residual is removed: the pattern, not the level) or "auto"
    # (within_drug_rmse where the prior sets new drugs' levels: drug_prior "similarity" on a
    # new-drug split; rmse elsewhere)
    stop_on: str = "auto"

    @property
    def stop_criterion(self) -> str:
        """The early-stopping criterion ``stop_on`` names, with "auto" resolved."""
        if self.stop_on != "auto":
            return self.stop_on
        prior_sets_level = self.drug_prior == "similarity" and self.split in NEW_DRUG_SPLITS
        return "within_drug_rmse" if prior_sets_level else "rmse"

    @property
    def effective_fold_seed(self) -> int:
        """The seed the folds are drawn with: ``fold_seed``, or ``seed`` when it is -1."""
        return self.seed if self.fold_seed < 0 else self.fold_seed


@dataclass(frozen=True)
class RunConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunConfig:
        """Build and :meth:`validate` a config; bad keys or values raise ValueError."""
        model = _build(ModelConfig, data.get("model", {}), "model")
        train = _build(TrainConfig, data.get("train", {}), "train")
        return cls(model=model, train=train).validate()

    def validate(self) -> RunConfig:
        """Check every value against the registries and the shapes it implies.

        Returns ``self``; raises ValueError naming the key, the bad value and what is allowed.
        """
        problems = _model_problems(self.model) + _train_problems(self.train)
        if problems:
            raise ValueError("invalid config: " + "; ".join(problems))
        return self


def _choice(section: str, key: str, value: object, allowed: tuple) -> list[str]:
    if value in allowed:
        return []
    return [f"{section}.{key}={value!r} is not one of {list(allowed)}"]


def _at_least(section: str, key: str, value: float, low: float) -> list[str]:
    return [] if value >= low else [f"{section}.{key}={value!r} must be >= {low}"]


def _model_problems(m: ModelConfig) -> list[str]:
    out = (
        _choice("model", "drug", m.drug, DRUG_ENCODERS)
        + _choice("model", "conv", m.conv, CONVS)
        + _choice("model", "pool", m.pool, POOLS)
        + _choice("model", "fusion", m.fusion, FUSIONS)
    )
    for key in ("hidden", "layers", "heads", "cell_block_hidden", "cell_tokens"):
        out += _at_least("model", key, getattr(m, key), 1)
    for key in ("dropout", "graph_dropout"):
        if not 0.0 <= getattr(m, key) < 1.0:
            out.append(f"model.{key}={getattr(m, key)!r} must be in [0, 1)")
    if m.heads >= 1 and m.hidden % m.heads:
        out.append(
            f"model.hidden={m.hidden} must be divisible by model.heads={m.heads} "
            "(each attention head gets hidden / heads channels)"
        )
    if m.drug == "fingerprint" and m.fusion == "cross_attention":
        out.append("model.fusion='cross_attention' attends over atoms: it needs model.drug='graph'")
    return out


def _train_problems(t: TrainConfig) -> list[str]:
    out = _choice("train", "split", t.split, SPLITS) + _choice("train", "device", t.device, DEVICES)
    out += _choice("train", "precision", t.precision, PRECISIONS)
    out += _choice("train", "drug_prior", t.drug_prior, DRUG_PRIORS)
    out += _choice("train", "stop_on", t.stop_on, STOP_CRITERIA)
    out += _at_least("train", "within_drug_weight", t.within_drug_weight, 0.0)
    out += _at_least("train", "k", t.k, 2)
    out += _at_least("train", "fold_seed", t.fold_seed, -1)
    if not 0.0 <= t.prior_pattern <= 1.0:
        out.append(f"train.prior_pattern={t.prior_pattern} must be in [0, 1]")
    if not 0 <= t.fold < max(t.k, 1):
        out.append(f"train.fold={t.fold} must be in 0..{t.k - 1} (train.k={t.k})")
    for key in ("epochs", "patience", "batch_size"):
        out += _at_least("train", key, getattr(t, key), 1)
    out += _at_least("train", "warmup_epochs", t.warmup_epochs, 0)
    for key in ("lr", "grad_clip"):
        if not getattr(t, key) > 0:
            out.append(f"train.{key}={getattr(t, key)!r} must be > 0")
    out += _at_least("train", "weight_decay", t.weight_decay, 0.0)
    if not 0.0 < t.adam_beta2 < 1.0:
        out.append(f"train.adam_beta2={t.adam_beta2!r} must be in (0, 1)")
    if not t.omics:
        out.append("train.omics is empty: name at least one omics (e.g. expression)")
    return out


DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "bf16", "fp32")
DRUG_PRIORS = ("similarity", "none")
STOP_CRITERIA = ("auto", "rmse", "within_drug_rmse")


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
    coerced = {}
    for key, value in values.items():
        like = getattr(default, key)
        try:
            coerced[key] = _coerce(value, like)
        except (TypeError, ValueError):
            raise ValueError(
                f"[{section}] {key}={value!r} is not a valid {type(like).__name__}"
            ) from None
    return replace(default, **coerced)


def load_config(path: Path | None = None, overrides: list[str] | None = None) -> RunConfig:
    """Read a TOML file (sections ``[model]`` and ``[train]``) and apply ``section.key=value``."""
    data: dict[str, dict[str, Any]] = {"model": {}, "train": {}}
    if path is not None:
        if not Path(path).is_file():
            raise ValueError(f"config file {path} not found")
        try:
            loaded = tomllib.loads(Path(path).read_text())
        except tomllib.TOMLDecodeError as exc:
            raise ValueError(f"{path}: not valid TOML ({exc})") from None
        for section, values in loaded.items():
            if section not in data:
                raise ValueError(f"{path}: unknown section [{section}]; use [model] or [train]")
            data[section].update(values)
    return RunConfig.from_dict(apply_overrides(data, overrides))


def apply_overrides(
    data: dict[str, dict[str, Any]], overrides: list[str] | None
) -> dict[str, dict[str, Any]]:
    """``data`` (sections ``model`` and ``train``) with ``section.key=value`` items set;
    ``data`` itself is updated. Raises ValueError on a malformed item or unknown section."""
    for item in overrides or []:
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise ValueError(f"override {item!r} must look like section.key=value")
        key, value = item.split("=", 1)
        section, name = key.split(".", 1)
        if section not in data:
            raise ValueError(f"override {item!r}: unknown section {section!r}")
        data[section][name] = value
    return data
