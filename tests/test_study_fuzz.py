"""Property test (issue 14): mutated versions of every shipped study file, fed to `suite run`,
give either one sentence and exit status 2 before any store exists, or a valid study (which
reaches the store); never a traceback. Hypothesis draws the mutations; the number of
examples is bounded so that the test takes seconds (CI runs it as it is)."""

import contextlib
import io
import re
import tomllib
from pathlib import Path
from unittest import mock

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from suite.cli import main
from suite.errors import SuiteError
from suite.study import shipped as registry
from suite.study import spec
from suite.study.planning import CONFIRM_TRIALS, count, plan

SHIPPED = {name: registry.path_of(name).read_text(encoding="utf-8") for name in registry.names()}
ASSIGNMENT = re.compile(r"^(\s*[A-Za-z_][\w.-]*\s*=\s*)(.+)$")
TOKEN = re.compile(r'-?\d+(?:\.\d+)?(?:e-?\d+)?|"[^"\n]*"')  # a number or a string

# Values a careless or hostile user might type where another was expected.
LITERALS = st.sampled_from([
    "inf", "-inf", "nan", "+nan", "1e999", "-1", "0", "0.0", "1.5", "true", "false",
    "18446744073709551617", "100000000000000000000000", "1000000000", "1e23",
    '"x"', '""', '"1"', "'a' ", '"' + "n" * 300 + '"', "[]", "[1, 1]", "[1, 1.0]",
    '["a", "a"]', "[{ label = \"a\", n_neurons = 3 }, { label = \"a\", n_neurons = 3 }]",
    "{ a = 1 }", "{}", "1979-05-27", "07:32:00", "1979-05-27T07:32:00Z", "[[1, 2], [3]]",
    "[inf]", "{ label = 1 }", "-9223372036854775809", "9223372036854775807",
])

MUTATION = st.one_of(
    st.tuples(st.just("value"), st.integers(0, 10**6), LITERALS),
    st.tuples(st.just("token"), st.integers(0, 10**6), LITERALS),
    st.tuples(st.just("delete"), st.integers(0, 10**6), st.just("")),
    st.tuples(st.just("duplicate"), st.integers(0, 10**6), st.just("")),
    st.tuples(st.just("bytes"), st.integers(0, 10**6),
              st.sampled_from(["\x00", "\ufeff", "\xe9", "[", "]", "=", "\"", "\n[quick]\n",
                               "\nseeds = 2\n", "\n[fixed]\n"])),
)


def mutate(text: str, mutations) -> bytes:
    lines = text.splitlines(keepends=True)
    raw_tail = b""
    for kind, where, arg in mutations:
        i = where % max(1, len(lines))
        if kind == "value":
            assignments = [j for j, line in enumerate(lines) if ASSIGNMENT.match(line)]
            if assignments:
                j = assignments[where % len(assignments)]
                lines[j] = ASSIGNMENT.sub(lambda m, arg=arg: m.group(1) + arg, lines[j]) + (
                    "" if lines[j].endswith("\n") else "\n")
        elif kind == "token":  # inside a list or an inline table too
            text = "".join(lines)
            tokens = list(TOKEN.finditer(text))
            if tokens:
                m = tokens[where % len(tokens)]
                lines = (text[:m.start()] + arg + text[m.end():]).splitlines(keepends=True)
        elif kind == "delete" and lines:
            del lines[i]
        elif kind == "duplicate" and lines:
            lines.insert(i, lines[i])
        elif kind == "bytes":
            if arg == "\xe9":  # Latin-1, not UTF-8
                raw_tail += b"\xe9"
            else:
                lines.insert(i, arg)
    return "".join(lines).encode("utf-8") + raw_tail


class ReachedStore(Exception):
    """The study was valid: `suite run` went on to open the store (here, a stand-in)."""


class _RefuseStore:
    """Stands in for suite.store.Store: opening it means the study was accepted."""

    def __init__(self, *args, **kwargs):
        raise ReachedStore


@settings(max_examples=100, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(name=st.sampled_from(sorted(SHIPPED)), mutations=st.lists(MUTATION, min_size=1,
                                                                 max_size=3))
def test_mutated_shipped_studies_are_valid_or_refused_in_one_sentence(tmp_path_factory,
                                                                       name, mutations):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / f"{name}.toml"
    path.write_bytes(mutate(SHIPPED[name], mutations))
    store = folder / "s.db"
    err = io.StringIO()
    with mock.patch("suite.store.Store", _RefuseStore), contextlib.redirect_stderr(err), \
            contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(["run", str(path), "--store", str(store), "--no-progress"])
        except ReachedStore:
            _assert_valid(path)
            return
    text = err.getvalue()
    errors = [x for x in text.splitlines() if x.startswith("suite: error:")]
    assert code == 2, text
    assert len(errors) == 1 and "Traceback" not in text, text
    assert str(path) in errors[0], errors[0]  # the sentence names the file
    assert not store.exists()


def _assert_valid(path: Path) -> None:
    """A study that reached the store parses in both variants and can be planned (trial
    ids hash the configs: a value JSON cannot hold, like inf, would fail there)."""
    tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    for quick in (False, True):
        study = spec.load_file(path, quick=quick)
        assert count(study) <= CONFIRM_TRIALS  # a larger plan is refused without --yes
        assert len(plan(study)) == count(study)


def test_the_mutations_do_reach_both_outcomes(tmp_path):
    """The property above is not vacuous: an unmutated file is valid, a mutated one can be
    refused."""
    name = "spiral-layers"
    ok = tmp_path / "ok.toml"
    ok.write_bytes(mutate(SHIPPED[name], [("bytes", 0, "\ufeff")]))  # a byte order mark
    spec.load_file(ok)
    bad = tmp_path / "bad.toml"
    bad.write_bytes(mutate(SHIPPED[name], [("value", 0, "inf")]))
    try:
        spec.load_file(bad)
    except SuiteError as e:
        assert "\n" not in str(e)
    else:
        raise AssertionError("a mutation that should be refused was accepted")
