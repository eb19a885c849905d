"""The notebooks' claims as data, checked against the store: the findings table.

A study declares its seed's claims in `[[claims]]` tables; each has the claim in the
notebook's words (`claim`), where it comes from (`source`) and one machine-checkable form
(`kind`, one of KINDS):

    [[claims]]                      # configuration A better than B (or than each of a list)
    claim = "SGD is the optimizer that performs best by far"
    source = "seeds/001_...txt, 'Impact of the optimizer' (prose)"
    kind = "better"
    metric = "val_accuracy"
    a = "sgd"                       # a label of the single axis, or { axis = label, ... }
    b = ["adam", "rmsprop"]         # one configuration or a list of them

    [[claims]]                      # a metric increasing (or decreasing) along an axis
    claim = "the higher the number of epochs, the better is the model"
    kind = "trend"
    metric = "val_accuracy"
    axis = "epochs"
    direction = "increasing"        # or "decreasing"
    among = ["5", "30", "100"]      # optional: these labels, in this order (default: all)
    at = { shape = "3x10" }         # the other axes' labels, for studies with several axes

    [[claims]]                      # published numbers inside the suite's interval
    claim = "Number of hidden layers: classification accuracy (table)"
    kind = "published"
    metric = "val_accuracy"
    values = { "1" = 0.581, "10" = 1.0 }     # label -> value (single-axis studies; left
    # out: the study's [reference] values), or at = { ... } and value = 0.9 (one
    # configuration of a study with several axes)
    causes = { "1" = "one unseeded run" }   # optional: why a value may fall outside
    # (with at and value: cause = "...")

A `better` claim on a deterministic task (the optimiser paths: every seed gives the same
numbers) may say `exact = true`: the values are compared directly, without a test (holds
when A is strictly better, contradicted when strictly worse, inconclusive when equal).
A `published` claim with `exact = true` holds when every seed's value is within
`tolerance` (default 0) of the published one, and is contradicted otherwise.

Optional everywhere: `sense = "higher" | "lower"` (which way is better; default from the
metric's name, as in `suite.analysis.higher_is_better`).

Verdicts (`evaluate`): every p-value of the findings table (each pair of a `better`
claim, each `trend`) is one family, Holm-corrected together. A comparison or trend
*holds* when its Holm p is below ALPHA in the claimed direction, is *contradicted* when it
is below ALPHA the other way, and is *inconclusive* otherwise (or when fewer than two
seeds are paired). A `better` claim with several B holds when every pair holds and is
contradicted when any pair is. A `published` value holds when it lies inside the suite's
95% interval of the mean over seeds, is contradicted when outside, and is inconclusive
when the interval is undefined (fewer than 2 seeds) or the configuration was not run.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _stats

from suite.analysis import tables as analysis

KIND_KEYS = {
    "better": ("a", "b", "exact"),
    "trend": ("axis", "direction", "among", "at"),
    "published": ("values", "at", "value", "causes", "cause", "exact", "tolerance"),
}
COMMON_KEYS = ("claim", "source", "kind", "metric", "sense")
DIRECTIONS = ("increasing", "decreasing")
SENSES = ("higher", "lower")
VERDICTS = ("holds", "contradicted", "inconclusive")
ALPHA = analysis.ALPHA
TREND_METHOD = ("Page's L test (scipy.stats.page_trend_test) over the seeds where every "
                "level is defined, for a monotone trend in the claimed order (two-sided: "
                "twice the smaller one-sided p); with two levels, the paired t-test")
METHOD = ("better: paired t-test over seed indexes (scipy.stats.ttest_rel); trend: "
          + TREND_METHOD + "; every p of the findings table (the index page's, over the "
          "whole catalogue) is Holm-corrected as one family, and "
          f"a claim holds when its Holm p is below {ALPHA} in the claimed direction, is "
          "contradicted when below it the other way, and is inconclusive otherwise. "
          "published: the value lies inside (holds) or outside (contradicted) the suite's "
          "95% interval of the mean over seeds; inconclusive when that is undefined")


@dataclass(frozen=True)
class Claim:
    """One declared claim, validated; configurations are {axis: label} dicts."""

    claim: str
    source: str
    kind: str
    metric: str
    higher: bool
    a: dict = field(default_factory=dict)
    b: tuple = ()
    axis: str = ""
    direction: str = "increasing"
    among: tuple = ()
    at: dict = field(default_factory=dict)
    exact: bool = False
    tolerance: float = 0.0
    values: tuple = ()  # ((config, published value), ...)
    causes: dict = field(default_factory=dict)  # label -> text


# -- parsing ------------------------------------------------------------------------------
def parse(raw, check, study) -> tuple[Claim, ...]:
    """Validate the `claims` list of a declaration against the (full) `study`; `check` is
    the parser's `_Checker` (its `fail` raises the one-sentence DeclarationError)."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or not all(isinstance(c, dict) for c in raw):
        check.fail("claims", "a list of tables ([[claims]])", raw)
    return tuple(_claim(check, study, f"claims[{i}]", c) for i, c in enumerate(raw))


