"""Readers of the official files labs hold (GDSC release, DepMap, PRISM, CTRP), keyed by
official ids: Sanger model ids, COSMIC ids, DepMap ModelIDs and each source's drug ids.

Each reader takes a directory (or the main file), finds its files by name and returns plain
frames; :mod:`drp.featurize.official` combines them into ``RawTables``. No RDKit, no torch.
"""

from drp.data.readers.cells import OFFICIAL_CELL_ID_RULE, CellCrosswalk, assign_cell_ids
from drp.data.readers.ctrp import CtrpRelease, key_ctrp_cells, read_ctrp
from drp.data.readers.depmap import DepMapRelease, read_depmap
from drp.data.readers.gdsc_release import GdscRelease, read_gdsc_release
from drp.data.readers.prism import PrismRelease, read_prism
from drp.data.readers.structures import NO_STRUCTURE, StructureMatch, match_structures

__all__ = [
    "NO_STRUCTURE",
    "OFFICIAL_CELL_ID_RULE",
    "CellCrosswalk",
    "CtrpRelease",
    "DepMapRelease",
    "GdscRelease",
    "PrismRelease",
    "StructureMatch",
    "assign_cell_ids",
    "key_ctrp_cells",
    "match_structures",
    "read_ctrp",
    "read_depmap",
    "read_gdsc_release",
    "read_prism",
]
