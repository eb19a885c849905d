"""The report's sentence on how a task's Optuna searches evaluated their trials (the
`report_notes` of the tasks that search: mnist-search, the class-area tasks)."""


def optuna_rounds(searches) -> list[str]:
    """How many Optuna trials the searches evaluated at a time, as one sentence (none when
    no trial ran an Optuna search): batch-parallel TPE is not sequential TPE. `searches`
    holds, per trial, (most trials of a round, every suggestion random) or None."""
    searches = [s for s in searches if s is not None]
    if not searches:
        return []
    widths = sorted({w for w, _ in searches})
    random_only = all(r for _, r in searches)
    if widths == [1]:
        return ["Optuna trials evaluated one at a time" + (
            "." if random_only else " (sequential TPE).")]
    n = " or ".join(map(str, widths)) + (" (by configuration)" if len(widths) > 1 else "")
    if random_only:
        return [f"Optuna trials evaluated {n} at a time; every suggestion was random (the "
                "random sampler or TPE's startup trials), so they are those a sequential "
                "search makes."]
    return [f"Optuna trials evaluated {n} at a time (batch-parallel TPE: not sequential "
            "TPE): each round asks that many trials, evaluates them together and tells them "
            "in trial order, and TPE counts the round's pending trials as bad ones (constant "
            "liar), so its suggestions differ from those of a search one trial at a time."]


def tpe_rounds(rows: list[dict]) -> list[str]:
    """The sentence for the class-area tasks' TPE searches (`artifacts["evaluations"]`)."""
    return optuna_rounds(
        (min(a.get("tpe", {}).get("parallel", 1), r["config"].get("budget", 1)), False)
        if "tpe" in (a := r.get("artifacts", {})).get("evaluations", {}) else None
        for r in rows)
