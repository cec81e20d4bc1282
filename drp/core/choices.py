"""The names of the choices config and code share: plain tuples, so the configuration can
validate against them without importing the models or the splits that implement them."""

DRUG_ENCODERS = ("graph", "fingerprint", "hybrid")
"""``model.drug``: the graph encoder, the Morgan-fingerprint MLP, or both summed."""
CONVS = ("gat_edge", "gat", "gcn", "gin")
"""``model.conv``: message passing of the graph encoder."""
POOLS = ("attention", "mean", "max", "sum")
"""``model.pool``: readout of the graph encoder."""
FUSIONS = ("concat", "cross_attention")
"""``model.fusion``: how drug and cell meet in the head."""
SPLITS = ("mixed", "cell_blind", "drug_blind", "cluster_blind", "tissue_blind")
"""Within-dataset splits (``train.split``)."""
NEW_DRUG_SPLITS = ("drug_blind", "cluster_blind")
"""Splits whose test (and validation) drugs are new to the run."""
CROSS = "cross_dataset"
"""The split that trains on one dataset and tests on another (``drp evaluate --split``)."""
