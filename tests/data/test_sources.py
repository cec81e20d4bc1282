import hashlib
import os
import pickle
import zipfile

import pytest
import torch

from drp.data.sources import (
    DataIntegrityError,
    PackageArchive,
    download_archive,
    extract_members,
    load_verified_pickle,
    verify_checksum,
)


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_checksum_mismatch_is_refused(tmp_path):
    path = tmp_path / "file.bin"
    path.write_bytes(b"hello")
    verify_checksum(path, _sha(b"hello"))
    with pytest.raises(DataIntegrityError, match="checksum mismatch"):
        verify_checksum(path, _sha(b"other"))


def test_corrupted_cached_archive_is_refused_without_network(tmp_path):
    archive = PackageArchive("pkg", "1.0", "pkg-1.0-py3-none-any.whl", _sha(b"good"), True)
    (tmp_path / archive.filename).write_bytes(b"corrupted")
    with pytest.raises(DataIntegrityError, match="pkg-1.0-py3-none-any.whl"):
        download_archive(archive, tmp_path)


def test_members_are_verified_on_extraction(tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr("pkg/data.csv", "a,b\n1,2\n")
    good = PackageArchive(
        "pkg",
        "1.0",
        wheel.name,
        _sha(wheel.read_bytes()),
        True,
        {"pkg/data.csv": _sha(b"a,b\n1,2\n")},
    )
    out = extract_members(good, wheel, tmp_path / "out")
    assert out["pkg/data.csv"].read_text() == "a,b\n1,2\n"
    bad = PackageArchive("pkg", "1.0", wheel.name, good.sha256, True, {"pkg/data.csv": _sha(b"x")})
    with pytest.raises(DataIntegrityError):
        extract_members(bad, wheel, tmp_path / "out2")


def test_tensor_pickle_loads_after_verification(tmp_path):
    payload = {"CAL-120": torch.arange(4, dtype=torch.float32), "A673": [0, 1, -1]}
    data = pickle.dumps(payload)
    path = tmp_path / "omics.pkl"
    path.write_bytes(data)
    loaded = load_verified_pickle(path, _sha(data))
    assert torch.equal(loaded["CAL-120"], torch.arange(4, dtype=torch.float32))
    assert loaded["A673"] == [0, 1, -1]
    with pytest.raises(DataIntegrityError):
        load_verified_pickle(path, _sha(b"something else"))


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_unpickler_refuses_arbitrary_callables(tmp_path):
    data = pickle.dumps({"x": _Evil()})
    path = tmp_path / "evil.pkl"
    path.write_bytes(data)
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_verified_pickle(path, _sha(data))


def test_processed_release_of_an_older_format_is_rebuilt(tmp_path):
    import json

    from drp.data.gdsc import MANIFEST, PROCESSED_FORMAT, _is_current, _omics_frame
    from drp.data.sources import sha256_file

    frame = _omics_frame({"KMH2": [1.0, 2.0], "TT": [3.0, 4.0]}, ["g1", "g2"], "expression")
    assert list(frame.index) == ["KMH2", "TT"] and frame.index.name == "cell_name"
    frame.to_parquet(tmp_path / "omics_expression.parquet")
    files = {
        "omics_expression.parquet": {"sha256": sha256_file(tmp_path / "omics_expression.parquet")}
    }
    (tmp_path / MANIFEST).write_text(json.dumps({"files": files}))  # format 1: no "format"
    messages: list[str] = []
    assert not _is_current(tmp_path, messages.append)
    assert messages == [f"processed data has format 1, not {PROCESSED_FORMAT}; rebuilding"]
    (tmp_path / MANIFEST).write_text(json.dumps({"format": PROCESSED_FORMAT, "files": files}))
    assert _is_current(tmp_path, messages.append)
