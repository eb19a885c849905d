"""The `suite` command line: list, show, run, results, report, verify and publish.

Errors the user can fix print one sentence on stderr and exit with status 2.
"""

import argparse
import os
import sys

from suite import __version__
from suite.errors import SuiteError
from suite.running.executors import EXECUTORS, SCHEDULER_ENV

FORMATS = ("table", "csv", "json")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="suite", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"suite {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the shipped studies and the tasks, with where each "
                   "task comes from")
    show = sub.add_parser("show", help="show a study's declaration and its plan")
    show.add_argument("study", help="a shipped study's name or a path to a .toml file")
    show.add_argument("--quick", action="store_true", help="the quick variant")
    run = sub.add_parser("run", help="run a study's trials that are not in the store yet")
    run.add_argument("study", help="a shipped study's name or a path to a .toml file")
    run.add_argument("--quick", action="store_true", help="the CI-sized variant")
    run.add_argument("--seeds", type=_positive, help="override the number of seeds")
    _store_arg(run)
    run.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    run.add_argument("--workers", type=_positive, default=1,
                     help="trials in parallel processes (local), or the processes of the "
                     "Dask cluster started for the run (dask without a scheduler)")
    run.add_argument("--executor", choices=sorted(EXECUTORS), default="local",
                     help="where trials run: local (default), a pool of --workers processes "
                     "on this machine; dask, tasks on a Dask cluster (see --scheduler); "
                     "serial, in this process")
    run.add_argument("--scheduler", metavar="ADDR",
                     help="the Dask scheduler's address, tcp://HOST:PORT, for --executor dask "
                     f"(default: ${SCHEDULER_ENV}; when neither is set, a local cluster of "
                     "--workers single-thread processes is started for the run)")
    run.add_argument("--threads", type=_positive, default=1,
                     help="torch threads per trial (recorded; changes low-order bits)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.add_argument("--data-root", help="folder with the data files of tasks that read them "
                     "(MNIST, the tabular task's relative paths); default for MNIST: "
                     "$SUITE_DATA_ROOT, else ~/.cache/suite/data when it holds them, else "
                     "the MNIST test set shipped with the suite")
    run.add_argument("--download", action="store_true",
                     help="let tasks fetch missing data files (needs internet)")
    run.add_argument("--yes", action="store_true", help="run a plan of more than "
                     "10,000 trials (refused without it)")
    run.add_argument("--replace-declaration", action="store_true",
                     help="the store holds this study's name with another declaration: "
                     "delete its stored trials and keep this declaration (refused without it)")
    res = sub.add_parser("results", help="per-configuration statistics over seeds")
    res.add_argument("study")
    _store_arg(res)
    res.add_argument("--quick", action="store_true", help="the quick variant's trials")
    res.add_argument("--format", choices=FORMATS, default="table")
    res.add_argument("--trials", action="store_true", help="one row per trial, not per config")
    res.add_argument("--wide", action="store_true", help="the table with every column (mean "
                     "and std of each metric apart), not the compact one")
    rep = sub.add_parser("report", help="write the HTML report of every study in the store")
    _store_arg(rep)
    rep.add_argument("--out", default="reports/site", help="folder (default: reports/site)")
    rep.add_argument("--study", action="append", help="only this study (repeatable)")
    ver = sub.add_parser("verify", help="re-run stored trials and compare them bit for bit")
    _store_arg(ver)
    ver.add_argument("--sample", type=_positive, help="re-run K trials (default: all)")
    ver.add_argument("--study", help="only this study's trials")
    ver.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    ver.add_argument("--data-root", help="folder with the data files of tasks that read them "
                     "(as for run)")
    pub = sub.add_parser("publish", help="run every shipped study into one store, verify a "
                         "sample, write the report and a manifest")
    pub.add_argument("--quick", action="store_true", help="every study's CI-sized variant")
    _store_arg(pub, default="reports/publish.db")
    pub.add_argument("--out", default="reports/site", help="folder (default: reports/site)")
    pub.add_argument("--study", action="append", help="only this shipped study (repeatable)")
    pub.add_argument("--workers", type=_positive, default=1,
                     help="trials in parallel processes, as for suite run")
    pub.add_argument("--executor", choices=sorted(EXECUTORS), default="local",
                     help="as for suite run")
    pub.add_argument("--scheduler", metavar="ADDR", help="as for suite run")
    pub.add_argument("--threads", type=_positive, default=1, help="torch threads per trial")
    pub.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    pub.add_argument("--verify-sample", type=_non_negative, default=8, metavar="K",
                     help="re-run K stored trials bit for bit (default 8; 0: no verify)")
    pub.add_argument("--seed", type=int, default=0, help="seed of the verify sample")
    pub.add_argument("--data-root", help="as for suite run")
    pub.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _store_arg(parser: argparse.ArgumentParser, default: str = "suite.db") -> None:
    parser.add_argument("--store", default=os.environ.get("SUITE_STORE") or default,
                        help="a file path or a database URL (sqlite:///..., "
                        f"postgresql+psycopg://...); default: $SUITE_STORE, else {default}")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer. Got {text!r} instead.")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer. Got {text!r} "
                                         "instead.")
    return value


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except SuiteError as e:
        print(f"suite: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("suite: interrupted; finished trials are stored, run again to resume.",
              file=sys.stderr)
        return 130
    except Exception as e:
        if not _store_lost(e):
            raise
        if _read_only(e):
            from suite.store import hide_password

            where = f" {hide_password(str(args.store))}" if hasattr(args, "store") else ""
            print(f"suite: error: the store{where} is read-only ({_first_line(e)}): make it "
                  "writable, or point --store at another file; trials committed before are "
                  "kept.", file=sys.stderr)
            return 2
        print(f"suite: error: the store stopped answering ({_first_line(e)}); the trials "
              "committed before are kept: check the database, then run the same command "
              "again to resume.", file=sys.stderr)
        return 1