def _claim(check, study, where: str, c: dict) -> Claim:
    kind = c.get("kind")
    if not isinstance(kind, str) or kind not in KIND_KEYS:
        check.fail(f"{where}.kind", f"one of {', '.join(repr(k) for k in KIND_KEYS)}", kind)
    check.unknown_keys(c, COMMON_KEYS + KIND_KEYS[kind], f"{where}.")
    for key in ("claim", "source"):
        text = c.get(key)
        if not isinstance(text, str) or not text.strip():
            what = "the claim in the notebook's words" if key == "claim" else \
                "where the claim comes from"
            check.fail(f"{where}.{key}", f"a non-empty string ({what})", text)
    metric = c.get("metric")
    if metric not in study.metrics:
        check.fail(f"{where}.metric", "one of the study's metrics "
                   f"({', '.join(repr(m) for m in study.metrics)})", metric)
    sense = c.get("sense", "higher" if analysis.higher_is_better(metric) else "lower")
    if sense not in SENSES:
        check.fail(f"{where}.sense", "'higher' or 'lower' (which way is better)", sense)
    base = {"claim": c["claim"], "source": c["source"], "kind": kind, "metric": metric,
            "higher": sense == "higher"}
    return Claim(**base, **PARSERS[kind](check, study, where, c))


def _better(check, study, where, c) -> dict:
    if "a" not in c or "b" not in c:
        check.fail(f"{where}.{'b' if 'a' in c else 'a'}", "a configuration (an axis label, "
                   "or a table of labels for each axis)", None)
    a = _config(check, study, f"{where}.a", c["a"], _axis_names(study))
    bs = c["b"] if isinstance(c["b"], list) else [c["b"]]
    if not bs:
        check.fail(f"{where}.b", "a configuration or a non-empty list of them", c["b"])
    b = tuple(_config(check, study, f"{where}.b[{i}]", x, _axis_names(study))
              for i, x in enumerate(bs))
    if a in b:
        check.fail(f"{where}.b", "configurations other than 'a'", c["b"])
    exact = c.get("exact", False)
    if not isinstance(exact, bool):
        check.fail(f"{where}.exact", "true or false (true: a deterministic task, compared "
                   "without a test)", exact)
    return {"a": a, "b": b, "exact": exact}


