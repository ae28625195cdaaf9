"""The exception types whose message is shown to the user as is, without a traceback."""


class UserError(Exception):
    """Bad input: the message names the culprit and how to fix it."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: stopped like Ctrl-C, at a clean point, the parent run marked FAILED."""


class LoggingFailed(Exception):
    """MLflow failed part-way; the message says what was logged and where the results are."""
