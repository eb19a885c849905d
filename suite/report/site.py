"""`suite report`: a static, self-contained HTML site from a store.

One index page (every study and variant in the store, its status, a link) and one page
per study variant: the description, the declaration (scientific, nuisance, fixed and
default values marked), statistics over seeds, the best configuration and its ties,
the published reference beside the suite's numbers, the figures (PNG data URIs), and
the provenance of every number. Each table is also written as CSV and JSON in a folder
beside the page. Pages load nothing from anywhere (a Content-Security-Policy forbids
it), run no script, and every user-provided string goes through Jinja's autoescaping.
"""

import base64
import functools
import hashlib
import json
import math
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader

from suite import __version__, analysis, numerics
from suite.analysis import claims, diagnosis
from suite.errors import SuiteError
from suite.store import Store
from suite.study import shipped
from suite.study.planning import plan
from suite.study.spec import NAME_RE, Study, parse

SEED_COLUMNS = ("index", "root", "data", "init", "order", "dropout", "sampler")


@dataclass
class Table:
    """A table for the page and for the CSV/JSON files beside it."""

    key: str  # file stem
    title: str
    frame: pd.DataFrame
    note: str = ""
    split: str | None = None  # shown as one sub-table per value of this column
    collapsed: bool = False  # shown folded (long tables)
    files: dict[str, str] = field(default_factory=dict)  # format -> relative path
    links: dict[int, str] = field(default_factory=dict)  # row -> page it links to

    def columns(self) -> list[str]:
        return [HEADERS.get(c, c) for c in self.frame.columns if c != self.split]

    def groups(self) -> list[tuple[str, list[list[str]]]]:
        """(title, rows of cell text) per value of `split`, or one untitled group."""
        if self.split is None:
            return [("", _cells(self.frame))]
        return [(str(k), _cells(g.drop(columns=self.split)))
                for k, g in self.frame.groupby(self.split, sort=False)]


HEADERS = {"ci_low": "95% CI low", "ci_high": "95% CI high", "p_holm": "p (Holm)",
           "minus_best": "this − best", "n_pairs": "paired seeds", "n_seeds": "n seeds"}


def _cells(frame: pd.DataFrame) -> list[list[str]]:
    return [[cell(v) for v in r] for r in frame.itertuples(index=False)]


@dataclass
class StudyPage:
    name: str
    variant: str
    filename: str
    task: str
    status: str
    complete: bool
    n_trials: int
    n_diverged: int
    updated: str
    n_stalled: int = 0
    description: str = ""
    error: str = ""
    declaration: list[dict] = field(default_factory=list)
    raw_declaration: str = ""
    tables: list[Table] = field(default_factory=list)
    provenance_tables: list[Table] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # trials' page notes, shown on top
    provenance: dict = field(default_factory=dict)
    search: str = ""  # the task's own sentences on its trials (Task.report_notes)
    findings_text: str = ""  # the task's findings paragraph (MNIST studies)
    study: Study | None = None
    rows: list = field(default_factory=list, repr=False)


@dataclass
class Index:
    """What the index page shows above the list of studies."""

    findings: Table | None = None
    counts: dict = field(default_factory=dict)  # verdict -> number of findings
    verify: dict | None = None  # suite.verify.summary of the publish's sample
    manifest: str = ""  # relative path of the publish manifest


def cell(v) -> str:
    """A table cell as text: 4 decimals for ordinary floats, 3 significant digits for
    very small or large ones, a dash for undefined values."""
    if _missing(v):
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:.4f}" if v == 0 or 1e-3 <= abs(v) < 1e5 else f"{v:.3g}"
    return str(v)


def slug(name: str) -> str:
    """A file name for a study: the name itself when it is a valid study name, else a
    sanitised form with a hash (names read from a store are not trusted)."""
    if NAME_RE.match(name):
        return name
    clean = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")[:40]
    return f"{clean or 'study'}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def page_name(name: str, variant: str) -> str:
    """'spiral-layers' for the full variant, 'spiral-layers.quick' for the quick one (a dot
    never occurs in a slug, so no study's page can take another's name)."""
    return slug(name) + ("" if variant == "full" else f".{slug(variant)}")


