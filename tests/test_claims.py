"""Claims as data (suite/claims.py): validation in the study parser, and each kind of claim
evaluated on a small synthetic store whose verdicts and p-values are worked out by hand."""

import copy
import json
import math

import numpy as np
import pytest
from scipy import stats

from suite.analysis import claims
from suite.errors import DeclarationError
from suite.report import build_site
from suite.store import Store
from suite.study import shipped as registry
from suite.study import spec

# val_accuracy per seed index 0..4 of each depth; depth 5 is declared but never run.
VALUES = {
    "1": [0.60, 0.62, 0.58, 0.61, 0.59],
    "2": [0.80, 0.82, 0.79, 0.81, 0.78],
    "3": [0.90, 0.91, 0.89, 0.92, 0.88],
    "4": [0.90, 0.88, 0.91, 0.89, 0.92],
}
SRC = "a notebook"
CLAIMS = [
    {"claim": "two layers beat one", "source": SRC, "kind": "better", "metric": "val_accuracy",
     "a": "2", "b": "1"},
    {"claim": "one layer beats three", "source": SRC, "kind": "better",
     "metric": "val_accuracy", "a": "1", "b": "3"},
    {"claim": "four layers beat three", "source": SRC, "kind": "better",
     "metric": "val_accuracy", "a": "4", "b": "3"},
    {"claim": "deeper is better", "source": SRC, "kind": "trend", "metric": "val_accuracy",
     "axis": "n_hidden_layers", "direction": "increasing", "among": ["1", "2", "3"]},
    {"claim": "deeper is worse", "source": SRC, "kind": "trend", "metric": "val_accuracy",
     "axis": "n_hidden_layers", "direction": "decreasing", "among": ["1", "2", "3"]},
    {"claim": "the table", "source": SRC, "kind": "published", "metric": "val_accuracy",
     "values": {"2": 0.80, "1": 0.70, "5": 0.9}, "causes": {"1": "one unseeded run"}},
]
RAW = {
    "name": "synth",
    "metrics": ["val_accuracy", "test_accuracy"],
    "task": {"kind": "supervised"},
    "scientific": {"n_hidden_layers": [1, 2, 3, 4, 5]},
    "claims": CLAIMS,
}


def _row(label: str, seed: int, value: float) -> dict:
    return {"trial_id": f"t{label}-{seed}", "study": "synth", "variant": "full",
            "plan_index": int(label) * 10 + seed, "labels": {"n_hidden_layers": label},
            "config": {}, "config_hash": f"c{label}", "seed_index": seed,
            "seeds": {"root": 0, "index": seed, "data": 0, "init": 0, "order": 0,
                      "dropout": 0, "sampler": 0},
            "status": "ok", "metrics": {"val_accuracy": value, "test_accuracy": value},
            "artifacts": {}, "note": "", "started": "s", "finished": "f", "wall_time": 0.0,
            "device": "cpu", "suite_version": "0", "run_id": 1}


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "synth.db")
    s.save_study("synth", "full", "synth.toml", RAW, "supervised")
    for label, values in VALUES.items():
        for seed, v in enumerate(values):
            s.save_trial(_row(label, seed, v), {})
    yield s
    s.close()


def _paired_p(a, b) -> float:
    """Two-sided paired t p by the textbook formula."""
    d = [x - y for x, y in zip(a, b, strict=True)]
    n = len(d)
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    return 2 * stats.t.sf(abs(mean / (sd / math.sqrt(n))), n - 1)


def _findings(store):
    study = spec.parse(RAW, "synth.toml")
    return claims.finish(claims.study_findings(study, "full", store.trials("synth", "full")))


