"""The one exception type for user mistakes: the CLI prints its message, exits non-zero, no traceback."""


class UserError(Exception):
    """Bad input from the user (a path, a name, a value). The message names it and says what is wrong."""


class NotApplicable(Exception):
    """A technique or format that cannot apply to this model (a Keras 3 model given to TFMOT, an op
    a converter has no kernel for). Recorded as skipped with this message, not as a failure."""
