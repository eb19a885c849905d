"""An Optuna search over MNIST MLPs (depth, widths, learning rate); the best is retrained.

One suite trial is one whole search. Each of `n_trials` Optuna trials picks 1-4 hidden
layers of 32-256 units (steps of 32) and a learning rate in {1e-2, 1e-3, 1e-4}, and scores
them by the mean over `executions` trainings (the notebook's executions per trial) on the
training part of each training's validation accuracy, taken as `score` says:
- `last_epoch` (default): after the last epoch, the model that is kept;
- `best_epoch`: the best over the epochs, as Keras Tuner scores the notebook's search
  (keras_tuner/src/engine/tuner_utils.py: `convert_to_metrics_dict` takes each
  execution's History at the epoch with the best objective value, and
  `average_metrics_dicts` averages those over the executions). It is the optimistic
  score of a model that is not kept (training goes on past that epoch), and costs one
  validation pass per epoch. The best configuration is then retrained on the
whole development set (training + validation parts) and tested. Every Optuna trial's
numbers are stored in `artifacts["search"]`.

Seeds. The k-th finished Optuna trial is suggested by a fresh sampler seeded with the k-th
seed derived from the trial's `sampler` seed, given the finished trials before it, so the
suggestions depend on the seeds and the history only: a resumed search makes the same
choices as one that was never interrupted. Execution e trains from the e-th seeds derived
from `init` and `order` (the same for every configuration: paired scores); the retrain
uses the `init` and `order` seeds themselves.

Parallel trials (`parallel` = W, default 1). The search goes in rounds: it asks W Optuna
trials (the k-th counted trial from its own k-th sampler seed, as above), evaluates the W
configurations as one batch, then tells all W in trial-number order. The suggestions thus
depend on the seeds, W and the history only, not on which evaluation finished first nor
on where they ran: the in-process and the cluster paths give identical numbers. TPE sees
the trials of the round still pending (Optuna's constant liar: pending trials count as
bad ones), so the later asks of a round move away from the earlier ones instead of
repeating the suggestion the shared history favours; with W = 1 nothing is pending and the
search is sequential TPE. With W > 1 it is batch-parallel TPE, a different search (each
round's asks know less), which is why W is part of the trial's identity and the report
says it. Random suggestions (the random sampler, TPE's startup trials) do not depend on W.
The W evaluations go through `suite.tasks._inner_map.inner_map`: when the search runs as a task on
a dask.distributed cluster, they are tasks on that cluster (each worker loads the data
split once and keeps it); elsewhere they run here, one after the other.

Resume. Given `checkpoint_dir` (the runner passes `<store>.checkpoints`), the search keeps
Optuna's journal of its trials there, in `<trial_id>.optuna.log`, and a search that was cut
short continues from its finished Optuna trials. A round records every result before it
tells any, so a round cut short either has all its results (it is told on resume) or has
none told (its trials are marked failed and the whole round is asked again, from the same
seeds and history): either way the search makes the choices it would have made
uninterrupted. With a PostgreSQL store the runner passes `optuna_url` instead, and the
study (`mnist-search-<key>`) lives in the store's database, schema `optuna`, so the search
resumes from any machine. A finished search is a stored suite trial, skipped like any
other. Without either the search lives in memory.

With Optuna's default of 10 startup trials, TPE draws its first 10 suggestions at random, so
the notebook's 5-trial search is a seeded random search (like its Keras RandomSearch); set
`n_startup_trials` lower to let TPE model the history sooner.
"""

import functools
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

import optuna
import torch
from optuna.trial import TrialState

from suite import numerics
from suite.analysis import mnist_findings
from suite.seeding import TrialSeeds
from suite.tasks import mnist
from suite.tasks import params as P
from suite.tasks._inner_map import inner_map
from suite.tasks._search_notes import optuna_rounds
from suite.tasks.base import Task, TrialOutcome, unit_bounds
from suite.training.mnist_data import Split
from suite.training.models import count_parameters
from suite.training.recipe import run_epoch

SAMPLERS = {
    # constant_liar: TPE sees the pending trials of a round (see the module docstring)
    "tpe": lambda seed, startup: optuna.samplers.TPESampler(seed=seed, n_startup_trials=startup,
                                                            constant_liar=True),
    "random": lambda seed, startup: optuna.samplers.RandomSampler(seed=seed),
}


