"""drp: drug-response prediction with edge-aware graph attention, and a study of whether attention helps."""

__version__ = "0.1.0"
