"""Errors a user can fix. The CLI prints their message on one line and exits with status 2."""


class QstarError(Exception):
    """Bad input or configuration; the message names the problem and the fix."""


class UnknownComponentError(QstarError):
    pass