def _trend(check, study, where, c) -> dict:
    names = _axis_names(study)
    axis = c.get("axis")
    if axis not in names:
        check.fail(f"{where}.axis", f"one of the study's axes ({', '.join(map(repr, names))})",
                   axis)
    direction = c.get("direction")
    if direction not in DIRECTIONS:
        check.fail(f"{where}.direction", "'increasing' or 'decreasing'", direction)
    labels = _labels(study, axis)
    among = c.get("among", labels)
    if not isinstance(among, list) or len(among) < 2:
        check.fail(f"{where}.among", f"a list of at least 2 labels of the axis '{axis}'", among)
    among = [str(x) for x in among]
    for i, label in enumerate(among):
        if label not in labels:
            check.fail(f"{where}.among[{i}]", f"a label of the axis '{axis}' "
                       f"({', '.join(map(repr, labels))})", label)
    if len(set(among)) != len(among):
        check.fail(f"{where}.among", "distinct labels", among)
    others = [n for n in names if n != axis]
    at = _config(check, study, f"{where}.at", c.get("at", {}), others)
    return {"axis": axis, "direction": direction, "among": tuple(among), "at": at}


def _published(check, study, where, c) -> dict:
    exact, tolerance = c.get("exact", False), c.get("tolerance", 0.0)
    if not isinstance(exact, bool):
        check.fail(f"{where}.exact", "true or false (true: every seed's value must equal the "
                   "published one, within 'tolerance')", exact)
    if "tolerance" in c and not exact:
        check.fail(f"{where}.tolerance", "given only with exact = true", tolerance)
    if isinstance(tolerance, bool) or not isinstance(tolerance, int | float) or not (
            0 <= tolerance < math.inf):
        check.fail(f"{where}.tolerance", "a non-negative number", tolerance)
    return {**_published_values(check, study, where, c), "exact": exact,
            "tolerance": float(tolerance)}


def _published_values(check, study, where, c) -> dict:
    names = _axis_names(study)
    if "values" not in c and "at" not in c and "value" not in c:
        if not study.reference or study.reference.get("metric") != c.get("metric"):
            check.fail(f"{where}.values", "a table of published values keyed by axis label "
                       "(it may be left out only when the study's [reference] gives them for "
                       "the same metric)", None)
        c = {**c, "values": study.reference["values"]}
    if "values" in c:
        if len(names) != 1:
            check.fail(f"{where}.values", "absent for a study with several axes (give 'at' "
                       "and 'value')", c["values"])
        if "at" in c or "value" in c:
            check.fail(f"{where}.{'at' if 'at' in c else 'value'}", "absent when 'values' "
                       "is given", c.get("at", c.get("value")))
        vals = c["values"]
        if not isinstance(vals, dict) or not vals:
            check.fail(f"{where}.values", "a non-empty table of numbers keyed by axis label",
                       vals)
        order = _labels(study, names[0])  # the axis's order (stored tables may be sorted)
        pairs = tuple((_config(check, study, f"{where}.values.{k}", k, names),
                       _number(check, f"{where}.values.{k}", v))
                      for k, v in sorted(vals.items(), key=lambda kv: order.index(kv[0])
                                         if kv[0] in order else -1))
        if "cause" in c:
            check.fail(f"{where}.cause", "absent when 'values' is given (use 'causes', keyed "
                       "by label)", c["cause"])
    else:
        at = _config(check, study, f"{where}.at", c.get("at"), names)
        pairs = ((at, _number(check, f"{where}.value", c.get("value"))),)
        if "causes" in c:
            check.fail(f"{where}.causes", "absent when 'at' and 'value' are given (use "
                       "'cause')", c["causes"])
        cause = c.get("cause", "")
        if not isinstance(cause, str):
            check.fail(f"{where}.cause", "a text (why the value may fall outside)", cause)
        return {"values": pairs, "causes": {_label(at): cause} if cause else {}}
    causes = c.get("causes", {})
    if not isinstance(causes, dict):
        check.fail(f"{where}.causes", "a table of texts keyed by axis label", causes)
    labels = {_label(cfg) for cfg, _ in pairs}
    for k, v in causes.items():
        if k not in labels or not isinstance(v, str):
            check.fail(f"{where}.causes.{k}", "a text, keyed by a label of the published "
                       f"values ({', '.join(map(repr, sorted(labels)))})", v if k in labels
                       else k)
    return {"values": pairs, "causes": dict(causes)}


