"""The `suite` command line: list, show, run, results, report and verify.

Errors the user can fix print one sentence on stderr and exit with status 2.
"""

import argparse
import os
import sys

from suite import __version__, registry
from suite.errors import SuiteError
from suite.executors import EXECUTORS, SCHEDULER_ENV, make_executor

FORMATS = ("table", "csv", "json")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="suite", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"suite {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the shipped studies")
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
                     "(MNIST); default: $SUITE_DATA_ROOT, else ~/.cache/suite/data")
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
    rep = sub.add_parser("report", help="write the HTML report of every study in the store")
    _store_arg(rep)
    rep.add_argument("--out", default="reports/site", help="folder (default: reports/site)")
    rep.add_argument("--study", action="append", help="only this study (repeatable)")
    ver = sub.add_parser("verify", help="re-run stored trials and compare them bit for bit")
    _store_arg(ver)
    ver.add_argument("--sample", type=_positive, help="re-run K trials (default: all)")
    ver.add_argument("--study", help="only this study's trials")
    ver.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    return p


def _store_arg(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("SUITE_STORE") or "suite.db"
    parser.add_argument("--store", default=default, help="a file path or a database URL "
                        "(sqlite:///..., postgresql+psycopg://...); default: $SUITE_STORE, "
                        "else suite.db")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer. Got {text!r} instead.")
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
    for name in registry.names():
        study = registry.load(name)
        print(f"{name:<24} {study.description.splitlines()[0] if study.description else ''}")
    return 0


def cmd_show(args) -> int:
    from suite.planning import plan

    study = registry.load(args.study, quick=args.quick)
    print(f"{study.name}{' (quick)' if study.quick else ''}: {study.description}")
    print(f"source:     {study.source}")
    print(f"task:       {study.task.name} - {study.task.description}")
    for axis in study.axes:
        print(f"scientific: {axis.name} = {[v.label for v in axis.values]}")
    print(f"nuisance:   seeds = {study.seeds}, root_seed = {study.root_seed}")
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
    from suite.environment import resolve_device
    from suite.runner import run_study
    from suite.store import Store

    study = registry.load(args.study, quick=args.quick)
    # Everything that can be refused is refused before the store is opened or created.
    make_executor(args.executor, args.workers, args.scheduler)
    resolve_device(args.device)
    _announce(_check_plan_size(study, args.seeds, args.yes))
    store = Store(args.store)
    try:
        summary = run_study(study, store, device=args.device, workers=args.workers,
                            seeds=args.seeds, threads=args.threads, executor=args.executor,
                            scheduler=args.scheduler,
                            command=_command_line(), progress=not args.no_progress,
                            runtime={"data_root": args.data_root,
                                     "download": args.download or None},
                            replace_declaration=args.replace_declaration,
                            announce=_announce)
    finally:
        store.close()
    print(summary.line())
    return 0


def _announce(line: str) -> None:
    """What a run will do, on stdout before it starts (errors alone go to stderr)."""
    print(line, flush=True)


def _check_plan_size(study, seeds: int | None, yes: bool) -> str:
    """The plan's size in words; a plan above CONFIRM_TRIALS needs --yes, one above
    MAX_TRIALS (or seeds above the declaration's bound) is refused."""
    from suite.planning import CONFIRM_TRIALS, MAX_TRIALS, count
    from suite.spec import MAX_SEEDS

    if seeds is not None and seeds > MAX_SEEDS:
        raise SuiteError(f"--seeds must be at most {MAX_SEEDS:,}. Got {seeds:,} instead.")
    n = count(study, seeds)
    shape = " x ".join(str(len(a.values)) for a in study.axes)
    words = (f"{study.name} ({'quick' if study.quick else 'full'}): {n:,} trials planned "
             f"({shape} configurations x {seeds or study.seeds} seeds)")
    if n > MAX_TRIALS:
        raise SuiteError(f"{words}, more than the {MAX_TRIALS:,} a run may plan; use fewer "
                         "seeds or axis values.")
    if n > CONFIRM_TRIALS and not yes:
        raise SuiteError(f"{words}, more than {CONFIRM_TRIALS:,}: pass --yes to run them, or "
                         "use fewer seeds or axis values.")
    return words + "."


def _command_line() -> str:
    import shlex

    from suite.store import hide_password

    return "suite " + " ".join(shlex.quote(hide_password(a)) for a in sys.argv[1:])


def cmd_results(args) -> int:
    from suite import analysis
    from suite.store import Store

    study = registry.load(args.study, quick=args.quick)
    store = Store(args.store, create=False)
    try:
        rows = _rows(store, study)
        curves = {r["trial_id"]: store.curves(r["trial_id"]) for r in rows}
    finally:
        store.close()
    frame = analysis.trials_frame(rows, study.metrics, curves)
    if not args.trials:
        frame = analysis.summary(frame, [a.name for a in study.axes], study.metrics)
    print(_render(frame, args.format))
    return 0


def _rows(store, study) -> list[dict]:
    from suite.runner import variant_of

    variant = variant_of(study)
    _same_declaration(store, study)
    rows = store.trials(study.name, variant)
    if not rows:
        others = [v for v in store.variants(study.name) if v != variant]
        hint = f" It has {others[0]} trials: add or drop --quick." if others else ""
        raise SuiteError(f"The store {store.label} holds no {variant} trials of study "
                         f"'{study.name}'.{hint}")
    return rows


def _same_declaration(store, study) -> None:
    """Results of the study as declared: refused when the store ran another declaration
    under its name (the trials would describe that one)."""
    import json

    from suite.spec import differences

    stored = store.declared(study.name)
    diff = stored is not None and differences(stored, json.loads(json.dumps(study.declaration)))
    if diff:
        raise SuiteError(f"The store {store.label} holds study '{study.name}' with another "
                         f"declaration ({'; '.join(diff[:3])}); give the file it was run from, "
                         "or run this one under another name.")


def _render(frame, fmt: str) -> str:
    if fmt == "csv":
        return frame.to_csv(index=False, float_format="%.17g").rstrip("\n")
    if fmt == "json":
        return frame.to_json(orient="records", double_precision=15)
    return frame.to_string(index=False, float_format=lambda v: f"{v:.4f}")


def cmd_report(args) -> int:
    from suite.report import build_site
    from suite.store import Store

    _check_out_folder(args.out)
    store = Store(args.store, create=False)
    try:
        pages = build_site(store, args.out, args.study)
    finally:
        store.close()
    print(f"Wrote {len(pages)} study page(s) and {args.out}/index.html.")
    return 0


def _check_out_folder(out: str) -> None:
    """--out must be a folder, or a path where one can be made (no file on the way)."""
    from pathlib import Path

    for p in (Path(out), *Path(out).parents):
        if p.exists():
            if not p.is_dir():
                what = "is" if p == Path(out) else f"is inside {p}, which is"
                raise SuiteError(f"--out {out} {what} a file, not a folder; give a folder "
                                 "for the report.")
            return


def cmd_verify(args) -> int:
    from suite.store import Store
    from suite.verify import verify

    store = Store(args.store, create=False)
    try:
        return verify(store, study=args.study, sample=args.sample, seed=args.seed)
    finally:
        store.close()


COMMANDS = {"list": cmd_list, "show": cmd_show, "run": cmd_run, "results": cmd_results,
            "report": cmd_report, "verify": cmd_verify}
