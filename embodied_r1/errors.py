"""The one error type that the CLI turns into a single clear line (and exit code 2) instead of a traceback."""


class UserError(Exception):
    """Bad input from the user: a config, a file, a model name, an output folder.

    The message is one line that says what is wrong and how to fix it.
    """
