"""What a blind split holds out: the entity of each pair (cell, drug identity, cluster, tissue)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from drp.featurize.similarity import drug_identity

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset

BLIND_KEY = {
    "cell_blind": "cell_id",
    "drug_blind": "structure_key",
    "cluster_blind": "structure_cluster",
    "tissue_blind": "tissue",
}
"""The entity a blind split holds out (a pair's key, see :meth:`Entities.pair_keys`)."""

REFEATURIZE = "re-run `drp featurize` to add it"


@dataclass(frozen=True)
class Entities:
    """Lookups from a pair's ids to the entities blind splits hold out.

    Attributes:
        tissue: ``cell_id -> tissue`` (NaN where unknown; those pairs are excluded from
            tissue-blind folds).
        structure: ``drug_id -> drug identity`` (:func:`~drp.featurize.similarity.drug_identity`
            of the ``structure_key``, the InChIKey connectivity block).
        cluster: ``drug_id -> structure_cluster`` (fingerprint-similarity cluster id).
        source: dataset name used in error messages.
    """

    tissue: pd.Series | None = None
    structure: pd.Series | None = None
    cluster: pd.Series | None = None
    source: str = "dataset"

    @classmethod
    def of(cls, ds: FeaturizedDataset) -> Entities:
        """The lookups of a featurized dataset (``None`` for a column it lacks)."""
        drugs = ds.drugs.set_index("drug_id")
        keys = drugs.get("structure_key")
        return cls(
            tissue=ds.tissues,
            structure=None if keys is None else drug_identity(keys),
            cluster=drugs.get("structure_cluster"),
            source=ds.name,
        )

    def pair_keys(self, pairs: pd.DataFrame, key: str) -> pd.Series:
        """[n_pairs] value of ``key`` for each pair (NaN: no tissue, so excluded).

        ``key`` is ``cell_id``, ``drug_id``, ``tissue``, ``structure_key`` or
        ``structure_cluster``.

        Raises:
            ValueError: the lookup ``key`` needs is missing (a dataset featurized before
                structure keys existed), or some pair's drug is not in it.
        """
        if key in ("cell_id", "drug_id"):
            return pairs[key]
        if key == "tissue":
            if self.tissue is None:
                raise ValueError("tissue_blind needs tissues (cell_id -> tissue)")
            return pairs["cell_id"].map(self.tissue)
        lookup = {"structure_key": self.structure, "structure_cluster": self.cluster}.get(key)
        if key not in ("structure_key", "structure_cluster"):
            raise ValueError(f"unknown entity key {key!r}")
        if lookup is None:
            raise ValueError(
                f"{self.source}: drugs.parquet has no {key} column (featurized by an older "
                f"drp); {REFEATURIZE}"
            )
        out = pairs["drug_id"].map(lookup)
        if out.isna().any():
            missing = sorted(set(pairs.loc[out.isna().to_numpy(), "drug_id"]))
            raise ValueError(
                f"{self.source}: no {key} for drug id(s) {missing[:10]}; {REFEATURIZE}"
            )
        return out


def split_key(split: str) -> str:
    """The grouping a split uses, as recorded in the fold cache (``pair`` for mixed)."""
    return BLIND_KEY.get(split, "pair")
