"""The bottom layer: plain values every other layer may import (nothing here imports drp)."""