def _floats(v) -> bool:
    return isinstance(v, list) and len(v) > 0 and all(
        isinstance(x, int | float) and not isinstance(x, bool) and x > 0 for x in v)


SCORES = {"last_epoch": "each execution's validation accuracy after its last epoch",
          "best_epoch": "each execution's best validation accuracy over its epochs (Keras "
                        "Tuner's objective for executions_per_trial > 1)"}

PARAMS = {
    **mnist.DATA_PARAMS,
    "checkpoint_dir": P.Param(None, "a folder path, or omitted (search kept in memory)",
                              lambda v: v is None or (isinstance(v, str) and v != ""),
                              "where the Optuna journal of a search is kept (set by the runner)"),
    "optuna_url": P.Param(None, "an Optuna RDB URL, or omitted", lambda v: v is None or (
        isinstance(v, str) and "://" in v), "where the search's Optuna study is kept instead "
        "of the journal (set by the runner for a server store)"),
    "min_layers": P.int_range(1, 1, 20, "fewest hidden layers"),
    "max_layers": P.int_range(4, 1, 20, "most hidden layers"),
    "units_low": P.size("width", 32, 1, doc="fewest units per hidden layer"),
    "units_high": P.size("width", 256, 1, doc="most units per hidden layer"),
    "units_step": P.size("width", 32, 1, doc="step of the units grid"),
    "lrs": P.Param([1e-2, 1e-3, 1e-4], "a non-empty list of positive floats", _floats,
                   "learning rates to choose from"),
    "n_trials": P.size("count", 5, 1, doc="Optuna trials (configurations tried)"),
    "executions": P.size("count", 3, 1, doc="trainings per configuration (seeds), averaged"),
    "sampler": P.choice("tpe", SAMPLERS, "Optuna sampler"),
    "n_startup_trials": P.size("count", 10, 0, doc="TPE: random suggestions before modelling"),
    "parallel": P.size("count", 1, 1, doc="Optuna trials asked, evaluated and told together "
                            "(1: sequential TPE; more: batch-parallel TPE)"),
    "score": P.choice("last_epoch", SCORES,
                      "each execution's validation accuracy: after the last epoch, or the "
                      "best epoch's (Keras Tuner's)"),
    "activation": mnist.PARAMS["activation"],
    "optimizer": mnist.PARAMS["optimizer"],
    "batch_size": mnist.PARAMS["batch_size"],
    "epochs": mnist.PARAMS["epochs"],
}
RUNTIME = (*mnist.RUNTIME, "checkpoint_dir", "optuna_url")

METRICS = ("test_accuracy", "best_val_accuracy", "best_n_layers", "best_lr", "n_parameters",
           "final_loss", "n_trials_finished", "n_trials_resumed", "n_train", "n_test")
CURVES = ("search_value", "search_best", "train_loss")
FIGURES = ("search_history", "confusion_matrix")


def check(config, fail) -> None:
    if config["min_layers"] > config["max_layers"]:
        fail("min_layers", f"at most max_layers ({config['max_layers']})", config["min_layers"])
    if config["units_low"] > config["units_high"]:
        fail("units_low", f"at most units_high ({config['units_high']})", config["units_low"])
    if (config["units_high"] - config["units_low"]) % config["units_step"]:
        fail("units_step", f"a step that divides units_high - units_low "
             f"({config['units_high'] - config['units_low']})", config["units_step"])


def suggest(trial, config) -> dict:
    """The notebook's search space: depth, then one width per layer, then the lr."""
    n = trial.suggest_int("n_layers", config["min_layers"], config["max_layers"])
    hidden = [trial.suggest_int(f"units_{i}", config["units_low"], config["units_high"],
                                step=config["units_step"]) for i in range(n)]
    return {"hidden": hidden, "lr": trial.suggest_categorical("lr", list(config["lrs"]))}


def choice_of(params: dict) -> dict:
    """The configuration an Optuna trial's params describe."""
    return {"hidden": [params[f"units_{i}"] for i in range(params["n_layers"])],
            "lr": params["lr"]}


