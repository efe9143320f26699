"""A progress bar for long runs (sync, plan, demo), drawn on stderr so stdout stays data."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

Callback = Callable[[int, int | None], None]


@contextmanager
def progress_bar(
    label: str, total: int | None = None, console: Console | None = None
) -> Iterator[Callback]:
    """Yield a `(done, total)` callback that advances a transient bar (a counter if no total)."""
    out = console or Console(stderr=True)
    columns = [TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=out, transient=True) as bar:
        task = bar.add_task(label, total=total)

        def update(done: int, new_total: int | None) -> None:
            bar.update(task, completed=done, total=new_total if new_total is not None else total)

        yield update
