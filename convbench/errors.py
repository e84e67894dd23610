"""The one exception type for user mistakes: the CLI prints its message, exits non-zero, no traceback."""


class UserError(Exception):
    """Bad input from the user (a path, a name, a value). The message names it and says what is wrong."""
