"""Errors the CLI reports as one clear sentence, without a traceback."""


class SuiteError(Exception):
    """A problem the user can fix: printed as-is by the CLI, exit status 2."""

    exit_code = 2


class DeclarationError(SuiteError):
    """A study declaration that breaks a rule; raised before any compute."""

    def __init__(self, source: str, study: str, key: str, expected: str, given: object):
        self.source, self.study, self.key = source, study, key
        self.expected, self.given = expected, given
        super().__init__(
            f"{source}: the '{key}' value of study '{study}' must be {expected}. "
            f"Got {given!r} instead."
        )


class RunFailed(SuiteError):
    """A run that stopped because some of its trials failed (a worker died, a task
    raised); the trials it finished are stored, and running it again resumes. Exit 1."""

    exit_code = 1


class PluginError(SuiteError):
    """A plug-in that could not be loaded or that breaks its contract (exit status 2)."""


class StoreError(SuiteError):
    """The store cannot be used (corrupt, foreign, or busy); nothing was written to it."""


class UnknownNameError(SuiteError, KeyError):
    """A name that is not in one of the suite's dicts of components."""

    def __str__(self) -> str:  # KeyError would quote the message
        return self.args[0]


def did_you_mean(name: str, valid) -> str:
    """' Did you mean 'x'?' for the closest valid name, or '' when none is close."""
    import difflib

    close = difflib.get_close_matches(str(name), list(valid), n=1)
    return f" Did you mean '{close[0]}'?" if close else ""