def environment() -> Environment:
    return Environment(loader=PackageLoader("suite.report", "templates"), autoescape=True,
                       trim_blocks=True, lstrip_blocks=True)


# -- building ---------------------------------------------------------------------------
def build_site(store: Store, out: str | Path, only: list[str] | None = None, *,
               verify: dict | None = None, manifest: str = "") -> list[StudyPage]:
    """Write DIR/index.html and one page per study variant (those named in `only`, or
    all); returns the pages written. The index opens with the findings table (the claims
    the stored declarations make, checked on their trials: `suite.claims`) and, from
    `suite publish`, the summary of its verify sample and a link to its manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    env = environment()
    entries = [s for s in store.studies() if not only or s["name"] in only]
    if only and not entries:
        raise SuiteError(f"The store {store.label} holds no study named "
                         f"{', '.join(repr(n) for n in only)}.")
    pages = [study_page(store, entry, out) for entry in entries]
    findings = catalogue_findings(pages)
    for page in pages:
        mine = [f for f in findings if f.study == page.name and f.variant == page.variant]
        if mine:
            page.tables.insert(0, findings_table(mine, f"claims-{page.variant}",
                                                 "The notebook's claims, checked"))
        _write_tables(page, out)
        (out / page.filename).write_text(env.get_template("study.html").render(
            page=page, version=__version__), encoding="utf-8")
    index = Index(verify=verify, manifest=manifest, counts=claims.counts(findings))
    if findings:
        index.findings = findings_table(findings, "findings", "Findings")
        _write_frame(index.findings, out, out)
    (out / "index.html").write_text(env.get_template("index.html").render(
        pages=pages, index=index, store=store.label, version=__version__), encoding="utf-8")
    return pages


def catalogue_findings(pages: list["StudyPage"]) -> list[claims.Finding]:
    """Every stored study's claims checked on its full variant (its quick one when no full
    trials are stored), Holm-corrected as one family."""
    full = {p.name for p in pages if p.variant == "full" and p.rows}
    findings = []
    for p in pages:
        if p.study is None or not p.rows or (p.variant != "full" and p.name in full):
            continue
        findings += claims.study_findings(p.study, p.variant, p.rows, p.filename)
    return claims.finish(findings)


def findings_table(findings: list[claims.Finding], key: str, title: str) -> Table:
    frame = claims.table(findings)
    quick = any(f.variant != "full" for f in findings)
    note = (f"{claims.METHOD}. n seeds = seeds paired in the test (or defined, for a "
            "published value). 'cause': why a published value falls outside, where known.")
    if quick:
        note += (" Findings of a quick variant (fewer seeds, points and epochs than the "
                 "notebook) are not a test of the notebook's claims.")
    table = Table(key, title, frame, note)
    table.links = {i: f.page for i, f in enumerate(findings)}
    return table


def current_code(rows: list[dict]) -> tuple[list[dict], int]:
    """The trials of the plug-in code that ran last, and how many stored trials of other
    plug-in code were left out (never averaged with them: another code is another
    experiment). Trials of built-in tasks carry no plug-in stamp, so all of them are kept."""
    def stamp(r):
        return json.dumps(r["config"].get("plugins") or {}, sort_keys=True)

    if len({stamp(r) for r in rows}) < 2:
        return rows, 0
    last = stamp(max(rows, key=lambda r: r["finished"]))
    kept = [r for r in rows if stamp(r) == last]
    return kept, len(rows) - len(kept)


def study_page(store: Store, entry: dict, out: Path) -> StudyPage:
    name, variant = entry["name"], entry["variant"]
    rows, left_out = current_code(store.trials(name, variant))
    runs = [r for r in store.runs(name) if r["variant"] == variant]
    page = StudyPage(name, variant, page_name(name, variant) + ".html", entry["task"],
                     *_status(rows, runs), n_trials=len(rows),
                     n_diverged=sum(r["status"] == "diverged" for r in rows),
                     n_stalled=sum(r["status"] == "stalled" for r in rows),
                     updated=entry["updated"])
    study = _study(store, entry, page)
    if study is not None:
        page.description = study.description
        page.declaration = declaration_rows(study, rows)
    if rows:
        page.search = task_notes(study, entry["task"], rows)
        page.findings_text = findings_text(study, entry["task"], rows)
        curves = {r["trial_id"]: store.curves(r["trial_id"]) for r in rows}
        page.tables = tables(study, rows, curves)
        page.figures = figures(study, rows, store, page) if study is not None else []
        page.warnings = trial_notes(rows)
        if left_out:
            page.warnings.append(f"{left_out} stored trials of this study were computed by "
                                 "other plug-in code than the one that ran last; they are "
                                 "left out of every table and figure on this page.")
        if any(t.key == "diagnosis" for t in page.tables):
            page.tables.append(diagnosis_guide())
            page.figures.append(_figure("diagnosis_scenarios", diagnosis_figure()))
    page.provenance = provenance(study, rows, runs, store)
    page.provenance_tables = provenance_tables(rows, runs)
    page.study, page.rows = study, rows
    return page


def trial_notes(rows: list[dict]) -> list[str]:
    """The distinct notes trials ask their page to show (artifacts["page_notes"], e.g.
    that pretrained weights were not used), in the order first met."""
    out: list[str] = []
    for r in rows:
        for note in (r.get("artifacts") or {}).get("page_notes", []):
            if note not in out:
                out.append(note)
    return out


def _study(store: Store, entry: dict, page: StudyPage) -> Study | None:
    raw = store.declaration(entry["name"], entry["variant"])
    page.raw_declaration = json.dumps(raw, indent=2, sort_keys=False)
    try:
        return parse(raw, entry["source"], quick=entry["variant"] == "quick")
    except SuiteError as e:
        page.error = f"The stored declaration no longer validates: {e}"
        return None


def _status(rows: list[dict], runs: list[dict]) -> tuple[str, bool]:
    if not rows:
        return "no trials stored", False
    last = runs[-1] if runs else None
    planned = last["planned"] if last else len(rows)
    if len(rows) >= planned and (last is None or last["status"] == "finished"):
        return f"complete ({len(rows)} trials)", True
    state = "running or killed" if last and last["status"] == "running" else (
        last["status"] if last else "unknown")
    return f"incomplete: {len(rows)} of {planned} trials stored (last run {state})", False


def declaration_rows(study: Study, rows: list[dict]) -> list[dict]:
    """The declaration as (role, key, value) rows: scientific axes, nuisance (seeds),
    fixed values, and the task defaults left unchanged."""
    out = [{"role": "nuisance (searched)" if a.searched else "scientific", "key": a.name,
            "value": ", ".join(_axis_value(v) for v in a.values)} for a in study.axes]
    seeds = sorted({r["seed_index"] for r in rows})
    out.append({"role": "nuisance", "key": "seeds",
                "value": f"{study.seeds} declared; indexes stored: {_ranges(seeds)}"})
    out.append({"role": "nuisance", "key": "root_seed", "value": str(study.root_seed)})
    varied = study.scientific_keys()
    for key, value in {**study.task.defaults(), **study.fixed}.items():
        if key not in varied:
            role = "fixed" if key in study.fixed else "default"
            out.append({"role": role, "key": key, "value": repr(value)})
    return out


def _axis_value(v) -> str:
    settings = ", ".join(f"{k}={val!r}" for k, val in v.settings.items())
    return v.label if len(v.settings) == 1 and v.label == str(
        next(iter(v.settings.values()))) else f"{v.label} ({settings})"


def _ranges(values: list[int]) -> str:
    if not values:
        return "none"
    if values == list(range(values[0], values[-1] + 1)) and len(values) > 2:
        return f"{values[0]}–{values[-1]}"
    return ", ".join(map(str, values))


# -- the task's own text ----------------------------------------------------------------
def task_notes(study: Study | None, task_name: str, rows: list[dict]) -> str:
    """The sentences the study's task says about its stored trials (`Task.report_notes`:
    how its searches ran, say); '' for a task whose code is not loaded here."""
    task = _task(study, task_name)
    return " ".join(task.report_notes(rows)) if task is not None else ""


def _task(study: Study | None, task_name: str):
    """The study's task, else the one of that name loaded here (None when not loaded)."""
    from suite import tasks

    return study.task if study is not None else tasks.TASKS.get(task_name)


