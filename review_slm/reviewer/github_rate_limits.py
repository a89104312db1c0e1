"""GitHub API budget: retries (5xx, secondary limits with Retry-After) and waiting out the primary limit.

PyGithub's `GithubRetry` already knows GitHub's rate-limit responses (403/429 with `Retry-After`,
or a rate-limit message with `X-RateLimit-Reset`) and retries 5xx; we subclass it only to count
what it did, so the mining asset can report API calls and rate-limit waits. The primary limit is
also honoured *before* it bites: when `X-RateLimit-Remaining` falls to the reserve, the miner
sleeps until `X-RateLimit-Reset` instead of burning a request on a 403.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from github import GithubRetry

log = logging.getLogger(__name__)


@dataclass
class ApiUsage:
    """What mining cost: requests sent (including retries) and time spent waiting for GitHub."""

    api_calls: int = 0
    retries: int = 0
    rate_limit_waits: int = 0
    rate_limit_wait_s: float = 0.0

    def waited(self, seconds: float) -> None:
        self.rate_limit_waits += 1
        self.rate_limit_wait_s += max(seconds, 0.0)


class CountingGithubRetry(GithubRetry):
    """`GithubRetry` that records each retry and each server-requested wait in an `ApiUsage`."""

    def __init__(self, usage: ApiUsage | None = None, **kwargs):
        self.usage = usage if usage is not None else ApiUsage()
        kwargs.setdefault("status_forcelist", [429, *range(500, 600)])
        super().__init__(**kwargs)

    def new(self, **kw):
        retry = super().new(**kw)
        retry.usage = self.usage
        return retry

    def increment(self, method=None, url=None, response=None, error=None, _pool=None, _stacktrace=None):
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        self.usage.retries += 1
        self.usage.api_calls += 1  # the failed attempt was a request too
        status = getattr(response, "status", None)
        log.info("GitHub %s %s failed (%s); retrying", method, url, status or error)
        return retry

    def sleep(self, response=None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        backoff = retry_after if retry_after else self.get_backoff_time()
        if response is not None and response.status in (403, 429):
            self.usage.waited(backoff)
            log.warning("GitHub rate limit: waiting %.1fs before retrying", backoff)
        super().sleep(response)


def wait_for_primary_limit(remaining: int, reset_epoch: int, reserve: int, usage: ApiUsage, max_wait_s: float) -> None:
    """Sleep until the primary limit resets when fewer than `reserve` requests are left."""
    if remaining < 0 or remaining > reserve:
        return
    delay = reset_epoch - time.time() + 1  # +1: the reset happens somewhere in that second
    if delay <= 0:
        return
    if delay > max_wait_s:
        raise RuntimeError(
            f"GitHub rate limit: {remaining} requests left and the limit resets in {delay:.0f}s, "
            f"more than max_rate_limit_wait_s={max_wait_s:.0f}; the cursor keeps what was mined, rerun later"
        )
    log.warning("GitHub rate limit: %d requests left, waiting %.1fs for the reset", remaining, delay)
    usage.waited(delay)
    time.sleep(delay)
