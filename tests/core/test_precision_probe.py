"""precision = auto: bf16 on a CPU only where a measured probe shows it faster, one verdict per
machine, and the probe leaves training exactly as it would have been."""

import json

import numpy as np
import pytest

import drp.core.device
from drp.core.device import choose_bf16
from drp.evaluation.runs import train_run
from tests.training.test_train import _config, _fold


@pytest.fixture()
def bf16_cpu(monkeypatch, tmp_path):
    monkeypatch.setenv("DRP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(drp.core.device, "native_bf16", lambda device: True)
    return tmp_path / "cache" / "precision_probe.json"


@pytest.mark.parametrize(("fp32_s", "bf16_s", "chosen"), [(1.0, 0.7, True), (1.0, 0.97, False)])
def test_probe_takes_bf16_only_where_it_is_faster_and_caches_the_verdict(
    bf16_cpu, fp32_s, bf16_s, chosen
):
    calls = []

    def time_step(bf16: bool) -> float:
        calls.append(bf16)
        return bf16_s if bf16 else fp32_s

    bf16, record = choose_bf16("cpu", "auto", time_step)
    assert bf16 is chosen and calls == [False, True, False, True]
    assert record["chosen_by"] == "probe" and record["cached"] is False
    assert record["fp32_step_s"] == fp32_s and record["bf16_step_s"] == bf16_s
    saved = json.loads(bf16_cpu.read_text())
    assert list(saved.values())[0]["bf16"] is chosen
    # the next run on this machine reuses the verdict without timing anything
    again, record = choose_bf16("cpu", "auto", time_step)
    assert again is chosen and record["cached"] is True and len(calls) == 4
    # explicit settings and CUDA are never probed
    assert choose_bf16("cpu", "fp32", time_step)[0] is False
    assert choose_bf16("cpu", "bf16", time_step)[0] is True
    assert len(calls) == 4


def test_probe_changes_no_training_result(tiny_dataset, tmp_path, bf16_cpu):
    fold = _fold(len(tiny_dataset.pairs))
    cpu = {"device": "cpu"}
    probed = train_run(_config(tmp_path, **cpu), tmp_path / "a", ds=tiny_dataset, fold=fold)
    assert probed["precision_choice"]["chosen_by"] == "probe"
    assert probed["precision_choice"]["cached"] is False
    cached = train_run(_config(tmp_path, **cpu), tmp_path / "b", ds=tiny_dataset, fold=fold)
    assert cached["precision_choice"]["cached"] is True
    chosen = probed["precision"]
    explicit = train_run(
        _config(tmp_path, precision=chosen, **cpu), tmp_path / "c", ds=tiny_dataset, fold=fold
    )
    # the probe's passes touch neither weights nor random state: identical runs
    assert probed["best_val_rmse"] == cached["best_val_rmse"] == explicit["best_val_rmse"]
    assert np.isfinite(probed["best_val_rmse"])