PARSERS = {"better": _better, "trend": _trend, "published": _published}


def _axis_names(study) -> list[str]:
    return [a.name for a in study.axes]


def _labels(study, axis: str) -> list[str]:
    return [v.label for a in study.axes if a.name == axis for v in a.values]


def _config(check, study, where: str, given, axes: list[str]) -> dict:
    """A configuration of `axes`: a bare label when there is one axis, else a table with a
    label for each of them."""
    if not axes:
        if given not in ({}, None):
            check.fail(where, "absent (no other axis)", given)
        return {}
    if len(axes) == 1 and isinstance(given, str | int | float) and not isinstance(given, bool):
        given = {axes[0]: str(given)}
    if not isinstance(given, dict) or sorted(given) != sorted(axes):
        check.fail(where, f"a table with one label for each of the axes "
                   f"{', '.join(map(repr, axes))}" + (" (or one label)" if len(axes) == 1
                                                        else ""), given)
    out = {}
    for axis in axes:  # the study's axis order
        label, labels = str(given[axis]), _labels(study, axis)
        if label not in labels:
            check.fail(f"{where}.{axis}", f"a label of the axis '{axis}' "
                       f"({', '.join(map(repr, labels))})", given[axis])
        out[axis] = label
    return out


def _number(check, where, v) -> float:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        check.fail(where, "a finite number", v)
    return float(v)


def _label(config: dict) -> str:
    """'sgd' for a configuration of one axis, 'lr=0.1, shape=3x5' for several."""
    if len(config) == 1:
        return next(iter(config.values()))
    return ", ".join(f"{k}={v}" for k, v in config.items())


# -- evaluation ---------------------------------------------------------------------------
@dataclass
class Test:
    """One p-value of the findings family: a pair of a `better` claim or a trend."""

    p: float
    effect: float  # > 0: the claimed direction
    p_holm: float = math.nan
    exact: bool = False  # a deterministic comparison: no test, the sign decides

    def verdict(self) -> str:
        if self.exact:
            return "holds" if self.effect > 0 else "contradicted" if self.effect < 0 else \
                "inconclusive"
        if math.isnan(self.p_holm) or self.p_holm >= ALPHA or self.effect == 0:
            return "inconclusive"
        return "holds" if self.effect > 0 else "contradicted"


@dataclass
class Finding:
    """One row of the findings table (a `published` claim gives one per value)."""

    study: str
    variant: str
    claim: str
    source: str
    kind: str
    metric: str
    n_seeds: int
    evidence: str = ""
    tests: list = field(default_factory=list)  # Test, filled before Holm
    parts: list = field(default_factory=list)  # text per test, with {p} placeholders
    verdict: str = "inconclusive"
    cause: str = ""
    page: str = ""

    def finish(self) -> None:
        """Verdict and evidence text once the tests' Holm p are known."""
        if not self.tests:
            return
        verdicts = [t.verdict() for t in self.tests]
        self.verdict = ("contradicted" if "contradicted" in verdicts else
                        "holds" if all(v == "holds" for v in verdicts) else "inconclusive")
        self.evidence = "; ".join(text.format(p=_p(t.p), p_holm=_p(t.p_holm))
                                  for text, t in zip(self.parts, self.tests, strict=True))


def frames(rows: list[dict], study) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trials frame and its statistics over seeds (one row per configuration and
    metric), as the study page computes them."""
    axes = _axis_names(study)
    frame = analysis.trials_frame(rows, list(study.metrics))
    return frame, analysis.seed_stats(frame, axes, list(study.metrics),
                                      dict(study.task.bounds))


def study_findings(study, variant: str, rows: list[dict], page: str = "") -> list[Finding]:
    """The findings of one study's claims on its stored trials, before Holm."""
    if not rows or not study.claims:
        return []
    frame, stats = frames(rows, study)
    out = []
    for c in study.claims:
        out += EVALUATORS[c.kind](c, study, frame, stats)
    for f in out:
        f.study, f.variant, f.page = study.name, variant, page
    return out