# -- findings paragraphs and the diagnosis guide -------------------------------------------


def findings_text(study: Study | None, task_name: str, rows: list[dict]) -> str:
    """The task's findings paragraph (`Task.findings`, e.g. the MNIST tasks'), or '' for
    tasks without one or whose code is not loaded here."""
    task = _task(study, task_name)
    return task.findings(rows) if task is not None else ""


def diagnosis_guide() -> Table:
    frame = pd.DataFrame([{"label": label, "scenario": name, "key characteristics": chars,
                           "potential solutions": remedies}
                          for label, (name, chars, remedies) in diagnosis.SCENARIOS.items()])
    return Table("diagnosis-guide", "What the curve-diagnosis labels mean", frame,
                 "Seed 002, section 3 (Task 3's table of scenarios, characteristics and "
                 "remedies, filled in); the figure 'diagnosis_scenarios' below draws its four "
                 "simulated scenarios (the underfitting curves are our own: the notebook "
                 "leaves them as an exercise). The rules that give each trial its label are "
                 "in suite/analysis/diagnosis.py.")


@functools.cache
def diagnosis_figure() -> bytes:
    from suite.figures import png_bytes
    from suite.figures.supervised import draw_scenarios

    return png_bytes(draw_scenarios())


def _figure(name: str, png: bytes) -> dict:
    return {"name": name, "uri": "data:image/png;base64," + base64.b64encode(png).decode("ascii")}


