"""Evaluating a batch of independent items where the caller runs.

A search that proposes several candidates at once (a round of Optuna trials) hands them to
`inner_map(fn, items)`. When the search itself runs as a task on a dask.distributed
cluster, the items go to that cluster as tasks of their own (nested submission), so the
other workers evaluate them while the search task waits; anywhere else they are evaluated
here, one after the other. Either way the results come back in item order, so what the
search does next never depends on which evaluation finished first.

`fn` and the items travel to other processes: `fn` must be a module-level function and
each item must carry everything the evaluation needs (config, seeds, device, torch
threads), cheaply picklable. dask is optional: it is imported only to ask whether this
code runs on one of its workers.
"""

from collections.abc import Callable, Iterable


def on_cluster() -> bool:
    """True inside a task on a dask.distributed worker."""
    try:
        from distributed import get_worker
    except ImportError:  # dask is optional
        return False
    try:
        get_worker()
    except ValueError:  # "No worker found": not inside a task
        return False
    return True


def inner_map(fn: Callable, items: Iterable, local: Callable | None = None) -> list:
    """[fn(item) for item in items], on the caller's dask cluster when there is one.

    `local`, when given, evaluates an item in this process instead of `fn` (say, a closure
    over data already in memory); it must return what `fn` returns. A single item is
    always evaluated here: shipping it would only move the work while this task waits.
    """
    items = list(items)
    if len(items) > 1 and on_cluster():
        return _on_cluster(fn, items)
    return [(local or fn)(item) for item in items]


def _on_cluster(fn: Callable, items: list) -> list:
    from distributed import worker_client

    # worker_client secedes this task from its worker's thread pool while it waits, so the
    # inner tasks can use every thread of the cluster, this worker's included.
    with worker_client() as client:
        futures = client.map(fn, items, pure=False)  # equal items are still separate tasks
        return client.gather(futures)