def finish(findings: list[Finding]) -> list[Finding]:
    """Holm over every test of the table, then each finding's verdict and evidence."""
    tests = [t for f in findings for t in f.tests if not t.exact]
    for t, p in zip(tests, analysis.holm([t.p for t in tests]), strict=True):
        t.p_holm = float(p)
    for f in findings:
        f.finish()
    return findings


def _finding(c: Claim, n: int, claim: str | None = None) -> Finding:
    return Finding("", "", claim or c.claim, c.source, c.kind, c.metric, n)


def _per_seed(frame: pd.DataFrame, config: dict, metric: str) -> pd.Series:
    """The metric of one configuration by seed index (defined values only)."""
    mask = np.ones(len(frame), dtype=bool)
    for axis, label in config.items():
        mask &= frame[axis].astype(str).to_numpy() == label
    sel = frame[mask]
    values = pd.to_numeric(sel[metric], errors="coerce").to_numpy(dtype=float)
    s = pd.Series(values, index=sel["seed"].to_numpy())
    return s[np.isfinite(s.to_numpy())]


def _stat(stats: pd.DataFrame, config: dict, metric: str) -> dict | None:
    mask = stats["metric"] == metric
    for axis, label in config.items():
        mask &= stats[axis].astype(str) == label
    rows = stats[mask]
    return None if rows.empty else rows.iloc[0].to_dict()


def _describe(stats, config, metric) -> str:
    s = _stat(stats, config, metric)
    name = _label(config) or "all"
    if s is None:
        return f"{name}: not run"
    if math.isnan(s["mean"]):
        return f"{name} undefined (n 0)"
    interval = ("" if math.isnan(s["ci_low"]) else
                f" [{s['ci_low']:.4f}, {s['ci_high']:.4f}]")
    return f"{name} {s['mean']:.4f}{interval} (n {s['defined']})"


def _better_eval(c: Claim, study, frame, stats) -> list[Finding]:
    a = _per_seed(frame, c.a, c.metric)
    f = _finding(c, 0)
    missing = [b for b in (c.a, *c.b) if _stat(stats, b, c.metric) is None]
    if missing:
        f.evidence = f"not run in this variant: {', '.join(_label(m) for m in missing)}"
        return [f]
    sign = 1 if c.higher else -1
    for b in c.b:
        vb = _per_seed(frame, b, c.metric)
        seeds = a.index.intersection(vb.index)
        x, y = a[seeds].to_numpy(), vb[seeds].to_numpy()
        p = analysis.paired_p(x, y) if len(seeds) >= 2 and not c.exact else math.nan
        effect = sign * float(np.mean(x - y)) if len(seeds) else 0.0
        f.tests.append(Test(p, effect, exact=c.exact))
        test = ("deterministic: compared without a test" if c.exact else
                f"{len(seeds)} paired seeds, p {{p}}, Holm p {{p_holm}}")
        f.parts.append(f"{_describe(stats, c.a, c.metric)} vs {_describe(stats, b, c.metric)}; "
                       + test)
        f.n_seeds = max(f.n_seeds, len(seeds))
    return [f]


def trend_p(matrix: np.ndarray) -> tuple[float, float]:
    """(two-sided p, effect) of an increasing trend along the columns of a seeds x levels
    matrix: Page's L test (paired t-test with two levels). `effect` > 0 means increasing."""
    if matrix.shape[0] < 2:
        return math.nan, 0.0
    if matrix.shape[1] == 2:
        d = matrix[:, 1] - matrix[:, 0]
        return analysis.paired_p(matrix[:, 1], matrix[:, 0]), float(np.mean(d))
    if np.all(matrix == matrix[:, :1]):  # every seed flat: no ordering at all
        return 1.0, 0.0
    up = _stats.page_trend_test(matrix).pvalue
    down = _stats.page_trend_test(matrix[:, ::-1]).pvalue
    return float(min(1.0, 2 * min(up, down))), float(down - up)


