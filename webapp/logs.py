"""Where log lines go: standard error, one format, for the app, Hypercorn and the jobs.

``shelfmark serve`` and ``shelfmark scheduler`` (and every other command) call
``configure`` first; each Hypercorn worker, a fresh interpreter, calls it again
when it builds the app. The access log is separate: it has its own target
(``SHELFMARK_ACCESS_LOG``) and is written whatever ``SHELFMARK_LOG_LEVEL`` says.
"""

from __future__ import annotations

import logging
import sys

from webapp.config import Settings

# Hypercorn's own layout (its time with the UTC offset, process id, level), plus
# the logger's name: lines from the app, the jobs and Hypercorn look alike, and
# anything that read Hypercorn's lines before still finds time, pid and level.
FORMAT = "%(asctime)s [%(process)d] [%(levelname)s] %(name)s: %(message)s"
DATE_FORMAT = "[%Y-%m-%d %H:%M:%S %z]"
ACCESS_LOGGER = "hypercorn.access"
ERROR_LOGGER = "hypercorn.error"


class _StandardError(logging.StreamHandler):
    """A handler for whatever ``sys.stderr`` is when a record is written, not when it was made."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        """StreamHandler sets its stream when made; the property ignores it."""


def _formatted(handler: logging.Handler) -> logging.Handler:
    handler.setFormatter(logging.Formatter(FORMAT, DATE_FORMAT))
    return handler


def configure(settings: Settings) -> None:
    """Send records at ``SHELFMARK_LOG_LEVEL`` and above, from every logger, to standard error.

    Called again (a test calling ``main`` twice), it replaces its own handler and
    leaves any other alone.
    """
    root = logging.getLogger()
    for handler in root.handlers[:]:
        if isinstance(handler, _StandardError):
            root.removeHandler(handler)
    root.addHandler(_formatted(_StandardError()))
    root.setLevel(settings.log_level)


def access_logger(settings: Settings) -> logging.Logger | None:
    """Hypercorn's access log as ``SHELFMARK_ACCESS_LOG`` asks: ``-`` standard error,
    ``off`` none (None), anything else a file, appended to."""
    if settings.access_log.strip().lower() == "off":
        return None
    target = settings.access_log.strip()
    logger = logging.getLogger(ACCESS_LOGGER)
    handler = _StandardError() if target == "-" else logging.FileHandler(target)
    for previous in logger.handlers[:]:
        logger.removeHandler(previous)
        previous.close()
    logger.addHandler(_formatted(handler))
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def error_logger() -> logging.Logger:
    """Hypercorn's own messages ("Running on …", errors), through the root handler."""
    return logging.getLogger(ERROR_LOGGER)
