"""Several workers on one study directory: claims, two local processes, a killed worker, the
Ray executor (same metrics as local; a worker killed mid-cell) and `drp tune` on the fixture."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from drp.core.claims import Claim, ClaimLost, _host_id, claim_path, held_claims
from drp.core.config import ModelConfig, RunConfig, TrainConfig
from drp.core.executors import LocalExecutor
from drp.study.cells import study_cells
from drp.study.presets import Preset
from drp.study.runner import run_study
from tests.conftest import make_dataset, write_fixture_tables

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("exec")
    make_dataset(write_fixture_tables(root / "tables")).save(root / "ds")
    return root / "ds"


def preset(epochs: int = 3, folds=(0, 1), variants=("gat_edge", "fingerprint")) -> Preset:
    return Preset("tiny", variants, ("mixed",), folds, (0,), epochs, epochs, ("drug_mean",), k=3)


def base(folds_dir: Path) -> RunConfig:
    return RunConfig(
        model=ModelConfig(hidden=16),
        train=TrainConfig(batch_size=16, folds_dir=str(folds_dir), device="cpu"),
    )


def worker_code(store: Path, studies: Path, epochs: int, name: str = "s") -> str:
    """A `drp study` equivalent for a subprocess: the tiny preset, one torch thread."""
    return (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from pathlib import Path\n"
        "from tests.core.test_executors import base, preset\n"
        "from drp.core.executors import LocalExecutor\n"
        "from drp.study.runner import run_study\n"
        f"run_study({name!r}, preset({epochs}), Path({str(store)!r}), Path({str(studies)!r}), "
        f"base(Path({str(studies / 'folds')!r})), log=print, executor=LocalExecutor(threads=1))\n"
    )


def records(study: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (study / "cells").glob("*.json")}


def logged_epochs(study: Path, run: str) -> list[int]:
    """The epochs in a run's metrics.jsonl, which every training process only appends to."""
    lines = (study / "runs" / run / "metrics.jsonl").read_text().splitlines()
    return [json.loads(line)["epoch"] for line in lines]


def assert_every_cell_once(study: Path, expected: int) -> dict[str, dict]:
    """Every cell has one record, and no model's epoch was trained twice: its append-only
    log holds strictly increasing epochs (a second trainer, or a restart from scratch instead
    of a resume, would repeat them)."""
    found = records(study)
    assert len(found) == expected, sorted(found)
    for run, record in found.items():
        if record["kind"] == "model":
            epochs = logged_epochs(study, run)
            assert epochs and all(a < b for a, b in zip(epochs, epochs[1:], strict=False)), run
    assert held_claims(study) == []
    return found


def test_a_claim_is_exclusive_until_released_or_its_owner_dies(tmp_path):
    first = Claim.acquire(tmp_path, "cell")
    assert first is not None and first.attempt == 1
    assert Claim.acquire(tmp_path, "cell") is None  # held by this live process
    first.release()
    assert not claim_path(tmp_path, "cell").exists()
    # a claim left by a process that has died is taken over, counting the attempt
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    record = {"host_id": _host_id(), "pid": int(dead.stdout), "attempt": 1, "token": "x"}
    claim_path(tmp_path, "cell").write_text(json.dumps(record))
    second = Claim.acquire(tmp_path, "cell")
    assert second is not None and second.attempt == 2
    # a claim of another host is stale only once its heartbeat is old
    second.release()
    other = {"host": "elsewhere", "pid": 1, "attempt": 1, "token": "y"}
    claim_path(tmp_path, "cell").write_text(json.dumps(other))
    assert Claim.acquire(tmp_path, "cell") is None
    old = time.time() - 10_000
    os.utime(claim_path(tmp_path, "cell"), (old, old))
    assert Claim.acquire(tmp_path, "cell").attempt == 2
    # a live process of this host keeps its claim however old its heartbeat
    held = Claim.acquire(tmp_path, "live")
    os.utime(claim_path(tmp_path, "live"), (old, old))
    assert Claim.acquire(tmp_path, "live", stale_after=1.0) is None
    held.heartbeat()
    # once taken over, the former owner's heartbeat says so and its release removes nothing
    claim_path(tmp_path, "live").write_text(json.dumps({"host": "x", "pid": 1, "token": "z"}))
    with pytest.raises(ClaimLost):
        held.heartbeat()
    held.release()
    assert claim_path(tmp_path, "live").exists()
    # a damaged claim, and one whose pid now belongs to a later process, are abandoned
    claim_path(tmp_path, "torn").write_text('{"host_id": ')
    assert Claim.acquire(tmp_path, "torn") is not None
    reused = {"host_id": _host_id(), "pid": os.getpid(), "started_ticks": -1, "token": "r"}
    claim_path(tmp_path, "reused").write_text(json.dumps(reused))
    assert Claim.acquire(tmp_path, "reused") is not None


