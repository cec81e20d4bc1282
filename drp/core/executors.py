"""Where a study's grid cells run: one after another in this process, or as Ray tasks.

An executor calls a picklable ``fn(spec) -> dict`` (``drp.study.runner.run_cell``) for every spec and
logs progress; it returns every call's result (``{"run", "status", ...}``; status ``failed``
with ``error`` for a cell that raised or whose retries ran out). ``fn`` itself skips finished cells and those
claimed by another live worker (``drp.core.claims``), so executors only schedule.

Ray is optional (``pip install -e '.[ray]'``). Without an address, :class:`RayExecutor`
starts a local Ray instance and shuts it down when the cells are done; with ``auto`` or
``ray://host:port`` it uses an existing cluster, whose workers must have ``drp`` installed and
see the study and dataset directories at the same paths (a shared file system).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from drp.core.claims import held_claims

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    threads: int  # torch threads per cell (0: leave the process default)

    def run(
        self, fn: Callable[[Any], dict], specs: Sequence[Any], log: Callable[[str], None]
    ) -> list[dict]:
        """Run ``fn`` on every spec; return the results."""
        ...


def _describe(done: int, total: int, result: dict) -> str:
    status = result.get("status")
    if status == "claimed":
        return f"[{done}/{total}] {result['run']}: held by another worker, left to it"
    if status == "finished":
        return f"[{done}/{total}] {result['run']}: already finished"
    extra = ""
    if "val_rmse" in result:
        extra = f"val RMSE {result['val_rmse']:.3f} ({result['epochs']} epochs, "
    else:
        extra = "baselines ("
    attempt = f", attempt {result['attempt']}" if result.get("attempt", 1) > 1 else ""
    return f"[{done}/{total}] {result['run']}: {extra}{result['seconds']:.0f} s{attempt})"


@dataclass
class LocalExecutor:
    """The cells one after another in this process; an error stops the study (its cell
    resumes from ``last.pt`` when the study is run again)."""

    threads: int = 0

    def run(
        self, fn: Callable[[Any], dict], specs: Sequence[Any], log: Callable[[str], None]
    ) -> list[dict]:
        results = []
        for i, spec in enumerate(specs):
            results.append(fn(spec))
            log(_describe(i + 1, len(specs), results[-1]))
        return results


def local_threads() -> int:
    """Torch threads of this process: what a :class:`LocalExecutor` cell trains with."""
    import torch

    return torch.get_num_threads()


class RayUnavailable(RuntimeError):
    """Ray is not installed."""


def import_ray():
    try:
        import ray
    except ImportError:
        raise RayUnavailable(
            "the ray executor needs Ray: pip install -e '.[ray]' (or pip install 'ray[tune]')"
        ) from None
    return ray


@contextmanager
def ray_session(
    address: str | None = None,
    num_cpus: int | None = None,
    log: Callable[[str], None] | None = None,
) -> Iterator[Any]:
    """Ray, initialised: the instance this process already has, else a connection to
    ``address`` (``auto``, ``ray://host:port``), else a local instance with ``num_cpus`` CPUs;
    one started here is shut down on exit."""
    ray = import_ray()
    started = not ray.is_initialized()
    if not started and address and log:
        log(f"ray: already initialised in this process; --address {address} not used")
    if started:
        ray.init(
            address=address,
            num_cpus=None if address else num_cpus,
            include_dashboard=False,
            log_to_driver=False,
            logging_level="ERROR",
        )
    try:
        yield ray
    finally:
        if started:
            ray.shutdown()


@dataclass
class RayExecutor:
    """Every cell is one Ray task declaring ``cpus_per_run`` CPUs and ``gpus_per_run`` GPUs
    (fractions pack several runs on one card). A task whose worker dies is retried up to
    ``max_retries`` times; the retry, on any node, takes over its own dead attempt's claim (the
    claim names the Ray task) and resumes the run from its ``last.pt``. An error raised by the cell's own code is not retried: it is
    reported, the other cells go on, and the study fails at the end naming it.

    Args:
        address: None starts (and later stops) a local instance with ``num_cpus`` CPUs;
            ``auto`` or ``ray://host:port`` connects to a running cluster.
        cpus_per_run: CPUs each task declares, and its torch threads. None (the default):
            this process's torch threads, which a :class:`LocalExecutor` run uses, so that both
            executors give the same metrics (torch's sums depend on the thread count); the
            task declares that many CPUs, at most the largest node's.
    """

    address: str | None = None
    cpus_per_run: float | None = None
    gpus_per_run: float = 0.0
    max_retries: int = 3
    num_cpus: int | None = None
    poll_seconds: float = 10.0

    @property
    def threads(self) -> int:
        """Torch threads per run: ``cpus_per_run``, by default this process's (the local
        executor's)."""
        if self.cpus_per_run is None:
            return local_threads()
        return max(1, int(self.cpus_per_run))

    def task_cpus(self, node_cpus: float = 0.0) -> float:
        """CPUs a task declares: ``cpus_per_run``, by default :attr:`threads` capped at
        ``node_cpus`` (the largest node's; 0: unknown), so a task always fits on a node."""
        if self.cpus_per_run is not None:
            return self.cpus_per_run
        return float(min(self.threads, node_cpus) if node_cpus > 0 else self.threads)

    def run(
        self, fn: Callable[[Any], dict], specs: Sequence[Any], log: Callable[[str], None]
    ) -> list[dict]:
        if not specs:
            return []
        with ray_session(self.address, self.num_cpus, log) as ray:
            return self._run(ray, fn, specs, log)

    def _run(self, ray, fn, specs, log) -> list[dict]:
        resources = ray.cluster_resources()
        node_cpus = max(
            (n.get("Resources", {}).get("CPU", 0) for n in ray.nodes() if n.get("Alive")),
            default=0,
        )
        cpus = self.task_cpus(node_cpus)
        threads = (
            "" if self.cpus_per_run is not None else f" ({self.threads} torch threads, as local)"
        )
        log(
            f"ray: {resources.get('CPU', 0):.0f} CPUs, {resources.get('GPU', 0):.0f} GPUs; "
            f"{cpus:g} CPU(s){threads} and {self.gpus_per_run:g} GPU(s) per run, "
            f"{len(specs)} cells"
        )
        task = ray.remote(fn).options(
            num_cpus=cpus,
            num_gpus=self.gpus_per_run,
            max_retries=self.max_retries,
            retry_exceptions=False,
        )
        study = Path(specs[0].study)
        by_ref = {task.remote(spec): spec for spec in specs}
        pending, results, failed, done = list(by_ref), [], 0, 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1, timeout=self.poll_seconds)
            for ref in ready:
                spec = by_ref[ref]
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    failed += 1
                    lines = str(exc).strip().splitlines() or [type(exc).__name__]
                    reason = lines[-1][:300]
                    results.append({"run": spec.run, "status": "failed", "error": reason})
                    log(f"{spec.run} failed (after up to {self.max_retries} retries): {reason}")
                    continue
                done += 1
                results.append(result)
                log(_describe(done, len(specs), result))
            if ready or not pending:
                running = len(held_claims(study))
                log(
                    f"cells: {done} done, {running} running, {failed} failed, "
                    f"{len(pending)} not finished"
                )
        return results