def test_each_kind_holds_is_contradicted_or_is_inconclusive_as_worked_by_hand(store):
    f = _findings(store)
    # the published values come in the axis's order: depth 1, 2, 5
    assert [x.verdict for x in f] == ["holds", "contradicted", "inconclusive", "holds",
                                      "contradicted", "contradicted", "holds", "inconclusive"]
    # Page's L with every one of 5 seeds in the predicted order of 3 levels: the exact
    # one-sided p is (1/3!)^5; two-sided, twice that.
    page = 2 / 6 ** 5
    p_up = _paired_p(VALUES["2"], VALUES["1"])
    p_down = _paired_p(VALUES["1"], VALUES["3"])
    p_flat = _paired_p(VALUES["4"], VALUES["3"])
    raw = [x.tests[0].p for x in f[:5]]
    assert raw == pytest.approx([p_up, p_down, p_flat, page, page], rel=1e-9)
    # Holm over the 5 tests: order p_down < p_up < page = page < p_flat
    holm = [x.tests[0].p_holm for x in f[:5]]
    assert holm[1] == pytest.approx(5 * p_down) and holm[0] == pytest.approx(4 * p_up)
    assert holm[3] == pytest.approx(3 * page) and holm[4] == pytest.approx(3 * page)
    assert holm[2] == pytest.approx(min(1.0, max(2 * p_flat, 3 * page)))
    assert all(x.n_seeds == 5 for x in f[:5])


def test_published_values_against_a_hand_computed_interval(store):
    one, two, five = _findings(store)[5:]
    # depth 2: mean 0.80, s = sqrt(0.001 / 4) = 0.0158; an accuracy, so the logit t
    # interval: half = t(0.975, 4) s / (sqrt(5) 0.8 0.2) around logit 0.8 = ln 4
    half = stats.t.ppf(0.975, 4) * math.sqrt(0.001 / 4) / (math.sqrt(5) * 0.8 * 0.2)
    lo, hi = (4 * math.exp(-half) / (1 + 4 * math.exp(-half)),
              4 * math.exp(half) / (1 + 4 * math.exp(half)))
    assert f"[{lo:.4f}, {hi:.4f}]" in two.evidence
    assert two.claim == "the table: 2 = 0.8" and two.n_seeds == 5 and two.cause == ""
    assert "published above" in one.evidence and one.cause == "one unseeded run"
    assert five.evidence == "published 0.9; 5 not run in this variant" and five.n_seeds == 0


def test_a_claim_on_one_seed_is_inconclusive_and_an_exact_one_is_decided(store):
    raw = copy.deepcopy(RAW)
    raw["claims"] = [CLAIMS[0], CLAIMS[0] | {"exact": True}, CLAIMS[2] | {"exact": True}]
    study = spec.parse(raw, "synth.toml")
    rows = [r for r in store.trials("synth", "full") if r["seed_index"] == 0]
    f = claims.finish(claims.study_findings(study, "full", rows))
    assert [x.verdict for x in f] == ["inconclusive", "holds", "inconclusive"]  # 0.90 = 0.90
    assert "1 paired seeds, p –" in f[0].evidence
    assert "without a test" in f[1].evidence and math.isnan(f[1].tests[0].p_holm)


def test_the_index_opens_with_the_findings_and_writes_them_as_csv_and_json(store, tmp_path):
    build_site(store, tmp_path / "site")
    html = (tmp_path / "site" / "index.html").read_text()
    assert html.index("Findings: the notebooks") < html.index("<h2 id=\"studies\">")
    assert "8 findings" in html and ">3 holds<" in html and ">3 contradicted<" in html
    assert ">2 inconclusive<" in html
    assert '<a href="synth.html">synth</a>' in html
    rows = json.loads((tmp_path / "site" / "findings.json").read_text())
    assert [r["verdict"] for r in rows][:3] == ["holds", "contradicted", "inconclusive"]
    page = (tmp_path / "site" / "synth.html").read_text()
    assert "The notebook&#39;s claims, checked" in page


def test_trend_p_edge_cases():
    assert claims.trend_p(np.array([[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]])) == (1.0, 0.0)
    p, effect = claims.trend_p(np.array([[0.1, 0.2], [0.3, 0.5], [0.2, 0.3]]))
    assert p == pytest.approx(_paired_p([0.2, 0.5, 0.3], [0.1, 0.3, 0.2])) and effect > 0
    assert math.isnan(claims.trend_p(np.array([[1.0, 2.0, 3.0]]))[0])


def test_every_shipped_claim_validates_and_there_are_at_least_30():
    total = sum(len(registry.load(n).claims) for n in registry.names())
    assert total >= 30
    kinds = {c.kind for n in registry.names() for c in registry.load(n).claims}
    assert kinds == set(claims.KIND_KEYS)