def _trend_eval(c: Claim, study, frame, stats) -> list[Finding]:
    f = _finding(c, 0)
    configs = [{**c.at, c.axis: label} for label in c.among]
    ordered = [{k: cfg[k] for k in _axis_names(study)} for cfg in configs]
    missing = [cfg for cfg in ordered if _stat(stats, cfg, c.metric) is None]
    if missing:
        f.evidence = f"not run in this variant: {'; '.join(_label(m) for m in missing)}"
        return [f]
    series = pd.concat([_per_seed(frame, cfg, c.metric) for cfg in ordered], axis=1).dropna()
    p, effect = trend_p(series.to_numpy(dtype=float))
    sign = 1 if c.direction == "increasing" else -1
    f.n_seeds = len(series)
    f.tests.append(Test(p, sign * effect))
    means = " → ".join(_describe(stats, cfg, c.metric) for cfg in ordered)
    at = f" at {_label(c.at)}" if c.at else ""
    f.parts.append(f"{c.axis}{at}: {means}; {len(series)} seeds with every level, "
                   f"p {{p}}, Holm p {{p_holm}}")
    return [f]


def _published_eval(c: Claim, study, frame, stats) -> list[Finding]:
    out = []
    for config, value in c.values:
        label = _label(config)
        f = _finding(c, 0, f"{c.claim}: {label} = {value:g}" if len(c.values) > 1 else None)
        s = _stat(stats, config, c.metric)
        if s is None:
            f.evidence = f"published {value:g}; {label} not run in this variant"
        elif c.exact:
            seen = _per_seed(frame, config, c.metric).to_numpy()
            f.n_seeds = len(seen)
            ok = len(seen) == int(s["n"]) > 0 and bool(np.all(np.abs(seen - value)
                                                                <= c.tolerance))
            f.verdict = "holds" if ok else "contradicted"
            values = ", ".join(f"{v:.17g}" for v in seen) or "undefined"
            f.evidence = (f"published {value:.17g}; suite {label}: {values} (deterministic: "
                          f"equal within {c.tolerance:g} required)")
            if not ok:
                f.cause = c.causes.get(label, "")
        elif math.isnan(s["ci_low"]):
            f.n_seeds = int(s["defined"])
            f.evidence = (f"published {value:g}; suite {_describe(stats, config, c.metric)}: "
                          "interval undefined (fewer than 2 seeds)")
        else:
            f.n_seeds = int(s["defined"])
            inside = s["ci_low"] <= value <= s["ci_high"]
            f.verdict = "holds" if inside else "contradicted"
            side = "" if inside else (" (published above)" if value > s["ci_high"]
                                      else " (published below)")
            f.evidence = (f"published {value:g}; suite {_describe(stats, config, c.metric)}"
                          f"{side}")
            if not inside:
                f.cause = c.causes.get(label, "")
        out.append(f)
    return out


EVALUATORS = {"better": _better_eval, "trend": _trend_eval, "published": _published_eval}


def _p(p: float) -> str:
    if math.isnan(p):
        return "–"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def table(findings: list[Finding]) -> pd.DataFrame:
    """The findings as a frame (for the page, CSV and JSON)."""
    cols = ["verdict", "claim", "source", "study", "variant", "kind", "metric", "n_seeds",
            "evidence", "cause"]
    return pd.DataFrame([{k: getattr(f, k) for k in cols} for f in findings], columns=cols)


def counts(findings: list[Finding]) -> dict[str, int]:
    return {v: sum(f.verdict == v for f in findings) for v in VERDICTS}
