"""Where tensors live: device names, the model's device, and bf16 autocast on CUDA.

Every command takes a device name (``auto``, ``cpu``, ``cuda``); code that runs a model creates
its tensors on :func:`model_device` of that model, never on the default device. Training steps run
under bf16 autocast (:func:`autocast`) where :func:`use_bf16` says so; predictions and
interpretation run in float32 everywhere.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import torch
from torch import nn

from drp.core.files import exclusive_lock

__all__ = [
    "autocast",
    "choose_bf16",
    "model_device",
    "native_bf16",
    "resolve_device",
    "same_device",
    "use_bf16",
]

#: bf16 is chosen by the probe only when its step takes at most this share of float32's
PROBE_MARGIN = 0.95


def resolve_device(name: str | torch.device) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; other names as given.

    Raises:
        ValueError: ``cuda`` was asked for but no CUDA device is available.
    """
    if isinstance(name, torch.device):
        device = name
    elif name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but no CUDA device is available")
    return device


def model_device(model: nn.Module) -> torch.device:
    """The device of ``model``'s parameters (CPU for a model without parameters)."""
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def same_device(a: torch.device | str, b: torch.device | str) -> bool:
    """Whether ``a`` and ``b`` name one device (``cuda`` and ``cuda:0`` do, on one-GPU use)."""
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.type != "cuda" or a.index == b.index:
        return True
    current = torch.cuda.current_device() if torch.cuda.is_available() else 0
    return (a.index if a.index is not None else current) == (
        b.index if b.index is not None else current
    )


def native_bf16(device: torch.device | str) -> bool:
    """Whether ``device`` is a CPU that computes bf16 in hardware (AVX512-BF16 or AMX)."""
    if torch.device(device).type != "cpu":
        return False
    cpu = getattr(torch, "cpu", None)
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(bool(getattr(cpu, name, lambda: False)()) for name in checks)


def use_bf16(device: torch.device | str, precision: str) -> bool:
    """Resolve ``train.precision``: ``auto`` -> bf16 on CPUs with bf16 instructions only.

    Measured on GDSC2 mixed fold 0 (benchmarks/RESULTS.md): on the AMD EPYC of the benchmarks
    (AVX512-BF16) the step is memory-bound and bf16 makes it 1.2-1.5x faster, with accuracy
    unchanged over three seeds. On an H200 the step is bound by kernel launches: bf16 epochs
    took as long as float32 ones (1.05-1.25 s against 0.95-1.08 s), so CUDA stays float32.
    A CPU without bf16 instructions emulates it, slower than float32.
    """
    if precision == "auto":
        return native_bf16(device)
    return precision == "bf16"


def choose_bf16(
    device: torch.device | str,
    precision: str,
    time_step: Callable[[bool], float] | None = None,
    workload: str = "",
) -> tuple[bool, dict]:
    """Resolve ``train.precision`` with a measured probe; returns (bf16?, what decided it).

    ``auto`` on a CPU with bf16 instructions times a training step both ways (``time_step(bf16)``
    -> seconds) and takes bf16 only where it is at least 5% faster: on the 2-core AMD EPYC of
    the benchmarks it was 1.2-1.5x faster, on another machine of the same kind slower than
    float32 (7.4-7.8 s against 6.3-7.5 s per epoch). Each precision is timed twice, interleaved,
    and its best time counts. The verdict is cached per machine (CPU model, torch version and
    threads) in ``precision_probe.json`` under ``$DRP_CACHE_DIR`` (default
    ``~/.cache/drp``), so every run on one machine makes the same choice and seeded runs repeat.
    """
    if precision != "auto" or not native_bf16(device) or time_step is None:
        bf16 = use_bf16(device, precision) if precision != "auto" else False
        if precision != "auto":
            reason = "config"
        elif torch.device(device).type != "cpu":
            reason = "cuda: float32 (launch-bound steps)"
        else:
            reason = "no bf16 instructions" if not native_bf16(device) else "no probe"
        return bf16, {"precision": "bf16" if bf16 else "fp32", "chosen_by": reason}
    path = _probe_cache()
    key = _machine_key() + (f" | {workload}" if workload else "")
    # under a lock, so runs started together share one verdict rather than each probing
    with exclusive_lock(path.with_suffix(".lock"), required=False):
        cached = _read_json(path)
        if key in cached:
            record = dict(cached[key]) | {"cached": True}
        else:
            # interleaved, best of two each: a burst of load on the machine hits both alike
            times = [(time_step(False), time_step(True)) for _ in range(2)]
            fp32, bf16 = min(t[0] for t in times), min(t[1] for t in times)
            record = {"fp32_step_s": round(fp32, 5), "bf16_step_s": round(bf16, 5)}
            record["bf16"] = bool(bf16 <= PROBE_MARGIN * fp32)
            _write_cache(path, key, record)
            record = record | {"cached": False}
    choice = bool(record["bf16"])
    return choice, record | {
        "precision": "bf16" if choice else "fp32",
        "chosen_by": "probe",
        "machine": key,
    }


def _probe_cache() -> Path:
    root = os.environ.get("DRP_CACHE_DIR") or Path.home() / ".cache" / "drp"
    return Path(root) / "precision_probe.json"


def _machine_key() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu} | torch {torch.__version__} | {torch.get_num_threads()} threads"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def _write_cache(path: Path, key: str, record: dict) -> None:
    from drp.core.files import atomic_write_text

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(_read_json(path) | {key: record}, indent=2))
    except OSError:
        pass  # a read-only home: the probe runs again next time


def autocast(
    device: torch.device | str, enabled: bool | None = None
) -> AbstractContextManager[object]:
    """bf16 autocast for forward passes on CUDA; a no-op context elsewhere.

    bf16 keeps float32's exponent range (no loss scaling needed) and matmuls run on tensor
    cores; reductions, softmax and layer norm stay in float32 under autocast. Callers cast
    outputs back with ``.float()``. ``enabled`` overrides the choice (tests force it on the CPU
    to check that every variant runs in mixed precision).
    """
    device = torch.device(device)
    if enabled is None:
        enabled = device.type == "cuda"
    if not enabled:
        return nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)
