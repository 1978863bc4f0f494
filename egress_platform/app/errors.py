"""The failures a command anticipates, each shown to the user as one line."""


class CliError(Exception):
    """A user mistake: printed as one line, exit code 2."""


class UnusableInput(Exception):
    """The landing zone or lake cannot be used: one line for the user, exit code 2."""


class StepFailed(Exception):
    """A materialization failed; the run is visible in `make dev`: exit code 1."""