def test_a_study_refuses_a_fixed_fold_seed(store, tmp_path):
    from dataclasses import replace

    cfg = base(tmp_path / "folds")
    cfg = replace(cfg, train=replace(cfg.train, fold_seed=0))
    with pytest.raises(ValueError, match="train.fold_seed is for single runs"):
        run_study("s", preset(), store, tmp_path / "studies", cfg, log=lambda m: None)


def test_two_local_processes_share_a_study_without_running_a_cell_twice(store, tmp_path):
    studies = tmp_path / "studies"
    code = worker_code(store, studies, epochs=40)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=tmp_path,
        )  # fmt: skip
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), outputs
    found = assert_every_cell_once(studies / "s", expected=6)  # 2 variants + 1 baseline, x 2
    assert {r["execution"]["attempt"] for r in found.values()} == {1}
    workers = {r["execution"]["worker"] for r in found.values()}
    assert len(workers) == 2, "both processes ran cells"
    assert all("held by another worker" in o or "already finished" in o for o in outputs)
    results = pd.read_csv(studies / "s" / "results.csv")
    assert len(results) == 6 and results.rmse.notna().all()


def _wait_for(predicate, timeout: float = 120.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise TimeoutError("the condition never held")
        time.sleep(0.05)


def _kill_when_training(study: Path, run: str) -> int:
    """SIGKILL the worker that holds ``run`` once it has saved a checkpoint; its pid."""
    claim = claim_path(study, run)
    _wait_for(lambda: claim.exists() and (study / "runs" / run / "last.pt").exists())
    pid = json.loads(claim.read_text())["pid"]
    os.kill(pid, signal.SIGKILL)
    return pid


def test_a_killed_study_resumes_the_interrupted_cell_from_last_pt(store, tmp_path):
    studies = tmp_path / "studies"
    proc = subprocess.Popen([sys.executable, "-c", worker_code(store, studies, epochs=60)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    run = "gat_edge__mixed__f0__s0"
    _kill_when_training(studies / "s", run)
    proc.wait(timeout=60)
    assert not (studies / "s" / "cells" / f"{run}.json").exists()
    run_study("s", preset(60), store, studies, base(studies / "folds"), log=lambda m: None,
              executor=LocalExecutor(threads=1))  # fmt: skip
    found = assert_every_cell_once(studies / "s", expected=6)
    assert found[run]["execution"]["attempt"] == 2
    assert len(found[run]["history"]) == found[run]["epochs"]  # the resumed run kept its start


@pytest.fixture(scope="module")
def ray_instance():
    """One local Ray instance (2 CPUs) for the module; executors reuse it."""
    ray = pytest.importorskip("ray", reason="Ray tests need pip install -e '.[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield
    ray.shutdown()


def test_ray_gives_the_metrics_of_the_local_executor(store, tmp_path, ray_instance):
    from drp.core.executors import RayExecutor

    studies, cfg = tmp_path / "studies", base(tmp_path / "folds")
    run_study("local", preset(), store, studies, cfg, log=lambda m: None,
              executor=LocalExecutor(threads=1))  # fmt: skip
    lines: list[str] = []
    run_study("ray", preset(), store, studies, cfg, log=lines.append,
              executor=RayExecutor(poll_seconds=0.5))  # fmt: skip
    keys = ["variant", "split", "fold", "seed"]
    local = pd.read_csv(studies / "local" / "results.csv").sort_values(keys, ignore_index=True)
    remote = pd.read_csv(studies / "ray" / "results.csv").sort_values(keys, ignore_index=True)
    assert len(local) == len(remote) == 6
    pd.testing.assert_frame_equal(local[keys], remote[keys])
    for metric in ("rmse", "pearson", "per_drug_r"):
        assert (local[metric] - remote[metric]).abs().max() < 1e-6, metric
    assert any(line.startswith("cells: 6 done, 0 running, 0 failed") for line in lines)


def test_ray_retries_a_killed_worker_and_every_cell_finishes_once(store, tmp_path, ray_instance):
    from drp.core.executors import RayExecutor

    studies = tmp_path / "studies"
    run = "gat_edge__mixed__f1__s0"
    errors: list[BaseException] = []

    def study() -> None:
        try:
            run_study("s", preset(60), store, studies, base(tmp_path / "folds"),
                      log=lambda m: None, executor=RayExecutor(poll_seconds=0.5))  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 (re-raised in the test thread)
            errors.append(exc)

    thread = threading.Thread(target=study)
    thread.start()
    killed = _kill_when_training(studies / "s", run)
    thread.join(timeout=300)
    assert not thread.is_alive() and not errors, errors
    found = assert_every_cell_once(studies / "s", expected=6)
    assert found[run]["execution"]["attempt"] == 2
    worker = found[run]["execution"]["worker"]
    assert not worker.endswith(f":{killed}")
    assert not worker.endswith(f":{os.getpid()}"), "a Ray task, not the driver, finished it"


def test_study_cells_put_each_folds_baselines_first(store, tmp_path):
    specs = study_cells(tmp_path, preset(), store, base(tmp_path))
    assert [s.variant for s in specs[:3]] == ["baselines", "gat_edge", "fingerprint"]
    assert len({s.run for s in specs}) == len(specs) == 6


def test_tune_two_trials_writes_a_config_that_drp_train_runs(store, tmp_path, ray_instance,
                                                              monkeypatch):  # fmt: skip
    from typer.testing import CliRunner

    from drp.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "space.toml").write_text(
        "[tune]\nnum_samples = 2\nmax_epochs = 3\ngrace_period = 1\n[space]\n"
        '"train.lr" = { loguniform = [1e-3, 1e-2] }\n"model.hidden" = { choice = [8, 16] }\n'
    )
    common = ["--dataset", str(store), "--set", "train.k=3", "--set", "train.batch_size=16"]
    cli = CliRunner()
    result = cli.invoke(app, ["tune", "--space", "space.toml", "--out", "t", *common])
    assert result.exit_code == 0, result.output
    trials = pd.read_csv("t/trials.csv")
    assert len(trials) == 2 and trials.val_rmse.notna().all()
    record = json.loads(Path("t/tune.json").read_text())
    assert record["best_val_rmse"] == pytest.approx(trials.val_rmse.min())
    assert "test pairs never read" in record["scored_on"]
    result = cli.invoke(app, ["train", "--config", "t/best.toml", "--epochs", "1", "--out", "r",
                              "--device", "cpu", *common])  # fmt: skip
    assert result.exit_code == 0, result.output
    trained = json.loads(Path("r/config.json").read_text())
    assert trained["model"]["hidden"] == record["best_params"]["model.hidden"]
    assert trained["train"]["lr"] == pytest.approx(record["best_params"]["train.lr"])


def test_a_trial_cannot_read_test_responses(store):
    from drp.featurize.store import FeaturizedDataset
    from drp.splits.cache import load_or_make_folds
    from drp.training.tune import blind_test

    ds = FeaturizedDataset.load(store)
    fold = load_or_make_folds(ds, "mixed", 3, 0, store / "folds")[0]
    blind = blind_test(ds, fold)
    assert blind.pairs.ln_ic50.iloc[fold.test].isna().all()
    assert blind.pairs.ln_ic50.iloc[fold.train].notna().all()
    assert ds.pairs.ln_ic50.notna().all()  # the original is untouched


def test_bad_search_spaces_are_refused_clearly(tmp_path):
    from drp.training.tune import DEFAULT_SPACE, SearchSpace

    assert SearchSpace.read(DEFAULT_SPACE).num_samples >= 1
    cases = {
        '[space]\n"train.split" = { choice = ["mixed"] }\n': "fixed by the question",
        '[space]\n"model.hidden" = { normal = [1, 2] }\n': "give one of",
        '[space]\n"model.heads" = { choice = [3] }\n': "divisible",
        '[space]\n"lr" = { choice = [1] }\n': "model.<key> or train.<key>",
        '[space]\n"model.hidden" = { randint = [64] }\n': "needs \\[low, high\\]",
        '[space]\n"model.hidden" = { choice = [] }\n': "non-empty list",
        '[space]\n"train.lr" = { loguniform = [0, 1] }\n': "low > 0",
        '[tune]\nnum_samples = "8"\n[space]\n"train.lr" = { uniform = [0.1, 1] }\n': "integer",
        '[tune]\nreduction_factor = 1\n[space]\n"train.lr" = { uniform = [0.1, 1] }\n': ">= 2",
        'space = "x"\n': "needs a \\[space\\] table",
        'tune = 3\n[space]\n"train.lr" = { uniform = [0.1, 1] }\n': "must be a table",
        '[space]\n"train.batch_size" = { uniform = [16, 64] }\n': "not a valid int",
    }
    for text, message in cases.items():
        (tmp_path / "s.toml").write_text(text)
        with pytest.raises(ValueError, match=message):
            SearchSpace.read(tmp_path / "s.toml")


def test_a_leftover_claim_of_a_dead_worker_is_cleared(tmp_path):
    from drp.core.claims import clear_stale

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    record = {"host_id": _host_id(), "pid": int(dead.stdout), "token": "t"}
    claim_path(tmp_path, "done").parent.mkdir(parents=True)
    claim_path(tmp_path, "done").write_text(json.dumps(record))
    live = Claim.acquire(tmp_path, "live")
    clear_stale(tmp_path, "done")
    clear_stale(tmp_path, "live")
    assert held_claims(tmp_path) == ["live"] and live is not None


def test_the_ray_executor_without_ray_is_a_clear_error(store, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from drp.cli import app

    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(
        app, ["study", "--preset", "smoke", "--dataset", str(store), "--executor", "ray"]
    )
    assert result.exit_code == 1
    assert "the ray executor needs Ray: pip install -e '.[ray]'" in result.output
