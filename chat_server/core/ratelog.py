"""A log that says a recurring thing at most once a second, with a count of the repeats."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    """At most one warning per `interval` seconds; repeats are counted and reported."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0) -> None:
        self.logger = logger
        self.interval = interval
        self._last = -interval
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            self._suppressed += 1
            return
        if self._suppressed:
            message += f" ({self._suppressed} more since the last report)"
            self._suppressed = 0
        self._last = now
        self.logger.warning(message, *args)
