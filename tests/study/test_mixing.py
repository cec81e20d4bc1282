"""Nothing mixes silently: a study directory keeps one grid, config and dataset; an ensemble
holds runs of one variant, split, dataset and prior; Ray runs train with the local executor's
torch threads unless told otherwise."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from drp.api import load_ensemble
from drp.cli import app
from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.core.executors import LocalExecutor, RayExecutor
from drp.prediction.predictor import PredictionError
from drp.study.cells import study_cells
from drp.study.presets import Preset
from drp.study.runner import run_study
from drp.study.settings import StudyMismatch, check_same_study
from tests.conftest import make_dataset, write_fixture_tables

runner = CliRunner()


@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    """The fixture dataset, a copy of it at another path, and another dataset (other data)."""
    root = tmp_path_factory.mktemp("mixing")
    make_dataset(write_fixture_tables(root / "tables")).save(root / "ds")
    shutil.copytree(root / "ds", root / "moved")
    make_dataset(write_fixture_tables(root / "tables2", seed=1)).save(root / "other")
    return {"ds": root / "ds", "moved": root / "moved", "other": root / "other"}


def tiny(epochs: int = 1) -> Preset:
    return Preset("tiny", ("fingerprint",), ("mixed",), (0,), (0,), epochs, epochs,
                  ("drug_mean",), k=3)  # fmt: skip


def base(folds_dir: Path, lr: float = 3e-3) -> RunConfig:
    return RunConfig(
        model=ModelConfig(hidden=16),
        train=TrainConfig(batch_size=16, folds_dir=str(folds_dir), device="cpu", lr=lr),
    )


def quiet(message: str) -> None:
    """A log that drops messages."""


# ---- studies refuse to mix ---------------------------------------------------------------------
def test_a_study_refuses_another_config_grid_or_dataset_and_resumes_with_its_own(stores, tmp_path):
    studies, folds = tmp_path / "studies", tmp_path / "folds"
    study = run_study("s", tiny(), stores["ds"], studies, base(folds), log=quiet)
    info = json.loads((study / "study.json").read_text())
    assert len(info["dataset"]["manifest_sha256"]) == 64
    stamps = {p.name: p.stat().st_mtime_ns for p in (study / "cells").glob("*.json")}
    assert len(stamps) == 2  # the model and the baseline

    refused = [
        (dict(base=base(folds, lr=1e-3)), "config.train.lr 0.003 there, 0.001 here"),
        (dict(preset=tiny(epochs=2)), "grid.epochs 1 there, 2 here"),
        (dict(preset_name="smoke"), "preset 'custom' there, 'smoke' here"),
        (dict(dataset=stores["other"]), f"({stores['ds']}) there"),
    ]
    for change, message in refused:
        kwargs = dict(preset=tiny(), dataset=stores["ds"], base=base(folds)) | change
        with pytest.raises(StudyMismatch, match="holds a study with other settings") as err:
            run_study("s", kwargs["preset"], kwargs["dataset"], studies, kwargs["base"],
                      kwargs.get("preset_name", "custom"), log=quiet)  # fmt: skip
        assert message in str(err.value) and "\n" not in str(err.value), str(err.value)
    assert json.loads((study / "study.json").read_text()) == info  # refusals write nothing

    # the same settings resume (the dataset may lie elsewhere), and train nothing again
    lines: list[str] = []
    run_study("s", tiny(), stores["moved"], studies, base(folds), log=lines.append)
    assert "2 of 2 cells already finished; 0 to run" in lines
    assert {p.name: p.stat().st_mtime_ns for p in (study / "cells").glob("*.json")} == stamps
    assert len(json.loads((study / "study.json").read_text())["resumed"]) == 1


def test_the_cli_refuses_a_mixed_study_in_one_line(stores, tmp_path):
    studies = tmp_path / "studies"
    run_study("s", tiny(), stores["ds"], studies, base(tmp_path / "folds"), log=quiet)
    result = runner.invoke(app, ["study", "--preset", "smoke", "--dataset", str(stores["ds"]),
                                 "--name", "s", "--out-root", str(studies)])  # fmt: skip
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "preset 'custom' there, 'smoke' here" in errors[0]
    assert "Traceback" not in result.output
    assert len(list((studies / "s" / "cells").glob("*.json"))) == 2  # nothing of smoke ran


def test_a_study_json_of_an_older_drp_is_compared_on_what_it_records():
    files = {"pairs.parquet": "ab" * 32}
    first = {"preset": "quick", "dataset": {"manifest_files": files}, "grid": {"epochs": 3}}
    now = first | {"config": {"train": {"lr": 0.1}}, "dataset": {"manifest_sha256": "x"}}
    with pytest.raises(StudyMismatch, match="dataset"):
        check_same_study(Path("s"), first, now)  # the checksum is computed from the files
    from drp.evaluation.ensembles import manifest_checksum

    now["dataset"]["manifest_sha256"] = manifest_checksum(files)
    check_same_study(Path("s"), first, now)  # config unrecorded there: not compared


# ---- ensembles refuse to mix -------------------------------------------------------------------
def fake_run(
    path: Path,
    variant: str = "gat_edge",
    split: str = "mixed",
    dataset: str = "/data/gdsc2",
    files: dict | None = None,
    prior: str = "similarity",
    auxiliary: str = "gdsc1",
) -> Path:
    """A run directory as load_ensemble sees it: ``best.pt`` and ``config.json``."""
    path.mkdir(parents=True)
    (path / "best.pt").write_bytes(b"")
    config = {
        "model": {"name": variant},
        "train": {"split": split, "drug_prior": prior, "prior_auxiliary": auxiliary},
        "split": split,
        "dataset": dataset,
        "data_files": files if files is not None else {"pairs.parquet": "ab" * 32},
    }
    (path / "config.json").write_text(json.dumps(config))
    return path


def test_an_ensemble_of_one_variant_split_dataset_and_prior_loads(tmp_path):
    fake_run(tmp_path / "runs" / "s0")
    fake_run(tmp_path / "runs" / "s1", dataset="/elsewhere/gdsc2")  # same files, moved
    no_prior = [fake_run(tmp_path / f"n{i}", prior="none", auxiliary=a)
                for i, a in enumerate(("gdsc1", ""))]  # fmt: skip
    assert len(load_ensemble([tmp_path / "runs"]).runs) == 2
    assert len(load_ensemble(no_prior).runs) == 2  # the auxiliary screen is unused without prior


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"variant": "gin"}, "variant (gat_edge in {a}, {b}; gin in {c})"),
        ({"split": "drug_blind"}, "split (mixed in {a}, {b}; drug_blind in {c})"),
        ({"files": {"pairs.parquet": "cd" * 32}}, "dataset (data "),
        ({"prior": "none"}, "prior (similarity (auxiliary gdsc1) in {a}, {b}; none in {c})"),
        ({"auxiliary": "ccle"}, "; similarity (auxiliary ccle) in {c})"),
    ],
)
def test_an_ensemble_that_mixes_runs_is_refused_naming_field_and_runs(tmp_path, change, expected):
    a, b = fake_run(tmp_path / "runs" / "a"), fake_run(tmp_path / "runs" / "b")
    c = fake_run(tmp_path / "runs" / "c", **change)
    with pytest.raises(PredictionError, match="cannot predict as one ensemble") as err:
        load_ensemble([tmp_path / "runs"])
    # the variant label carries a digest of the model settings: compare without it
    message = re.sub(r" [0-9a-f]{8} in ", " in ", str(err.value))
    assert expected.format(a=a, b=b, c=c) in message, str(err.value)
    assert "--fold-seed" in str(err.value)


def test_a_study_runs_folder_is_refused_as_an_ensemble_by_the_cli(tmp_path):
    runs = tmp_path / "study" / "runs"
    for variant in ("gat_edge", "gat"):
        for split in ("mixed", "drug_blind"):
            fake_run(runs / f"{variant}__{split}__f0__s0", variant=variant, split=split)
    result = runner.invoke(app, ["predict", str(runs), "--matrix", "--out",
                                 str(tmp_path / "p.csv")])  # fmt: skip
    assert result.exit_code == 1
    assert "cannot predict as one ensemble: they differ in variant (" in result.output
    assert "; split (" in result.output and "Traceback" not in result.output
    assert not (tmp_path / "p.csv").exists()


# ---- executors agree by default ----------------------------------------------------------------
@pytest.fixture
def three_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(3)
    yield
    torch.set_num_threads(before)


def test_ray_runs_take_the_local_executors_torch_threads_by_default(three_threads, tmp_path):
    default, explicit = RayExecutor(), RayExecutor(cpus_per_run=2)
    assert default.cpus_per_run is None and default.threads == 3
    assert default.task_cpus() == 3.0 and default.task_cpus(node_cpus=2) == 2.0  # fits a node
    assert explicit.threads == 2 and explicit.task_cpus(node_cpus=16) == 2
    assert RayExecutor(cpus_per_run=0.5).threads == 1
    specs = study_cells(tmp_path, tiny(), tmp_path, RunConfig(), threads=default.threads)
    assert {s.threads for s in specs} == {3}  # what every cell sets in its Ray worker
    assert LocalExecutor().threads == 0  # local cells keep this process's 3 threads


@dataclass(frozen=True)
class Spec:
    study: str
    run: str


class Ref:
    """A finished task's reference."""

    def __init__(self, result: dict) -> None:
        self.result = result