def fit(config, seeds, choice, data, device, init_seed=None, order_seed=None, val=None):
    """Train one model of `choice` on `data`; returns (model, epoch losses, why it diverged
    or '', validation accuracy after each epoch: [] unless `val` is given)."""
    model, loss_fn, optimizer = mnist.build(config, seeds, choice["hidden"], choice["lr"],
                                            init_seed)
    model.to(device)
    order = (seeds.generator("order") if order_seed is None
             else torch.Generator().manual_seed(order_seed))
    losses, accuracies = [], []
    for epoch in range(config["epochs"]):
        losses.append(run_epoch(model, loss_fn, mnist.LOSS, optimizer, data,
                                config["batch_size"], order).item())
        if not math.isfinite(losses[-1]):
            return model, losses, f"non-finite training loss at epoch {epoch + 1}", accuracies
        if val is not None:
            accuracies.append(val_accuracy(model, val))
    return model, losses, "", accuracies


def val_accuracy(model, val) -> float:
    return mnist.class_report(mnist.confusion(model, val))["accuracy"]


def score(config, seeds: TrialSeeds, choice, train, val, device) -> tuple[list[float], str]:
    """Each execution's validation accuracy (last or best epoch, as `score` says); the
    first divergence, if any."""
    n, per_epoch = config["executions"], config["score"] == "best_epoch"
    scores = []
    for init_seed, order_seed in zip(seeds.split("init", n), seeds.split("order", n),
                                     strict=True):
        model, _, diverged, accuracies = fit(config, seeds, choice, train, device, init_seed,
                                             order_seed, val if per_epoch else None)
        if diverged:
            return scores, diverged
        scores.append(max(accuracies) if per_epoch else val_accuracy(model, val))
    return scores, ""


def open_study(config, seeds: TrialSeeds) -> tuple[optuna.Study, str | None, object]:
    """The search's Optuna study: in the store's database when the runner gives
    `optuna_url` (a server store: resumable from any machine), else from its journal when
    there is a checkpoint folder, else in memory. Also returns where it is kept (no
    password) and its RDB storage (None elsewhere), to close with `close_rdb_storage`."""
    if not config["checkpoint_dir"] and not config["optuna_url"]:
        return optuna.create_study(direction="maximize"), None, None
    from suite.identity import checkpoint_key
    from suite.store import public_target, rdb_storage

    key = checkpoint_key(config, seeds, RUNTIME)
    if config["optuna_url"]:
        name = f"mnist-search-{key}"
        storage = rdb_storage(config["optuna_url"])
        study = optuna.create_study(storage=storage, study_name=name, direction="maximize",
                                    load_if_exists=True)
        return study, f"{public_target(config['optuna_url'])} study {name}", storage
    folder = Path(config["checkpoint_dir"])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{key}.optuna.log"
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(path)))
    return optuna.create_study(storage=storage, study_name="mnist-search", direction="maximize",
                               load_if_exists=True), str(path), None


def finished(study: optuna.Study) -> list:
    """Trials that count towards the budget, in order: completed, or failed by divergence,
    in a round whose every trial was evaluated (not those of a round an interruption cut
    short, which is asked again)."""
    trials = study.get_trials(deepcopy=False)
    rounds: dict[int, list] = {}
    for t in trials:
        rounds.setdefault(t.user_attrs.get("round", t.number), []).append(t)
    whole = {r for r, group in rounds.items()
             if all(t.state.is_finished() and "result" in t.user_attrs for t in group)}
    return [t for t in trials if t.user_attrs.get("round", t.number) in whole
            and (t.state == TrialState.COMPLETE or t.user_attrs["result"]["diverged"])]


def settle(study: optuna.Study) -> None:
    """Finish the round an interruption left pending, as the uninterrupted search would have.
    Its results are recorded before any of it is told, so either all are recorded (cut
    while telling: tell the rest) or none of it was told (fail it all: asked again)."""
    pending = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    recorded = all("result" in t.user_attrs for t in pending)
    for t in pending:
        if recorded:
            tell(study, t.number, t.user_attrs["result"])
        else:
            study.tell(t.number, state=TrialState.FAIL)


