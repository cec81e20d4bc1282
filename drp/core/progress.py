"""Console output shared by the commands: progress and tables that also survive a log.

In a terminal, progress is a Rich bar and tables fit the window (long cells fold onto more lines
rather than losing digits to an ellipsis). When the output is not a terminal (a log file, a
pipe, CI), progress is plain text lines and tables print at their natural width whatever
``COLUMNS`` says, so every number is whole and a line can be grepped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from rich.console import Console, RenderableType
from rich.measure import Measurement
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

T = TypeVar("T")
#: Messages and progress go to stderr; ``soft_wrap`` keeps one message on one line (a path is
#: never split).
console = Console(stderr=True, soft_wrap=True)
#: Results (the metric table of ``drp evaluate``) go to stdout: ``drp evaluate > log`` keeps them.
results_console = Console(soft_wrap=True)
#: Widest table printed outside a terminal (characters); wider tables fold their cells.
MAX_LOG_WIDTH = 1000
#: Outside a terminal, a progress line is printed at every tenth of the total and at least
#: every this many seconds.
LOG_INTERVAL_S = 10.0


def print_renderable(renderable: RenderableType, out: Console | None = None) -> None:
    """Print a Rich renderable (a table) without truncating it.

    In a terminal (or a notebook) it fits the window; otherwise it is printed at its natural
    width (at most :data:`MAX_LOG_WIDTH`), ignoring the 80 columns Rich assumes for files and
    pipes.
    """
    out = out or console
    if out.is_terminal or out.is_jupyter:
        out.print(renderable, soft_wrap=False)
        return
    measured = Measurement.get(out, out.options.update_width(MAX_LOG_WIDTH), renderable)
    width = max(out.width, min(measured.maximum, MAX_LOG_WIDTH))
    wide = Console(
        file=out.file,
        width=width,
        force_terminal=False,
        no_color=out.no_color,
        color_system=None,
        highlight=False,
    )
    wide.print(renderable, crop=False)


@dataclass
class _Task:
    """One task of a :class:`PlainProgress`."""

    description: str
    total: float | None
    completed: float = 0.0
    info: str = ""
    started: float = 0.0
    last_line: float = 0.0
    last_tenth: int = -1


class PlainProgress:
    """Text progress for logs: the subset of :class:`rich.progress.Progress` the commands use.

    A line ``description: done/total (pct%) elapsed, info`` is printed when a tenth of the total
    is crossed, at least every :data:`LOG_INTERVAL_S` seconds, and when the task completes.
    """

    def __init__(self, out: Console | None = None, interval_s: float = LOG_INTERVAL_S) -> None:
        self.out = out or console
        self.interval_s = interval_s
        self.tasks: dict[TaskID, _Task] = {}

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    def add_task(self, description: str, total: float | None = 100.0, **fields: Any) -> TaskID:
        """Start a task; ``info`` (a field) is shown after the count."""
        task_id = TaskID(len(self.tasks))
        now = time.monotonic()
        task = _Task(description, total, info=str(fields.get("info", "")), started=now)
        self.tasks[task_id] = task
        self._print(task, now)
        return task_id

    def update(
        self,
        task_id: TaskID,
        *,
        completed: float | None = None,
        total: float | None = None,
        advance: float | None = None,
        **fields: Any,
    ) -> None:
        """Record progress and print a line when one is due."""
        task = self.tasks[task_id]
        if total is not None:
            task.total = total
        if "info" in fields:
            task.info = str(fields["info"])
        before = task.completed
        if completed is not None:
            task.completed = completed
        if advance is not None:
            task.completed += advance
        if task.completed != before:
            self._maybe_print(task)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        """Add ``advance`` to a task's completed count."""
        self.update(task_id, advance=advance)

    def line(self, task: _Task) -> str:
        """The text of one progress line."""
        elapsed = time.monotonic() - task.started
        done = f"{task.completed:g}"
        if task.total:
            done += f"/{task.total:g} ({100 * task.completed / task.total:.0f}%)"
        text = f"{task.description}: {done} {elapsed:.1f} s"
        return f"{text}, {task.info}" if task.info else text

    def _maybe_print(self, task: _Task) -> None:
        now = time.monotonic()
        tenth = int(10 * task.completed / task.total) if task.total else -1
        finished = bool(task.total) and task.completed >= task.total
        if finished or tenth > task.last_tenth or now - task.last_line >= self.interval_s:
            self._print(task, now)

    def _print(self, task: _Task, now: float) -> None:
        self.out.print(self.line(task), markup=False, highlight=False, soft_wrap=True)
        task.last_line = now
        if task.total:
            task.last_tenth = int(10 * task.completed / task.total)


def make_progress(transient: bool = False, out: Console | None = None) -> Progress | PlainProgress:
    """A Rich progress bar in a terminal, else :class:`PlainProgress` (lines a log keeps)."""
    out = out or console
    if not out.is_terminal:
        return PlainProgress(out)
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.fields[info]}"),
        console=out,
        transient=transient,
    )


def track(items: Iterable[T], description: str) -> Iterator[T]:
    """Iterate with a progress bar (progress lines outside a terminal)."""
    items = list(items)
    with make_progress() as progress:
        task = progress.add_task(description, total=len(items), info="")
        for item in items:
            yield item
            progress.advance(task)


def on_steps(progress: Progress | PlainProgress, description: str) -> Callable[[int, int], None]:
    """A ``(done, total)`` callback whose bar starts at the first call, so an input error
    raised before any work prints no empty bar."""
    task: list = []

    def update(done: int, total: int) -> None:
        if not task:
            task.append(progress.add_task(description, total=total, info=""))
        progress.update(task[0], completed=done, total=total)

    return update


def on_epochs(
    progress: Progress | PlainProgress, description: str, epochs: int
) -> Callable[[dict], None]:
    """An ``on_epoch(row)`` callback: the bar advances to ``row["epoch"]`` and shows the
    training loss and validation RMSE."""
    task = progress.add_task(description, total=epochs, info="")

    def update(row: dict) -> None:
        info = f"loss {row['train_loss']:.3f}  val RMSE {row['val_rmse']:.3f}"
        progress.update(task, completed=row["epoch"], info=info)

    return update
