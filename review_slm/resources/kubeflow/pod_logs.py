"""Follow the master pod's log: Dagster Pipes messages go to the session, every other line to the run's log.

Like dagster-k8s' `PipesK8sPodLogsMessageReader` (the trainer writes Pipes messages to stderr, which the
pod log carries), but for a pod that an operator creates some time after the job: the follower waits
for the pod to start, follows its log, and when the stream ends early (the API server dropped it, or
the container restarted) follows again, skipping the lines it already passed on by their timestamps.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster_pipes import PIPES_PROTOCOL_VERSION_FIELD, PipesDefaultMessageWriter
from kubernetes import client

from review_slm.resources.kubeflow import diagnosis
from review_slm.resources.kubeflow.watch import BROKEN_STREAM


class PodLogMessageReader(dg.PipesMessageReader):
    """Tells the trainer to write Pipes messages to stderr; `handle_line` picks them out of the pod log."""

    def __init__(self):
        self._handler: dg.PipesMessageHandler | None = None

    @contextmanager
    def read_messages(self, handler: dg.PipesMessageHandler) -> Iterator[dict]:
        self._handler = handler
        try:
            yield {PipesDefaultMessageWriter.STDIO_KEY: PipesDefaultMessageWriter.STDERR}
        finally:
            self._handler = None

    def is_message(self, line: str) -> bool:
        if not line.startswith("{") or self._handler is None:
            return False
        try:
            message = json.loads(line)
        except ValueError:
            return False
        if not isinstance(message, dict) or PIPES_PROTOCOL_VERSION_FIELD not in message:
            return False
        self._handler.handle_message(message)  # pyright: ignore[reportArgumentType]  (checked: a Pipes message)
        return True

    def no_messages_debug_text(self) -> str:
        return "Read Pipes messages from the master pod's log (the trainer writes them to stderr)."


def _lines(response) -> Iterator[str]:
    buffer = b""
    for chunk in response.stream(amt=None, decode_content=False):
        buffer += chunk
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            yield line.decode("utf-8", errors="replace")
    if buffer:
        yield buffer.decode("utf-8", errors="replace")


class MasterLogFollower(threading.Thread):
    """A thread that streams the log of the pod matching `selector` to `on_line` until the pod terminates."""

    def __init__(
        self,
        core: client.CoreV1Api,
        namespace: str,
        selector: str,
        container: str,
        on_line: Callable[[str, str], None],
        log: logging.Logger,
        poll_s: float = 1.0,
    ):
        super().__init__(daemon=True, name=f"log-follower[{selector}]")
        self.core, self.namespace, self.selector, self.container = core, namespace, selector, container
        self.on_line, self.log, self.poll_s = on_line, log, poll_s
        self.stopped = threading.Event()
        self.lines = 0
        self.error: BaseException | None = None
        self._last: tuple[str, set[str]] = ("", set())  # newest timestamp passed on, and the lines that carried it
        # urllib3's streaming response (`_preload_content=False`; the client annotates a union of its models)
        self._response: Any = None

    def stop(self) -> None:
        self.stopped.set()
        response = self._response
        if response is not None:
            # shutdown() interrupts the follower's blocking read first: close() alone waits for the lock
            # that read holds, and hung the launcher (seen when a run was cancelled during the watch).
            response.shutdown()
            response.close()

    def _master(self) -> dict | None:
        response: Any = self.core.list_namespaced_pod(  # the raw HTTP response, as above
            self.namespace, label_selector=self.selector, _preload_content=False
        )
        pods = json.loads(response.data)["items"]
        return pods[0] if pods else None

    def _is_new(self, stamp: str, line: str) -> bool:
        newest, at_newest = self._last
        if stamp < newest or (stamp == newest and line in at_newest):
            return False
        self._last = (stamp, at_newest | {line}) if stamp == newest else (stamp, {line})
        return True

    def _follow(self, pod: str) -> None:
        self._response = self.core.read_namespaced_pod_log(
            pod, self.namespace, container=self.container, follow=True, timestamps=True, _preload_content=False
        )
        try:
            for raw in _lines(self._response):
                stamp, _, line = raw.partition(" ")
                if self._is_new(stamp, line):
                    self.lines += 1
                    self.on_line(pod, line)
        finally:
            self._response = None

    def run(self) -> None:
        try:
            while not self.stopped.is_set():
                pod = self._master()
                if pod is not None and diagnosis.phase(pod) != "Pending":
                    try:
                        self._follow(pod["metadata"]["name"])
                    except client.ApiException as err:
                        if err.status not in (400, 404):  # 400: the container is not started yet; 404: pod replaced
                            raise
                    except BROKEN_STREAM:
                        if not self.stopped.is_set():
                            self.log.info(f"log stream of {pod['metadata']['name']} broke; following it again")
                    now = self._master()
                    if now is None or diagnosis.phase(now) in ("Succeeded", "Failed"):
                        return
                self.stopped.wait(self.poll_s)
        except BaseException as err:  # surfaced by the launcher; a log follower must not kill the run on its own
            self.error = err
