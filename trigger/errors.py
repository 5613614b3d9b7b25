"""The one exception type for user mistakes: the CLI prints its message on one line and exits non-zero."""

import shutil


class TriggerError(Exception):
    """A problem the user can fix: the message names the file/branch/key/layer and says what to do."""

    exit_code = 2


class ToolMissing(TriggerError):
    """An external tool (g++, Vivado, ...) is not on PATH."""

    exit_code = 3


class NothingWithinBudget(TriggerError):
    """A finding, not a mistake: no design meets budget.yml (the exit code of `trigger check` over budget)."""

    exit_code = 1


def require(*tools: str, install: str) -> list[str]:
    """The paths of external tools, or a ToolMissing naming the first absent one and how to `install` it."""
    paths = [shutil.which(tool) for tool in tools]
    for tool, path in zip(tools, paths):
        if path is None:
            raise ToolMissing(f"{tool} not found on PATH; install it ({install})")
    return paths
