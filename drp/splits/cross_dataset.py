"""Cross-dataset splits: train on one dataset, test on another, with drugs matched by structure."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from drp.featurize.similarity import drug_identity
from drp.splits.entities import REFEATURIZE, Entities
from drp.splits.fold import Fold
from drp.splits.leakage import check_fold

if TYPE_CHECKING:
    from drp.featurize.store import FeaturizedDataset

CROSS_SUBSETS = ("seen_pair", "new_pair", "new_cell", "new_drug")
"""Subsets of a cross-dataset test (see :func:`cross_dataset_split`)."""


@dataclass
class CrossDatasetSplit:
    """Train on one dataset, test on another dataset's pairs.

    Attributes:
        fold: ``train``/``val`` are row indices into the training dataset's pairs (a random
            ``val_fraction`` of pairs held out for early stopping); ``test`` is empty because the
            test pairs live in another table.
        test_pairs: [n_test] ``cell_id, drug_id, drug_id_other, ln_ic50, censored, subset, seen``:
            the target's pairs with drug ids in the **training** id space (matched drugs renamed
            to the training id, ``drug_id_other`` the target's id; unmatched drugs keep theirs)
            and ``subset`` one of :data:`CROSS_SUBSETS`; ``seen`` is ``subset == "seen_pair"``.
        test_ds: the target dataset with its drugs renamed the same way: models predict
            ``test_pairs`` with ``predict(test_ds, test_pairs)`` (the target's own omics and
            graphs, so new cells and new drugs are predictable).
        source, target: dataset names.
        drug_map: target drug id -> training drug id, for every matched drug.
        dropped: target pairs dropped, by reason (normally none: a featurized target has
            features for all of its pairs).
    """

    fold: Fold
    test_pairs: pd.DataFrame
    test_ds: FeaturizedDataset
    source: str
    target: str
    drug_map: dict[str, str]
    dropped: dict[str, int]

    def counts(self, test_pairs: pd.DataFrame | None = None) -> dict[str, int]:
        """Test pairs per subset (all of :data:`CROSS_SUBSETS`, zeros included) of
        ``test_pairs`` (default :attr:`test_pairs`; e.g. those of :meth:`relabel`)."""
        pairs = self.test_pairs if test_pairs is None else test_pairs
        sizes = pairs["subset"].value_counts()
        return {s: int(sizes.get(s, 0)) for s in CROSS_SUBSETS}

    def relabel(self, train: FeaturizedDataset, trained: pd.DataFrame) -> pd.DataFrame:
        """:attr:`test_pairs` with ``subset`` and ``seen`` relative to the pairs a model was
        actually trained on (``trained``, e.g. the train + val part of one fold of ``train``),
        not to all of ``train``'s pairs: a drug-blind model's held-out drugs are new drugs to
        it, a cell-blind model's held-out cells new cells.
        """
        out = self.test_pairs.copy()
        out["subset"], out["seen"] = cross_subsets(train, trained, out)
        return out


def cross_subsets(
    train: FeaturizedDataset, trained: pd.DataFrame, test_pairs: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray]:
    """Subset of each test pair relative to the pairs a model was trained on.

    Args:
        train: the training dataset (the :func:`drug_identity` of its ``drugs.structure_key``
            tells which test drugs are new).
        trained: [m] pairs (``cell_id, drug_id``) of ``train`` the model was fitted on.
        test_pairs: [n] pairs in ``train``'s drug-id space (target drugs matched to a training
            drug renamed to its id; unmatched ones keep an id ``train`` does not have).

    Returns:
        ``(subset, seen)``: [n] labels from :data:`CROSS_SUBSETS` (``new_drug`` when the
        structure is absent from ``trained``, else ``new_cell`` when the cell is, else
        ``seen_pair`` when ``trained`` measured this cell with this structure, else
        ``new_pair``) and [n] bool ``subset == "seen_pair"``.
    """
    structure = drug_identity(train.drugs.set_index("drug_id")["structure_key"])
    trained_structure = trained["drug_id"].map(structure)
    measured = pd.MultiIndex.from_arrays([trained["cell_id"], trained_structure])
    # A matched drug is the training id's structure (an id match counts as the same drug).
    key = test_pairs["drug_id"].map(structure)
    known_drug = (key.notna() & key.isin(set(trained_structure.dropna()))).to_numpy()
    seen = known_drug & pd.MultiIndex.from_arrays([test_pairs["cell_id"], key]).isin(measured)
    known_cell = test_pairs["cell_id"].isin(set(trained["cell_id"])).to_numpy()
    subset = np.select(
        [~known_drug, ~known_cell, seen], ["new_drug", "new_cell", "seen_pair"], "new_pair"
    )
    return subset, seen


def match_drugs(train_drugs: pd.DataFrame, other_drugs: pd.DataFrame) -> dict[str, str]:
    """Map the other dataset's drug ids to training drug ids: same id first, else same
    ``structure_key`` (CCLE's ``PLX4720`` is GDSC2's ``PLX-4720``, ``AZD6244`` is
    ``Selumetinib``). A structure listed under several training ids maps to the first of them
    in table order.

    Args:
        train_drugs, other_drugs: tables with ``drug_id`` and ``structure_key``.

    Returns:
        ``{other drug_id: training drug_id}`` for every drug that matches.

    Raises:
        ValueError: a table lacks ``structure_key`` (featurized by an older drp).
    """
    for label, table in (("training", train_drugs), ("target", other_drugs)):
        if "structure_key" not in table:
            raise ValueError(f"{label} drugs have no structure_key column; {REFEATURIZE}")
    train_ids = set(train_drugs["drug_id"])
    by_structure = (
        train_drugs.dropna(subset=["structure_key"])
        .drop_duplicates("structure_key")
        .set_index("structure_key")["drug_id"]
    )
    out = {}
    for d, key in zip(other_drugs["drug_id"], other_drugs["structure_key"], strict=True):
        if d in train_ids:
            out[d] = d
        elif key in by_structure.index:
            out[d] = by_structure[key]
    return out


def cross_dataset_split(
    train: FeaturizedDataset,
    target: FeaturizedDataset,
    fold_seed: int = 0,
    val_fraction: float = 0.1,
) -> CrossDatasetSplit:
    """Train on all of ``train``'s pairs, test on all of ``target``'s pairs, by subset.

    Target drugs are matched to training drugs by :func:`match_drugs` (id, then structure).
    Every target pair is tested (nothing is dropped for having been seen) and labelled:

    * ``seen_pair``: the training dataset measured this cell with this structure: inter-lab
      transfer (CCLE) or a near-replicate from the same lab (GDSC1 -> GDSC2);
    * ``new_pair``: known cell and known drug, pair not measured in training;
    * ``new_cell``: cell absent from the training pairs, known drug;
    * ``new_drug``: drug structure absent from training (any cell), predicted from the target's
      own SMILES by graph or fingerprint models.

    CCLE caps IC50 at 8 µM; ``censored`` (IC50 at the cap) is kept so metrics can be reported
    on all pairs and on uncensored pairs (:func:`drp.evaluation.metrics.evaluate_predictions` does both).

    Raises:
        ValueError: either dataset lacks ``structure_key`` (re-run ``drp featurize``).
    """
    rng = np.random.default_rng(fold_seed)
    n = len(train.pairs)
    val = np.sort(rng.choice(n, size=max(1, round(val_fraction * n)), replace=False))
    fold = Fold(
        0, np.setdiff1d(np.arange(n), val), val, np.empty(0, np.int64), "cross_dataset", fold_seed
    )
    check_fold(train.pairs, fold)

    drug_map = match_drugs(train.drugs, target.drugs)
    Entities.of(train).pair_keys(train.pairs, "structure_key")  # every pair has a structure

    other = target.pairs.copy()
    has_cell = other["cell_id"].isin(set(target.cells["cell_id"]))
    has_drug = other["drug_id"].isin(set(target.drugs["drug_id"]))
    dropped = {
        "cell without omics in the target dataset": int((~has_cell).sum()),
        "drug without a graph in the target dataset": int((has_cell & ~has_drug).sum()),
    }
    other = other[has_cell & has_drug].reset_index(drop=True)
    other["drug_id_other"] = other["drug_id"]
    other["drug_id"] = other["drug_id"].map(lambda d: drug_map.get(d, d))
    other["subset"], other["seen"] = cross_subsets(train, train.pairs, other)
    if "censored" not in other:
        other["censored"] = False
    cols = ["cell_id", "drug_id", "drug_id_other", "ln_ic50", "censored", "subset", "seen"]
    return CrossDatasetSplit(
        fold=fold,
        test_pairs=other[cols],
        test_ds=rename_drugs(target, drug_map),
        source=train.name,
        target=target.name,
        drug_map=drug_map,
        dropped=dropped,
    )


def rename_drugs(ds: FeaturizedDataset, drug_map: dict[str, str]) -> FeaturizedDataset:
    """A copy of ``ds`` whose drug ids (drugs, pairs) are renamed by ``drug_map``.

    Two ids renamed to one keep the first drug's row (same structure, same features); graphs and
    fingerprints and descriptors follow the kept rows, so ``drug_index`` stays aligned with them.
    """
    renamed = ds.drugs["drug_id"].map(lambda d: drug_map.get(d, d))
    keep = ~renamed.duplicated().to_numpy()
    drugs = ds.drugs.assign(drug_id=renamed)[keep].reset_index(drop=True)
    pairs = ds.pairs.assign(drug_id=ds.pairs["drug_id"].map(lambda d: drug_map.get(d, d)))
    return dataclasses.replace(
        ds,
        drugs=drugs,
        pairs=pairs,
        graphs=[g for g, k in zip(ds.graphs, keep, strict=True) if k],
        fingerprints=ds.fingerprints[keep],
        descriptors=ds.descriptors[keep],
    )