# -- tables -----------------------------------------------------------------------------
def tables(study: Study | None, rows: list[dict], curves: dict | None = None) -> list[Table]:
    """The page's tables; with `curves` ({trial_id: curves}) each trial also gets its
    curve-diagnosis label and each configuration its most common one."""
    metrics = list(study.metrics) if study else sorted({m for r in rows for m in r["metrics"]})
    axes = [a.name for a in study.axes] if study else list(rows[0]["labels"])
    frame = analysis.trials_frame(rows, metrics, curves)
    bounds = dict(study.task.bounds) if study else {}
    stats = analysis.seed_stats(frame, axes, metrics, bounds)
    shown = frame.assign(note=[r["note"] for r in rows])  # why a trial diverged or stalled
    out = [Table("stats", "Statistics over seeds", stats, interval_note(bounds, metrics) +
                 " n = seeds run; diverged and stalled count those trials; defined = seeds "
                 "where the metric is defined. " + analysis.COUNTING_RULE + ".",
                 split="metric")]
    primary = metrics[0]
    try:
        best = analysis.best_and_ties(frame, axes, primary)
        direction = "highest" if analysis.higher_is_better(primary) else "lowest"
        out.append(Table("best", f"Best configuration by {primary} and those tied with it",
                         best, f"Best = {direction} mean {primary}. " + analysis.TEST_METHOD +
                         "."))
    except ValueError as e:
        out.append(Table("best", "Best configuration", pd.DataFrame(), f"Not computed: {e}."))
    if study is not None and study.reference:
        out.append(reference(study, stats))
    if "diagnosis" in frame and (frame["diagnosis"] != "unknown").any():
        out.append(Table("diagnosis", "Curve diagnosis",
                         analysis.tables.diagnosis_table(frame, axes),
                         "Per configuration: the most common label of its trials' curves "
                         "(count of seeds), then the number of seeds with each label. Each "
                         "trial's label is in the Trials table."))
    out.append(Table("trials", "Trials", shown, "One row per trial (store rows).",
                     collapsed=True))
    return out