def _store_lost(error: Exception) -> bool:
    """A database connection that failed mid-command (server gone, network down, disk
    full): SQLAlchemy's OperationalError and InterfaceError."""
    if "sqlalchemy" not in sys.modules:
        return False
    from sqlalchemy import exc

    return isinstance(error, exc.OperationalError | exc.InterfaceError)


def _read_only(error: Exception) -> bool:
    text = str(getattr(error, "orig", None) or error).lower()
    return "readonly" in text or "read-only" in text or "read only" in text


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def cmd_list(args) -> int:
    from suite import tasks
    from suite.study import plugin_loading as plugins
    from suite.study import shipped

    print("Studies:")
    for name in shipped.names():
        study = shipped.load(name)
        print(f"  {name:<24} {study.description.splitlines()[0] if study.description else ''}")
    plugins.load_installed()
    print("\nTasks (kind = NAME in a study's [task]), and where each comes from:")
    for name in sorted(tasks.TASKS):
        print(f"  {name:<24} {plugins.describe('task', name)}")
    for kind in ("dataset", "model", "figure"):
        extra = sorted(n for k, n in plugins.registered() if k == kind)
        if extra:
            print(f"\nPlug-in {kind}s:")
            for name in extra:
                print(f"  {name:<24} {plugins.describe(kind, name)}")
    return 0


def cmd_show(args) -> int:
    from suite.study import shipped
    from suite.study.planning import plan

    study = shipped.load(args.study, quick=args.quick)
    print(f"{study.name}{' (quick)' if study.quick else ''}: {study.description}")
    print(f"source:     {study.source}")
    print(f"task:       {study.task.name} - {study.task.description}")
    from suite.study import plugin_loading as plugins

    if plugins.is_plugin_task(study.task.name):
        print(f"plug-in:    {plugins.describe('task', study.task.name)}")
    for axis in study.axes:
        if not axis.searched:
            print(f"scientific: {axis.name} = {[v.label for v in axis.values]}")
    print(f"nuisance:   seeds = {study.seeds}, root_seed = {study.root_seed}")
    for axis in study.axes:
        if axis.searched:
            print(f"nuisance:   {axis.name} = {[v.label for v in axis.values]} (searched per "
                  "scientific value)")
    resolved = {**study.task.defaults(), **study.fixed}
    varied = study.scientific_keys()
    for key, value in resolved.items():
        if key not in varied:
            mark = "fixed  " if key in study.fixed else "default"
            print(f"{mark}     {key} = {value!r}")
    print(f"metrics:    {', '.join(study.metrics)}")
    print(f"figures:    {', '.join(study.figures)}")
    print(f"trials:     {len(plan(study))}")
    return 0