class FakeRay:
    """The part of Ray that RayExecutor uses, running tasks inline and recording options."""

    class exceptions:  # noqa: N801 (mirrors ray.exceptions)
        RayError = RuntimeError

    def __init__(self) -> None:
        self.options: dict = {}

    def cluster_resources(self) -> dict:
        return {"CPU": 8.0}

    def nodes(self) -> list[dict]:
        return [{"Alive": True, "Resources": {"CPU": 8.0}}, {"Alive": False, "Resources": {}}]

    def remote(self, fn):
        fake = self

        class Task:
            def options(self, **options):
                fake.options = options
                return self

            def remote(self, spec):
                return Ref(fn(spec))

        return Task()

    def wait(self, pending: list, num_returns: int, timeout: float) -> tuple[list, list]:
        return pending[:num_returns], pending[num_returns:]

    def get(self, ref: Ref) -> dict:
        return ref.result


def test_a_default_ray_task_declares_the_local_thread_count(three_threads, tmp_path):
    def cell(spec: Spec) -> dict:
        return {"run": spec.run, "status": "finished"}

    specs = [Spec(str(tmp_path), f"r{i}") for i in range(2)]
    lines: list[str] = []
    ray = FakeRay()
    results = RayExecutor()._run(ray, cell, specs, lines.append)
    assert [r["status"] for r in results] == ["finished"] * 2
    assert ray.options["num_cpus"] == 3.0
    assert "3 CPU(s) (3 torch threads, as local)" in lines[0]
    RayExecutor(cpus_per_run=1)._run(ray, cell, specs, lines.append)
    assert ray.options["num_cpus"] == 1


def test_a_study_resumes_with_its_dataset_and_folds_elsewhere(stores, tmp_path):
    """A config given with the folds elsewhere or the dataset at another path is the same
    study (locations are not settings)."""
    studies = tmp_path / "studies"
    run_study("s", tiny(), stores["ds"], studies, base(tmp_path / "folds"), log=quiet)
    moved = base(tmp_path / "folds2")
    moved = replace(moved, train=replace(moved.train, dataset=str(stores["moved"])))
    lines: list[str] = []
    run_study("s", tiny(), stores["moved"], studies, moved, log=lines.append)
    assert "2 of 2 cells already finished; 0 to run" in lines


def test_runs_of_one_variant_name_with_other_model_settings_are_not_one_ensemble():
    from drp.evaluation.ensembles import ensemble_mismatch

    base = {"model": {"name": "gat_edge", "hidden": 128}, "split": "mixed", "train": {}}
    wider = {"model": {"name": "gat_edge", "hidden": 64}, "split": "mixed", "train": {}}
    same = {"model": {"name": "gat_edge", "hidden": 128}, "split": "mixed", "train": {}}
    assert ensemble_mismatch({"a": base, "b": same}) is None
    assert "variant" in str(ensemble_mismatch({"a": base, "b": wider}))
