"""A watch on one object that outlives the API server dropping the stream.

API servers end watches on their own timeout, drop them when they restart or rebalance, and forget old
resource versions (410 Gone). The watch resumes from the last resourceVersion it saw; after a 410 it
lists again (the current state is a fresh starting point) and watches from the list's version.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import urllib3
from kubernetes import client, watch

# Errors that mean "the stream broke", not "the request is wrong".
BROKEN_STREAM = (urllib3.exceptions.HTTPError, ConnectionError, OSError)


class WatchGaveUp(RuntimeError):
    """The API server stayed unreachable for every reconnect attempt."""


class ObjectWatch:
    """Events for one named object from a `list_*` call (`list_namespaced_custom_object`, `list_namespaced_pod`, ...).

    `events()` yields (event type, object dict) on every change (the listed state comes as ADDED), and
    None every `timeout_s` without one, so a caller can look at other things (pods, deadlines) between events.
    """

    def __init__(
        self,
        list_call: Callable,
        *args,
        name: str,
        timeout_s: int,
        log: logging.Logger | None = None,
        max_reconnects: int = 10,
        backoff_s: float = 0.5,
        **kwargs,
    ):
        self.list_call, self.args, self.kwargs = list_call, args, {**kwargs, "field_selector": f"metadata.name={name}"}
        self.name, self.timeout_s, self.log = name, timeout_s, log or logging.getLogger(__name__)
        self.max_reconnects, self.backoff_s = max_reconnects, backoff_s
        self.resource_version: str | None = None
        self.reconnects = 0  # total, for tests and logs
        self._stream: watch.Watch | None = None

    def _list(self) -> Iterator[tuple[str, dict]]:
        listing: Any = self.list_call(*self.args, **self.kwargs)  # a model, or JSON from a raw call
        if not isinstance(listing, dict):
            listing = client.ApiClient().sanitize_for_serialization(listing)
        self.resource_version = listing["metadata"]["resourceVersion"]
        for item in listing["items"]:
            yield "ADDED", item

    def events(self) -> Iterator[tuple[str, dict] | None]:
        failures = 0
        while True:
            try:
                if self.resource_version is None:
                    yield from self._list()
                self._stream = watch.Watch()
                event: Any  # a dict with the object (the client annotates its stream loosely)
                for event in self._stream.stream(
                    self.list_call,
                    *self.args,
                    resource_version=self.resource_version,
                    timeout_seconds=self.timeout_s,
                    **self.kwargs,
                ):
                    failures = 0
                    obj = event["raw_object"]
                    self.resource_version = obj["metadata"]["resourceVersion"]
                    yield event["type"], obj
                failures = 0
                yield None  # the server ended the stream at its timeout: a quiet tick
            except client.ApiException as err:
                if err.status != 410:
                    raise
                self.log.info(
                    f"watch on {self.name}: resourceVersion {self.resource_version} expired (410), listing again"
                )
                self.resource_version = None
                self.reconnects += 1
            except BROKEN_STREAM as err:
                failures += 1
                self.reconnects += 1
                if failures > self.max_reconnects:
                    raise WatchGaveUp(
                        f"watch on {self.name} broke {failures} times in a row; last error: {err}"
                    ) from err
                self.log.info(
                    f"watch on {self.name} dropped ({type(err).__name__}); resuming from resourceVersion "
                    f"{self.resource_version}"
                )
                time.sleep(min(self.backoff_s * 2 ** (failures - 1), 10))
            finally:
                self._stream = None

    def stop(self) -> None:
        if self._stream is not None:
            self._stream.stop()
