"""Keep a fleet of OpenAI-compatible replicas busy: many chat completions in flight, each sent to the
replica with the least outstanding work, a replica that pushes back (429/503, `Retry-After`) or fails
rested while the others keep working, and every request answered or failed after a bounded number of
attempts, never lost.

vLLM, SGLang, TGI and NIM batch continuously: one replica answers dozens of requests at once about
as fast as one, so throughput comes from keeping `concurrency` requests in flight. Hand-written on
httpx's async client rather than the `openai` SDK for the reasons in clients/openai_endpoint.py (whose
retry rules and `Retry-After` parsing this reuses), and because the SDK has no notion of replicas.

Per replica: a `Retry-After` (or a 429) rests it for the time asked; other failures (5xx, refused
connections, timeouts) rest it for a backoff that doubles with each consecutive failure; after
`out_after` consecutive failures it is taken out for `probe_after_s`, then sent one request (a probe)
until it answers again; each failed probe doubles the time out (up to `probe_cap_s`), so a replica
that restarts in seconds is back in seconds and one that is gone costs a request a minute. A failed
request goes back to the front of the queue for another replica.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from review_slm.reviewer.endpoint_client import BACKOFF_BASE, BACKOFF_CAP, RETRIED_STATUS, retry_after


@dataclass
class Replica:
    url: str  # base URL ending in /v1
    api_key: str = ""
    outstanding: int = 0
    sent: int = 0
    answered: int = 0
    failed: int = 0
    consecutive_failures: int = 0
    resume_at: float = 0.0  # time.monotonic() before which it is sent nothing (backed off or taken out)
    taken_out: int = 0  # how many times it was taken out
    outages: int = 0  # times taken out since its last answer: each failed probe doubles the time out

    @property
    def chat_url(self) -> str:
        return f"{self.url.rstrip('/')}/chat/completions"

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}


@dataclass
class Outcome:
    """One request's result: the JSON body of the 200, or the last error; `attempts` requests it took."""

    body: dict | None = None
    error: str = ""
    attempts: int = 0


@dataclass
class FleetStats:
    requests: int = 0
    seconds: float = 0.0
    answered: int = 0
    answer_seconds: float = 0.0  # summed over answered requests, queueing in the replica included
    per_replica: dict[str, int] = field(default_factory=dict)  # url -> requests answered
    taken_out: dict[str, int] = field(default_factory=dict)  # url -> times taken out


def _rest(consecutive_failures: int) -> float:
    return min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, consecutive_failures - 1))