def interval_note(bounds: dict, metrics) -> str:
    """The interval methods of a statistics table, in words: the t interval, and for the
    metrics with declared bounds the logit-scale one."""
    bounded = [f"{m} in [{bounds[m][0]:g}, {bounds[m][1]:g}]" for m in metrics if m in bounds]
    text = analysis.INTERVAL_METHOD + "."
    if bounded:
        text += (" " + analysis.BOUNDED_INTERVAL_METHOD + ". Bounded here: "
                 + ", ".join(bounded) + ". The column 'interval' names each row's method.")
    return text


def reference(study: Study, stats: pd.DataFrame) -> Table:
    ref = study.reference
    full = parse(study.declaration, study.source) if study.quick else study
    order = [v.label for v in full.axes[0].values]
    table = analysis.reference_table(stats, ref, study.axes[0].name, order)
    note = (f"Published {ref['metric']} ({ref.get('source', 'no source given')}) beside the "
            f"suite's mean and 95% interval over seeds (the method of the statistics "
            "table above); 'contains' says whether that interval contains the published "
            "number.")
    if study.quick:
        note += (" This is the quick variant (fewer seeds, points and epochs than the "
                 "publication), so disagreement is expected; compare the full variant.")
    outside = table[table["contains"] == False][study.axes[0].name].tolist()  # noqa: E712
    if outside:
        note += f" Outside the interval: {', '.join(map(str, outside))}."
    return Table("reference", "Published reference", table, note)


def provenance_tables(rows: list[dict], runs: list[dict]) -> list[Table]:
    seeds = {r["seed_index"]: r["seeds"] for r in rows}
    seed_frame = pd.DataFrame([{k: s[k] for k in SEED_COLUMNS} for _, s in sorted(seeds.items())],
                              columns=list(SEED_COLUMNS))
    configs = {}
    for r in rows:
        configs.setdefault(r["config_hash"], {**r["labels"], "config_hash": r["config_hash"],
                                              "config": json.dumps(r["config"], sort_keys=True)})
    run_frame = pd.DataFrame([_run_record(r) for r in runs])
    return [Table("seeds", "Seeds", seed_frame, "Per seed index: the per-purpose seeds "
                  "derived from SeedSequence([root, index])."),
            Table("configs", "Configurations", pd.DataFrame(list(configs.values())),
                  "The resolved configuration of each grid point and its hash.",
                  collapsed=True),
            Table("runs", "Runs", run_frame, "Every `suite run` of this study variant, with "
                  "the exact command and the environment it recorded.", collapsed=True)]


def _run_record(run: dict) -> dict:
    env = run["environment"]
    return {"run": run["run_id"], "command": run["command"], "started": run["started"],
            "finished": run["finished"], "status": run["status"], "planned": run["planned"],
            "skipped": run["skipped"], "completed": run["completed"],
            "suite": env.get("suite"), "git_sha": env.get("git_sha"),
            "git_dirty": env.get("git_dirty"), "python": env.get("python"),
            "torch": env.get("torch"), "numpy": env.get("numpy"), "device": env.get("device"),
            "threads": env.get("threads"), "platform": env.get("platform"),
            "numerics": numerics.describe(env.get("numerics")),
            "executor": run.get("executor"),
            "scheduler": env.get("scheduler")}


def provenance(study: Study | None, rows: list[dict], runs: list[dict], store: Store) -> dict:
    """The facts a reader needs to reproduce the page's numbers."""
    env = runs[-1]["environment"] if runs else {}
    seeds = sorted({r["seed_index"] for r in rows})
    return {
        "suite": ", ".join(sorted({r["suite_version"] for r in rows})) or env.get("suite"),
        "report_suite": __version__,
        "git": f"{env.get('git_sha') or 'unknown'}"
               f"{' (dirty: uncommitted changes)' if env.get('git_dirty') else ''}",
        "python": env.get("python"), "torch": env.get("torch"), "numpy": env.get("numpy"),
        "device": ", ".join(sorted({r["device"] for r in rows})) or env.get("device"),
        "threads": env.get("threads"), "platform": env.get("platform"),
        "numerics": numerics.describe(env.get("numerics")),
        "seeds": f"root {rows[0]['seeds']['root']}, indexes {_ranges(seeds)}" if rows else "",
        "configs": len({r["config_hash"] for r in rows}),
        "started": min((r["started"] for r in rows), default=""),
        "finished": max((r["finished"] for r in rows), default=""),
        "commands": [r["command"] for r in runs],
        "rerun": rerun_command(study, rows, env) if study is not None else "",
        "verify": f"suite verify --store {shlex.quote(store.label)} "
                  f"--study {shlex.quote(rows[0]['study'] if rows else '')}",
    }