@dataclass(frozen=True)
class Candidate:
    """One configuration to score, with all that scoring it needs anywhere (picklable)."""

    config: dict
    seeds: TrialSeeds
    choice: dict
    device: str
    threads: int  # torch threads: the same count gives the same bits


def evaluate(c: Candidate) -> tuple[list[float], str]:
    """`score` for a candidate shipped to another process, on that process's cached data,
    under the numeric settings of a trial (`numerics.trial_settings`), as at home."""
    device = torch.device(c.device)
    with numerics.trial_settings(c.threads, device):
        data = split_here(c.config, c.seeds)
        return score(c.config, c.seeds, c.choice, data.train.to(device), data.val.to(device),
                     device)


def split_here(config, seeds: TrialSeeds) -> Split:
    """The trial's data split, loaded once per process: a cluster worker scores many
    configurations of one search, and each ships only its config and seeds."""
    return _split(json.dumps({k: config[k] for k in mnist.DATA_PARAMS}, sort_keys=True), seeds)


@functools.lru_cache(maxsize=1)
def _split(data_config: str, seeds: TrialSeeds) -> Split:
    return mnist.load(json.loads(data_config), seeds)


def search(config, seeds: TrialSeeds, train, val, device, study: optuna.Study) -> int:
    """Run the Optuna trials still missing, `parallel` at a time; returns how many were
    already finished."""
    settle(study)
    resumed = len(finished(study))

    def here(c: Candidate):  # in this process, on the data already loaded
        return score(config, seeds, c.choice, train, val, device)

    while (k := len(finished(study))) < config["n_trials"]:
        trials = ask_round(study, config, seeds, k)
        candidates = [Candidate(config, seeds, choice, str(device), torch.get_num_threads())
                      for _, choice in trials]
        results = inner_map(evaluate, candidates, local=here)
        recorded = [{"val_accuracies": scores, "diverged": diverged}
                     for scores, diverged in results]
        # Every result is recorded before any is told: see `settle`.
        for (trial, _), result in zip(trials, recorded, strict=True):
            trial.set_user_attr("result", result)
        for (trial, _), result in zip(trials, recorded, strict=True):
            tell(study, trial.number, result)
    return resumed


def ask_round(study: optuna.Study, config, seeds: TrialSeeds, k: int) -> list[tuple]:
    """(trial, choice) for the round of counted trials k, k + 1, ...: each asked from a fresh
    sampler seeded with its own derived seed, and its choice suggested before the next ask,
    so that the next one sees it pending."""
    w = min(config["parallel"], config["n_trials"] - k)
    out = []
    for seed in seeds.split("sampler", k + w)[k:]:
        study.sampler = SAMPLERS[config["sampler"]](seed % 2**32,  # Optuna takes 32 bits
                                                    config["n_startup_trials"])
        trial = study.ask()
        trial.set_user_attr("round", out[0][0].number if out else trial.number)
        out.append((trial, suggest(trial, config)))
    return out


def tell(study: optuna.Study, number: int, result: dict) -> None:
    """Finish a trial from its recorded result: its mean score, or failed by divergence."""
    if result["diverged"]:
        study.tell(number, state=TrialState.FAIL)
    else:
        study.tell(number, statistics.fmean(result["val_accuracies"]))


def history(study: optuna.Study) -> list[dict]:
    """Every Optuna trial of the search, in order, as JSON-able records (`round`: the number
    of the first trial asked with it)."""
    counted = {t.number for t in finished(study)}
    out = []
    for t in study.get_trials(deepcopy=False):
        result = t.user_attrs.get("result", {})
        out.append({"number": t.number, "state": t.state.name, "params": dict(t.params),
                    "value": t.value, "val_accuracies": result.get("val_accuracies", []),
                    "diverged": result.get("diverged", ""),
                    "round": t.user_attrs.get("round", t.number),
                    "interrupted": t.number not in counted})
    return out


def curves_of(records: list[dict]) -> dict[str, list]:
    """Objective per counted Optuna trial and the best so far (None where diverged)."""
    values = [r["value"] for r in records if not r["interrupted"]]
    best, running = [], None
    for v in values:
        running = v if running is None or (v is not None and v > running) else running
        best.append(running)
    return {"search_value": values, "search_best": best}


