"""Screen the GDSC1 compounds that GDSC2 lacks against the GDSC2 cell lines with a GDSC2 run.

Builds the library from the featurized stores (GDSC1 drugs whose structure key no GDSC2 drug
has; original SMILES, so `drp screen` standardises them itself), writes it to
``data/libraries/gdsc1_not_in_gdsc2.csv`` and runs ``drp screen RUN --library ...``, whose ranked
tables and HTML summary land in ``--out``.

Usage: ``python benchmarks/screen_gdsc1_new_drugs.py --run runs/RUN [--out screens/gdsc1_new]``
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from drp.featurize.store import FeaturizedDataset

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=ROOT / "screens" / "gdsc1_new")
    parser.add_argument("--top", type=int, default=10)
    args = parser.parse_args()
    gdsc1 = FeaturizedDataset.load(ROOT / "data" / "featurized" / "gdsc1")
    gdsc2 = FeaturizedDataset.load(ROOT / "data" / "featurized" / "gdsc2")
    known = set(gdsc2.drugs.structure_key)
    new = gdsc1.drugs[~gdsc1.drugs.structure_key.isin(known)]
    library = ROOT / "data" / "libraries" / "gdsc1_not_in_gdsc2.csv"
    library.parent.mkdir(parents=True, exist_ok=True)
    new[["drug_id", "smiles"]].to_csv(library, index=False)
    print(f"{len(new)} of {len(gdsc1.drugs)} GDSC1 compounds have no GDSC2 structure -> {library}")
    drp = Path(sys.executable).with_name("drp")  # the console script beside this interpreter
    command = [str(drp), "screen", str(args.run), "--library", str(library)]
    command += ["--top", str(args.top), "--out", str(args.out)]
    subprocess.run(command, check=True)


if __name__ == "__main__":
    main()