def rerun_command(study: Study, rows: list[dict], env: dict) -> str:
    """`suite run` that recomputes every stored trial from scratch into a new store."""
    source = Path(study.source)
    is_shipped = study.name in shipped.names() and source.resolve() == shipped.path_of(
        study.name).resolve()
    parts = ["suite", "run", study.name if is_shipped else str(source)]
    if study.quick:
        parts.append("--quick")
    n_seeds = len({r["seed_index"] for r in rows})
    if rows and n_seeds != study.seeds:
        parts += ["--seeds", str(n_seeds)]
    device = "cuda" if rows and rows[0]["device"].startswith("cuda") else "cpu"
    parts += ["--device", device, "--threads", str(env.get("threads", 1)),
              "--store", "rerun.db"]
    if rows and len(plan(study, n_seeds)) != len(rows):
        parts.append("# note: the store holds trials of another plan too")
    return " ".join(shlex.quote(p) if not p.startswith("#") else p for p in parts)


# -- figures ----------------------------------------------------------------------------
def figures(study: Study, rows: list[dict], store: Store, page: StudyPage) -> list[dict]:
    """Every figure the study declares that is registered, as a PNG data URI; missing
    or inapplicable ones become notes on the page."""
    from suite import figures as F
    from suite.figures.supervised import MAP_STEP, QUICK_MAX_SIDE

    ctx = F.FigureContext(study=study, trials=rows, store=store)
    out = []
    for name in study.figures:
        if name not in F.FIGURES:
            page.notes.append(f"Figure '{name}' is declared but no code registers it "
                              f"(registered: {', '.join(sorted(F.FIGURES))}).")
            continue
        try:
            png = F.png_bytes(F.draw(name, ctx))
        except F.FigureUnavailable as e:
            page.notes.append(f"Figure '{name}' does not apply here: {e}.")
            continue
        except Exception as e:  # one broken figure must not sink the whole report
            page.notes.append(f"Figure '{name}' failed: {type(e).__name__}: {e}.")
            print(f"suite: warning: figure '{name}' of {study.name} failed: {e}", file=sys.stderr)
            continue
        out.append(_figure(name, png))
    if study.quick and "decision_boundary" in study.figures:
        page.notes.append(f"Quick variant: decision maps use a step coarser than the "
                          f"notebook's h = {MAP_STEP} (at most {QUICK_MAX_SIDE} grid points "
                          "along the longer side); the full variant uses h = 0.01.")
    return out


# -- files ------------------------------------------------------------------------------
def _write_tables(page: StudyPage, out: Path):
    folder = out / page.filename.removesuffix(".html")
    folder.mkdir(exist_ok=True)
    for t in page.tables + page.provenance_tables:
        _write_frame(t, folder, out)


def _write_frame(t: Table, folder: Path, out: Path) -> None:
    """`t` as CSV and JSON in `folder`; `t.files` gets their paths relative to `out`."""
    t.frame.to_csv(folder / f"{t.key}.csv", index=False)
    (folder / f"{t.key}.json").write_text(json.dumps(records(t.frame), indent=1),
                                          encoding="utf-8")
    t.files = {fmt: (folder / f"{t.key}.{fmt}").relative_to(out).as_posix()
               for fmt in ("csv", "json")}


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as dicts of plain JSON values (NaN becomes null)."""
    out = []
    for rec in frame.to_dict(orient="records"):
        out.append({str(k): _plain(v) for k, v in rec.items()})
    return out


def _missing(v) -> bool:
    return v is None or (pd.api.types.is_scalar(v) and bool(pd.isna(v)))


def _plain(v):
    if _missing(v):
        return None
    if hasattr(v, "item"):  # numpy scalars
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v