class Fleet:
    def __init__(
        self,
        replicas: list[Replica],
        concurrency: int = 64,
        per_replica: int = 32,
        timeout_s: float = 120.0,
        max_attempts: int = 6,
        out_after: int = 3,
        probe_after_s: float = 1.0,
        probe_cap_s: float = 60.0,
    ):
        if not replicas:
            raise ValueError("a fleet needs at least one replica")
        self.replicas = replicas
        self.concurrency = max(1, concurrency)
        self.per_replica = max(1, per_replica)
        self.timeout_s = timeout_s
        self.max_attempts = max(1, max_attempts)
        self.out_after = max(1, out_after)
        self.probe_after_s = probe_after_s
        self.probe_cap_s = probe_cap_s
        self.stats = FleetStats()

    def post_all(self, bodies: list[dict], progress: Callable[[str], None] | None = None) -> list[Outcome]:
        """POST each body to /chat/completions on some replica; one Outcome per body, in order."""
        if not bodies:
            return []
        return asyncio.run(self._post_all(bodies, progress))

    def _pick(self, now: float) -> Replica | None:
        """The available replica with the least outstanding requests (ties: the one sent the fewest)."""
        ready = [
            r
            for r in self.replicas
            if r.resume_at <= now
            and r.outstanding < (1 if r.consecutive_failures >= self.out_after else self.per_replica)
        ]
        return min(ready, key=lambda r: (r.outstanding, r.sent)) if ready else None

    def rate(self) -> float:
        """Requests per second the fleet sustains at `concurrency` in flight (Little's law: in flight / mean
        latency), from the answers so far; 0 before any. Unlike answers / wall time over a short probe, it
        does not count the probe's ramp and drain, nor a replica that was down."""
        if not self.stats.answered:
            return 0.0
        return self.concurrency / (self.stats.answer_seconds / self.stats.answered)

    async def _post(self, client: httpx.AsyncClient, replica: Replica, index: int, body: dict):
        sent = time.monotonic()
        try:
            response = await client.post(replica.chat_url, json=body, headers=replica.headers())
        except httpx.HTTPError as err:
            retryable = isinstance(err, httpx.TransportError) and not isinstance(err, httpx.UnsupportedProtocol)
            return index, replica, None, f"{replica.url}: {type(err).__name__}: {err}", retryable, None
        if response.status_code == 200:
            try:
                body = response.json()
                self.stats.answered += 1
                self.stats.answer_seconds += time.monotonic() - sent
                return index, replica, body, "", False, None
            except ValueError:
                return index, replica, None, f"{replica.url}: HTTP 200 with a body that is not JSON", True, None
        error = f"{replica.url}: HTTP {response.status_code}: {response.text[:200]}"
        return index, replica, None, error, response.status_code in RETRIED_STATUS, retry_after(response)

    def _settle(self, replica: Replica, ok: bool, status_429: bool, asked_wait: float | None) -> None:
        replica.outstanding -= 1
        now = time.monotonic()
        if ok:
            replica.answered += 1
            replica.consecutive_failures = replica.outages = 0
            return
        replica.failed += 1
        if asked_wait is not None or status_429:  # pushing back is not failing: rest as asked, stay in
            replica.resume_at = max(replica.resume_at, now + (asked_wait if asked_wait is not None else BACKOFF_BASE))
            return
        replica.consecutive_failures += 1
        if replica.consecutive_failures < self.out_after:
            replica.resume_at = max(replica.resume_at, now + _rest(replica.consecutive_failures))
            return
        if replica.outages and replica.resume_at > now:
            return  # already out: the failures of requests sent before it went out say nothing new
        # Out, and after each failed probe out again for twice as long.
        replica.outages += 1
        replica.taken_out += 1
        replica.resume_at = now + min(self.probe_cap_s, self.probe_after_s * 2 ** (replica.outages - 1))

    async def _post_all(self, bodies: list[dict], progress: Callable[[str], None] | None) -> list[Outcome]:
        outcomes = [Outcome() for _ in bodies]
        queue = deque(range(len(bodies)))
        in_flight: set[asyncio.Task] = set()
        started = last_report = time.monotonic()
        done = 0
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        async with httpx.AsyncClient(timeout=self.timeout_s, limits=limits) as client:
            while queue or in_flight:
                now = time.monotonic()
                while queue and len(in_flight) < self.concurrency and (replica := self._pick(now)) is not None:
                    index = queue.popleft()
                    replica.outstanding += 1
                    replica.sent += 1
                    outcomes[index].attempts += 1
                    in_flight.add(asyncio.create_task(self._post(client, replica, index, bodies[index])))
                # Wake on an answer, or when a rested replica may be sent work again.
                resting = [r.resume_at - now for r in self.replicas if r.resume_at > now]
                wait = min(resting) if queue and resting else None
                if not in_flight:
                    await asyncio.sleep(max(0.005, wait or 0.005))
                    continue
                finished, in_flight = await asyncio.wait(
                    in_flight, timeout=None if wait is None else max(0.005, wait), return_when=asyncio.FIRST_COMPLETED
                )
                for task in finished:
                    index, replica, body, error, retryable, asked_wait = task.result()
                    self._settle(replica, body is not None, "HTTP 429" in error, asked_wait)
                    outcome = outcomes[index]
                    if body is not None:
                        outcome.body, outcome.error = body, ""
                    else:
                        outcome.error = error
                        if retryable and outcome.attempts < self.max_attempts:
                            queue.appendleft(index)  # first in line, on whichever replica is free
                            continue
                    done += 1
                now = time.monotonic()
                if progress and (now - last_report >= 15 or done == len(bodies)) and done:
                    last_report = now
                    rate = done / max(now - started, 1e-9)
                    eta = (len(bodies) - done) / rate if rate else float("inf")
                    progress(
                        f"teacher fleet: {done}/{len(bodies)} answered, {rate:.1f}/s, ETA {eta:.0f}s, "
                        f"{len(in_flight)} in flight on {sum(r.resume_at <= now for r in self.replicas)}"
                        f"/{len(self.replicas)} replicas"
                    )
        self.stats.requests += sum(o.attempts for o in outcomes)
        self.stats.seconds += time.monotonic() - started
        for r in self.replicas:
            self.stats.per_replica[r.url] = r.answered
            self.stats.taken_out[r.url] = r.taken_out
        return outcomes
