"""One exception type for every problem a user can fix.

Stages catch `UserError` at the top and print its message as a single line
before exiting non-zero, so a bad param, seed file or model path never ends in
a traceback. Anything else is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A problem in the user's input (params, seeds, model, data) with a one-line fix."""

    exit_code = 2