def _message(claim: dict, **raw_changes) -> str:
    raw = copy.deepcopy(RAW) | raw_changes
    raw["claims"] = [claim]
    with pytest.raises(DeclarationError) as e:
        spec.parse(raw, "c.toml")
    return str(e.value)


@pytest.mark.parametrize("change, expected", [
    ({"kind": "bigger"}, "the 'claims[0].kind' value of study 'synth' must be one of 'better', "
     "'trend', 'published'. Got 'bigger' instead."),
    ({"metric": "accuracy"}, "the 'claims[0].metric' value of study 'synth' must be one of the "
     "study's metrics ('val_accuracy', 'test_accuracy'). Got 'accuracy' instead."),
    ({"b": "7"}, "the 'claims[0].b[0].n_hidden_layers' value of study 'synth' must be a label "
     "of the axis 'n_hidden_layers' ('1', '2', '3', '4', '5'). Got '7' instead."),
    ({"claim": ""}, "the 'claims[0].claim' value of study 'synth' must be a non-empty string "
     "(the claim in the notebook's words). Got '' instead."),
    ({"sense": "up"}, "the 'claims[0].sense' value of study 'synth' must be 'higher' or "
     "'lower' (which way is better). Got 'up' instead."),
    ({"b": "2"}, "the 'claims[0].b' value of study 'synth' must be configurations other than "
     "'a'. Got '2' instead."),
    ({"axis": "x"}, "the 'claims[0].axis' value of study 'synth' must be absent: unknown key "
     "(valid keys: 'claim', 'source', 'kind', 'metric', 'sense', 'a', 'b', 'exact'). Got "
     "'axis' instead."),
])
def test_a_bad_claim_is_one_sentence_naming_file_key_expected_and_given(change, expected):
    assert _message(CLAIMS[0] | change) == f"c.toml: {expected}"


def test_bad_trend_and_published_claims_are_refused():
    assert "'claims[0].direction'" in _message(CLAIMS[3] | {"direction": "up"})
    assert "'claims[0].among'" in _message(CLAIMS[3] | {"among": ["1"]})
    two_axes = {"n_hidden_layers": [1, 2], "n_neurons": [3, 5]}
    msg = _message(CLAIMS[5], scientific=two_axes)
    assert "'claims[0].values'" in msg and "absent for a study with several axes" in msg
    msg = _message({**CLAIMS[0], "a": "1", "b": "2"}, scientific=two_axes)
    assert "a table with one label for each of the axes 'n_hidden_layers', 'n_neurons'" in msg
    msg = _message({k: v for k, v in CLAIMS[5].items() if k not in ("values", "causes")})
    assert "'claims[0].values'" in msg and "[reference]" in msg
    assert "'claims[0].causes.9'" in _message(CLAIMS[5] | {"causes": {"9": "x"}})
    msg = _message("not a table")  # type: ignore[arg-type]
    assert "'claims' value of study 'synth' must be a list of tables" in msg


def test_an_exact_published_value_needs_every_seed_within_the_tolerance(store):
    exact = {"claim": "depth 4 gives 0.9", "source": SRC, "kind": "published",
             "metric": "val_accuracy", "values": {"4": 0.9}, "exact": True}
    raw = copy.deepcopy(RAW)
    raw["claims"] = [exact, exact | {"tolerance": 0.020001}, exact | {"tolerance": 0.019}]
    study = spec.parse(raw, "synth.toml")
    f = claims.finish(claims.study_findings(study, "full", store.trials("synth", "full")))
    # seeds give 0.90, 0.88, 0.91, 0.89, 0.92: the farthest is 0.02 (up to rounding) away
    assert [x.verdict for x in f] == ["contradicted", "holds", "contradicted"]
    assert f[1].n_seeds == 5 and "0.88" in f[1].evidence
    one = [r for r in store.trials("synth", "full") if r["seed_index"] == 0]
    assert claims.study_findings(study, "full", one)[0].verdict == "holds"  # 0.90 exactly
    msg = _message(exact | {"exact": False, "tolerance": 0.1})
    assert "'claims[0].tolerance'" in msg and "given only with exact = true" in msg
