"""Start-up stays light (issue 15 section 3): importing the command line, and the commands
that only print, import neither torch nor the other heavy libraries. Checked in a fresh
interpreter, where nothing else has imported them yet."""

import json
import subprocess
import sys

from conftest import REPO_ROOT

HEAVY = ("torch", "sklearn", "pandas", "matplotlib", "optuna", "scipy", "sqlalchemy")


def imported_after(code: str) -> list[str]:
    """The heavy modules a fresh interpreter holds after running `code`."""
    probe = (f"{code}\nimport json, sys\n"
             f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.splitlines()[-1])


def test_importing_the_command_line_imports_no_torch():
    assert imported_after("import suite.cli") == []


def test_version_and_help_import_no_torch():
    for argv in (["--version"], ["--help"]):
        code = (f"import sys; sys.argv = ['suite', *{argv!r}]\nfrom suite import cli\n"
                "try:\n    cli.main()\nexcept SystemExit:\n    pass")
        assert imported_after(code) == [], argv