def cmd_run(args) -> int:
    from suite import api
    from suite.study import shipped

    summary = api.run(shipped.load(args.study, quick=args.quick), args.store,
                      seeds=args.seeds, device=args.device, workers=args.workers,
                      threads=args.threads, executor=args.executor, scheduler=args.scheduler,
                      data_root=args.data_root, download=args.download,
                      progress=not args.no_progress, command=_command_line(), yes=args.yes,
                      replace_declaration=args.replace_declaration, announce=_announce)
    print(summary.line())
    return 0


def _announce(line: str) -> None:
    """What a run will do, on stdout before it starts (errors alone go to stderr)."""
    print(line, flush=True)


def _command_line() -> str:
    import shlex

    from suite.store import hide_password

    return "suite " + " ".join(shlex.quote(hide_password(a)) for a in sys.argv[1:])


def cmd_results(args) -> int:
    from suite import api
    from suite.study import shipped

    study = shipped.load(args.study, quick=args.quick)
    with api.open_store(args.store) as s:
        if args.trials:
            frame = api.trials(study, s)
        elif args.format != "table" or args.wide:
            frame = api.summary(study, s)
        else:
            print(compact(api.results(study, s), [a.name for a in study.axes], study.metrics))
            return 0
    print(_render(frame, args.format))
    return 0


def _render(frame, fmt: str) -> str:
    """CSV and JSON with every float in Python's shortest round-trip form (repr: 0.634,
    not 0.63400000000000001), losing nothing; a table rounded for reading."""
    if fmt == "csv":
        return frame.to_csv(index=False).rstrip("\n")
    if fmt == "json":
        import json

        from suite.report.site import records

        return json.dumps(records(frame))
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4f}")


WIDTH = 100  # the compact table fits a terminal this wide


def compact(frame, axes: list[str], metrics) -> str:
    """Per configuration: its labels, each metric as `mean [low, high]` (3 significant
    digits; the 95% interval), n, diverged, stalled, the diagnosis. Columns that do not fit in
    WIDTH characters go to a further block, which repeats the labels."""
    columns = [(a, [str(v) for v in frame[a]]) for a in axes]
    cells = [(m, [_interval(r[f"{m}_mean"], r[f"{m}_low"], r[f"{m}_high"])
                  for _, r in frame.iterrows()]) for m in metrics]
    cells += [(c, [str(v) for v in frame[c]]) for c in ("n", "diverged", "stalled", "diagnosis")
              if c in frame.columns]
    blocks, block = [], []
    for col in cells:
        if block and _width(columns + block + [col]) > WIDTH:
            blocks.append(block)
            block = []
        block.append(col)
    blocks.append(block)
    text = "\n\n".join(_lines(columns + b) for b in blocks)
    return text + ("\nmean [95% interval] over seeds: Student t, on the logit scale for a bounded "
                   "metric (accuracies, shares);\n--wide: means, stds and each interval's "
                   "method; --format csv|json.")


def _width(columns) -> int:
    return sum(max(len(h), *map(len, c)) for h, c in columns) + 2 * (len(columns) - 1)


def _lines(columns) -> str:
    widths = [max(len(h), *map(len, c)) for h, c in columns]
    rows = [[h for h, _ in columns]] + [list(r) for r in zip(*(c for _, c in columns),
                                                                strict=True)]
    return "\n".join("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)


def _interval(mean, low, high) -> str:
    import math

    def g(v):
        return "-" if v is None or math.isnan(v) else f"{v:.3g}"

    if mean is None or math.isnan(mean):
        return "undefined"
    return g(mean) if low is None or math.isnan(low) else f"{g(mean)} [{g(low)}, {g(high)}]"


def cmd_report(args) -> int:
    from suite import api

    index = api.render_report(args.store, args.out, args.study)
    print(f"Wrote the report of {len(args.study) if args.study else 'every'} study to {index}.")
    return 0


def cmd_verify(args) -> int:
    from suite import api

    return api.verify_store(args.store, study=args.study, sample=args.sample, seed=args.seed,
                            data_root=args.data_root)


def cmd_publish(args) -> int:
    from suite import api

    return api.publish_catalogue(args.store, args.out, quick=args.quick, studies=args.study,
                                 workers=args.workers, threads=args.threads,
                                 device=args.device, executor=args.executor,
                                 scheduler=args.scheduler, verify_sample=args.verify_sample,
                                 verify_seed=args.seed, data_root=args.data_root,
                                 progress=not args.no_progress, command=_command_line())


COMMANDS = {"list": cmd_list, "show": cmd_show, "run": cmd_run, "results": cmd_results,
            "report": cmd_report, "verify": cmd_verify, "publish": cmd_publish}
