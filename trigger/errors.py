"""The one exception type for user mistakes: the CLI prints its message on one line and exits non-zero."""


class TriggerError(Exception):
    """A problem the user can fix: the message names the file/branch/key/layer and says what to do."""

    exit_code = 2


class ToolMissing(TriggerError):
    """An external tool (g++, Vivado, ...) is not on PATH."""

    exit_code = 3