def run(config, seeds: TrialSeeds, device: torch.device) -> TrialOutcome:
    from suite.store import close_rdb_storage

    data = mnist.load(config, seeds)
    train, val, test = (p.to(device) for p in (data.train, data.val, data.test))
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # no line per Optuna trial
    storage = None
    try:
        study, journal, storage = open_study(config, seeds)
        resumed = search(config, seeds, train, val, device, study)
        return _outcome(config, seeds, study, journal, resumed, data, device)
    finally:
        optuna.logging.set_verbosity(verbosity)
        close_rdb_storage(storage)  # a worker runs many searches: no connections left open


def _outcome(config, seeds, study, journal, resumed, data, device) -> TrialOutcome:
    """The finished search's outcome: its history, and the best configuration retrained."""
    records = history(study)
    artifacts = {"split": data.info, "search": records, "journal": journal,
                 "score": SCORES[config["score"]],
                 "sampler": {"name": config["sampler"],
                             "n_startup_trials": config["n_startup_trials"],
                             "parallel": config["parallel"],
                             "constant_liar": config["sampler"] == "tpe"}}
    metrics = {"n_trials_finished": len(finished(study)), "n_trials_resumed": resumed,
               "n_train": len(data.train.y) + len(data.val.y), "n_test": len(data.test.y)}
    completed = [t for t in study.get_trials(deepcopy=False) if t.state == TrialState.COMPLETE]
    if not completed:  # every configuration diverged: nothing to retrain
        metrics |= dict.fromkeys(("test_accuracy", "best_val_accuracy", "best_n_layers",
                                  "best_lr", "n_parameters", "final_loss"))
        return TrialOutcome("diverged", metrics, curves_of(records), artifacts,
                            note="every configuration of the search diverged")
    return _retrain(config, seeds, study.best_trial, data, device, metrics, artifacts, records)


def _retrain(config, seeds, best, data, device, metrics, artifacts, records) -> TrialOutcome:
    """Train the best configuration on the whole development set and test it."""
    choice = choice_of(best.params)
    model, losses, diverged, _ = fit(config, seeds, choice, data.development().to(device),
                                     device)
    metrics |= {"best_val_accuracy": best.value, "best_n_layers": len(choice["hidden"]),
                "best_lr": choice["lr"], "n_parameters": count_parameters(model),
                "final_loss": losses[-1], "test_accuracy": None}
    artifacts["best"] = {"number": best.number, **choice, "val_accuracy": best.value}
    if not diverged:
        report = mnist.class_report(mnist.confusion(model, data.test.to(device)))
        metrics["test_accuracy"] = report["accuracy"]
        artifacts |= {k: report[k] for k in ("per_class_accuracy", "confusion_matrix")}
    return TrialOutcome("diverged" if diverged else "ok", metrics,
                        {**curves_of(records), "train_loss": losses}, artifacts,
                        {"state_dict": mnist.state_bytes(model)}, diverged)


def search_rounds(row: dict) -> tuple[int, bool] | None:
    """(most trials of a round, every suggestion random) of a stored trial's search."""
    a = row.get("artifacts", {})
    if "search" not in a or "sampler" not in a:
        return None
    s, n_trials = a["sampler"], row["config"].get("n_trials", 1)
    w = min(s.get("parallel", 1), n_trials)
    # the last round is asked knowing at most this many results; TPE samples at random
    # until it knows n_startup_trials
    known = (n_trials - 1) // w * w
    return w, s.get("name") == "random" or known < s.get("n_startup_trials", 0)


def report_notes(rows: list[dict]) -> list[str]:
    """The report's sentence on how the trials' searches evaluated their Optuna trials."""
    return optuna_rounds(map(search_rounds, rows))


TASK = Task(name="mnist-search", description=__doc__.strip().splitlines()[0], params=PARAMS,
            metrics=METRICS, curves=CURVES, figures=FIGURES, run=run, check=check,
            runtime=RUNTIME, prepare=mnist.prepare, report_notes=report_notes,
            findings=mnist_findings.search_findings,
            bounds=unit_bounds("test_accuracy", "best_val_accuracy"))
