"""Comparing two outcomes of one trial bit for bit: a stored trial and its re-run
(`suite verify`), or a plug-in task's `run_batch` and its `run` alone (the runner)."""

from suite.errors import PluginError
from suite.study.plugin_loading import origin_of
from suite.tasks.base import Task, TrialOutcome


def _curve_value(v):
    return None if v is None or v != v else float(v)


def outcome_differences(stored: dict, curves: dict, blobs: dict, new: dict,
                        new_curves: dict, new_blobs: dict, timings=()) -> list[str]:
    """Every way the re-run differs from the stored trial (empty when bit-identical);
    the metrics named in `timings` (wall-clock measurements) are not compared."""
    out = []
    if stored["status"] != new["status"]:
        out.append(f"status: stored {stored['status']!r}, re-run {new['status']!r}")
    for k in sorted((stored["metrics"].keys() | new["metrics"].keys()) - set(timings)):
        a, b = stored["metrics"].get(k), new["metrics"].get(k)
        if a != b or type(a) is not type(b):
            out.append(f"metrics.{k}: stored {a!r}, re-run {b!r}")
    for k in sorted(curves.keys() | new_curves.keys()):
        a = curves.get(k, [])
        b = [_curve_value(v) for v in new_curves.get(k, [])]
        if a != b:
            out.append(f"curves.{k}: {_first_difference(a, b)}")
    for k in sorted(blobs.keys() | new_blobs.keys()):
        if blobs.get(k) != new_blobs.get(k):
            out.append(f"blobs.{k}: the bytes differ")
    return out


def _first_difference(a: list, b: list) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"epoch {i + 1}: stored {x!r}, re-run {y!r}"
    return f"stored {len(a)} values, re-run {len(b)}"


def compare_batch(task: Task, batched: TrialOutcome, alone: TrialOutcome, seed: int) -> None:
    """Refuse a `run_batch` whose outcome for a seed differs from `run`'s alone."""
    def row(o):
        return {"status": o.status, "metrics": o.metrics}

    diffs = outcome_differences(row(alone), alone.curves, alone.blobs, row(batched),
                                batched.curves, batched.blobs)
    if diffs:
        first = diffs[0].replace("re-run", "run_batch").replace("stored", "run")
        source = origin_of("task", task.name).source
        raise PluginError(f"The plug-in task '{task.name}' ({source}) breaks the task "
                          f"contract: run_batch gave seed index {seed} other results than "
                          f"run alone ({first}).")
