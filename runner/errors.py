"""The one exception type whose message is shown to the user as is, without a traceback."""


class UserError(Exception):
    """Bad input: the message names the culprit and how to fix it."""
