"""A local stand-in of the Kubernetes API server (tests only, 127.0.0.1) for the real `kubernetes` client.

It keeps any namespaced resource, core (`/api/v1/namespaces/{ns}/{plural}`) or custom
(`/apis/{group}/{version}/namespaces/{ns}/{plural}`), the way the API server does: create (409 when the
name exists), get, list with label/field selectors, replace, merge or JSON patch, the `status`
subresource, delete with cascading to owned pods, and `?watch=true` streams of ADDED / MODIFIED /
DELETED events that replay from a `resourceVersion`. Pods have a `log` subresource that follows until
the pod terminates. Errors are `Status` objects with the API server's codes (404, 409, 400, 410).

Nothing runs an operator or a kubelet: tests play them through the control API (`add_pod`,
`set_pod_status`, `append_log`, `set_status`) and break things on purpose (`drop_watches`,
`expire_resource_versions`).
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import pytest

from review_slm_tests.servers import serve

JOB_NAME_LABEL = "training.kubeflow.org/job-name"
TERMINAL_PHASES = ("Succeeded", "Failed")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def status_object(code: int, reason: str, message: str) -> dict:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure" if code >= 400 else "Success",
        "message": message,
        "reason": reason,
        "code": code,
    }


def _dig(obj: dict, dotted: str):
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def selector_matches(labels: dict, selector: str | None) -> bool:
    """Equality-based label selectors: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated."""
    for term in filter(None, (selector or "").split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key.strip()) == value.strip():
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key.strip()) != value.strip():
                return False
        elif term.startswith("!"):
            if term[1:].strip() in labels:
                return False
        elif term.strip() not in labels:
            return False
    return True


def fields_match(obj: dict, selector: str | None) -> bool:
    """Field selectors (`metadata.name=x`, `involvedObject.name=x`); `!=` too."""
    for term in filter(None, (selector or "").split(",")):
        negate = "!=" in term
        key, value = term.replace("!=", "=").replace("==", "=").split("=", 1)
        if (str(_dig(obj, key.strip())) == value.strip()) == negate:
            return False
    return True


def merge_patch(target, patch):
    """RFC 7386 JSON merge patch (what `application/merge-patch+json` means; strategic merge is treated the same)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(target: dict, operations: list[dict]) -> dict:
    """RFC 6902 `add` / `replace` / `remove` on object paths (what `application/json-patch+json` sends)."""
    result = copy.deepcopy(target)
    for op in operations:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        node = result
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node.setdefault(part, {})
        if op["op"] == "remove":
            del node[int(last) if isinstance(node, list) else last]
        elif isinstance(node, list):
            node.insert(len(node) if last == "-" else int(last), op["value"]) if op[
                "op"
            ] == "add" else node.__setitem__(int(last), op["value"])
        else:
            node[last] = op["value"]
    return result


@dataclass
class ApiServerState:
    """Every stored object by (api prefix, plural, namespace, name), and the event history watches replay."""

    objects_by_key: dict[tuple[str, str, str, str], dict] = field(default_factory=dict)
    history: list[tuple[int, tuple, str, dict]] = field(default_factory=list)  # (rv, key, event type, object)
    logs: dict[tuple[str, str, str], list[tuple[str, str]]] = field(
        default_factory=dict
    )  # (ns, pod, container) -> (ts, line)
    requests: list[tuple[str, str, dict]] = field(default_factory=list)  # (method, path, query)
    resource_version: int = 0
    expired_before: int = 0
    watch_generation: int = 0
    cond: threading.Condition = field(default_factory=threading.Condition)

    # -- storage (callers hold `cond`) -------------------------------------------------------------
    def _record(self, key: tuple, kind: str, obj: dict) -> dict:
        self.resource_version += 1
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        if kind != "DELETED":
            self.objects_by_key[key] = obj
        self.history.append((self.resource_version, key, kind, copy.deepcopy(obj)))
        self.cond.notify_all()
        return obj

    def _create(self, key: tuple, obj: dict) -> dict:
        meta = obj.setdefault("metadata", {})
        meta.update(namespace=key[2], uid=str(uuid.uuid4()), creationTimestamp=_now(), generation=1)
        meta.setdefault("labels", {})
        return self._record(key, "ADDED", obj)

    def _delete(self, key: tuple) -> dict:
        obj = self.objects_by_key.pop(key)
        obj["metadata"]["deletionTimestamp"] = _now()
        uid, name = obj["metadata"]["uid"], obj["metadata"]["name"]
        for other_key, other in list(self.objects_by_key.items()):
            owned = any(ref.get("uid") == uid for ref in other["metadata"].get("ownerReferences", []))
            if (
                other_key in self.objects_by_key
                and other_key[2] == key[2]
                and (
                    owned
                    or (
                        other_key[1] == "pods"
                        and key[1] != "pods"
                        and other["metadata"]["labels"].get(JOB_NAME_LABEL) == name
                    )
                )
            ):
                self._delete(other_key)
        return self._record(key, "DELETED", obj)

    # -- the control API tests use ----------------------------------------------------------------
    def objects(self, plural: str, namespace: str | None = None) -> list[dict]:
        with self.cond:
            return [
                copy.deepcopy(o) for k, o in self.objects_by_key.items() if k[1] == plural and namespace in (None, k[2])
            ]

    def get(self, plural: str, name: str, namespace: str = "default") -> dict | None:
        return next((o for o in self.objects(plural, namespace) if o["metadata"]["name"] == name), None)

    def set_status(self, group: str, plural: str, namespace: str, name: str, status: dict) -> None:
        """Replace `.status` of a stored object, as an operator or the kubelet would (group "" = core v1)."""
        with self.cond:
            key = next(
                k
                for k in self.objects_by_key
                if k[1:] == (plural, namespace, name) and (k[0].split("/")[0] == group or (not group and k[0] == "v1"))
            )
            obj = copy.deepcopy(self.objects_by_key[key])
            obj["status"] = status
            self._record(key, "MODIFIED", obj)

    def add_pod(
        self,
        name: str,
        namespace: str = "default",
        labels: dict | None = None,
        containers: tuple[str, ...] = ("pytorch",),
        owner: dict | None = None,
        phase: str = "Pending",
    ) -> dict:
        """A pod as an operator creates it; `owner` (a stored object) makes it go when the owner is deleted."""
        meta = {"name": name, "labels": dict(labels or {})}
        if owner:
            meta["ownerReferences"] = [
                {
                    "apiVersion": owner["apiVersion"],
                    "kind": owner["kind"],
                    "name": owner["metadata"]["name"],
                    "uid": owner["metadata"]["uid"],
                    "controller": True,
                }
            ]
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": meta,
            "spec": {"containers": [{"name": c, "image": "trainer"} for c in containers]},
            "status": {"phase": phase},
        }
        with self.cond:
            return copy.deepcopy(self._create(("v1", "pods", namespace, name), pod))

    def set_pod_status(self, name: str, status: dict, namespace: str = "default") -> None:
        self.set_status("", "pods", namespace, name, status)

    def append_log(self, pod: str, text: str, namespace: str = "default", container: str | None = None) -> None:
        with self.cond:
            spec = self.objects_by_key[("v1", "pods", namespace, pod)]["spec"]
            key = (namespace, pod, container or spec["containers"][0]["name"])
            self.logs.setdefault(key, []).extend((_now(), line) for line in text.splitlines())
            self.cond.notify_all()

    def add_event(
        self, involved: str, reason: str, message: str, namespace: str = "default", type_: str = "Warning"
    ) -> None:
        event = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{involved}.{uuid.uuid4().hex[:8]}"},
            "involvedObject": {"name": involved, "namespace": namespace},
            "reason": reason,
            "message": message,
            "type": type_,
        }
        with self.cond:
            self._create(("v1", "events", namespace, event["metadata"]["name"]), event)

    def drop_watches(self) -> None:
        """Cut every open watch stream mid-flight (the connection resets, as when an API server restarts)."""
        with self.cond:
            self.watch_generation += 1
            self.cond.notify_all()

    def expire_resource_versions(self) -> None:
        """From now on a watch from any resourceVersion older than the current one gets 410 Gone."""
        with self.cond:
            self.expired_before = self.resource_version + 1


def _route(path: str) -> tuple[str, str, str, str | None, str | None] | None:
    """(api prefix, namespace, plural, name, subresource) of a namespaced path; None for anything else."""
    parts = path.strip("/").split("/")
    if parts[:2] == ["api", "v1"]:
        prefix, rest = "v1", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        prefix, rest = f"{parts[1]}/{parts[2]}", parts[3:]
    else:
        return None
    if len(rest) < 3 or rest[0] != "namespaces" or len(rest) > 5:
        return None
    return prefix, rest[1], rest[2], (rest[3] if len(rest) > 3 else None), (rest[4] if len(rest) > 4 else None)


# C901: the stand-in API server is one route table (mccabe counts the nested handler's branches here)
def make_handler(state: ApiServerState) -> type[BaseHTTPRequestHandler]:  # noqa: C901
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # chunked streaming for watches and followed logs

        def log_message(self, *args):
            """Keep the test output free of access-log lines."""

        def _send(self, code: int, payload) -> None:
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, code: int, reason: str, message: str) -> None:
            self._send(code, status_object(code, reason, message))

        def _chunk(self, data: bytes) -> None:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def _start_stream(self, content_type: str) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

        def _drop(self) -> None:
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        # C901: one dispatch over the resource paths a launcher calls, read top to bottom
        def _handle(self, method: str) -> None:  # noqa: C901
            url = urlparse(self.path)
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            with state.cond:
                state.requests.append((method, url.path, {**query, **({"body": body} if body is not None else {})}))
            route = _route(url.path)
            if route is None:
                return self._error(404, "NotFound", f"the server could not find the requested resource ({url.path})")
            prefix, ns, plural, name, sub = route
            key = (prefix, plural, ns, name)
            if method == "GET" and name is None and query.get("watch", "").lower() == "true":
                return self._watch(prefix, ns, plural, query)
            if method == "GET" and sub == "log":
                return self._log(ns, name, query)
            with state.cond:
                existing = state.objects_by_key.get(key)
                if method == "POST" and name is None:
                    name = body["metadata"].get("name") or body["metadata"]["generateName"] + uuid.uuid4().hex[:5]
                    body["metadata"]["name"] = name
                    if (prefix, plural, ns, name) in state.objects_by_key:
                        return self._error(409, "AlreadyExists", f'{plural} "{name}" already exists')
                    return self._send(201, state._create((prefix, plural, ns, name), body))
                if name is None and method == "GET":
                    items = [
                        o
                        for k, o in state.objects_by_key.items()
                        if k[:3] == (prefix, plural, ns)
                        and selector_matches(o["metadata"]["labels"], query.get("labelSelector"))
                        and fields_match(o, query.get("fieldSelector"))
                    ]
                    return self._send(
                        200,
                        {
                            "apiVersion": prefix,
                            "kind": "List",
                            "items": items,
                            "metadata": {"resourceVersion": str(state.resource_version)},
                        },
                    )
                if existing is None:
                    return self._error(404, "NotFound", f'{plural} "{name}" not found')
                if method == "GET":
                    return self._send(200, existing)
                if method == "DELETE":
                    deleted = state._delete(key)
                    policy = query.get("propagationPolicy") or (body or {}).get("propagationPolicy") or "Background"
                    return self._send(
                        200,
                        {
                            **status_object(200, "", f"deleted with propagationPolicy {policy}"),
                            "details": {"name": name, "kind": plural, "uid": deleted["metadata"]["uid"]},
                        },
                    )
                if method == "PUT":
                    sent_rv = (body.get("metadata") or {}).get("resourceVersion")
                    if sent_rv and sent_rv != existing["metadata"]["resourceVersion"]:
                        return self._error(
                            409,
                            "Conflict",
                            f'the object "{name}" has been modified; please apply your changes to the latest version',
                        )
                    if sub == "status":
                        updated = {**existing, "status": body.get("status")}
                    else:  # what the server owns survives a replace
                        kept = {k: existing["metadata"][k] for k in ("uid", "creationTimestamp", "namespace")}
                        updated = {**body, "metadata": {**body.get("metadata", {}), **kept}}
                else:  # PATCH: a list is a JSON patch, an object a merge patch
                    updated = json_patch(existing, body) if isinstance(body, list) else merge_patch(existing, body)
                    if sub == "status":
                        updated = {**existing, "status": updated.get("status")}
                updated["metadata"].setdefault("labels", {})
                if sub != "status" and updated.get("spec") != existing.get(
                    "spec"
                ):  # as for CRDs with a status subresource
                    updated["metadata"]["generation"] = existing["metadata"].get("generation", 1) + 1
                return self._send(200, state._record(key, "MODIFIED", updated))

        def _watch(self, prefix: str, ns: str, plural: str, query: dict) -> None:
            since = int(query.get("resourceVersion") or 0)
            deadline = time.monotonic() + float(query.get("timeoutSeconds") or 1800)
            events: list[dict] = []
            with state.cond:
                generation = state.watch_generation
                expired = bool(since) and since < state.expired_before
                if not since:  # no resourceVersion: the current state as ADDED, then what changes
                    events = [
                        {"type": "ADDED", "object": o}
                        for k, o in state.objects_by_key.items()
                        if k[:3] == (prefix, plural, ns)
                    ]
                    since = state.resource_version
            self._start_stream("application/json")
            try:
                if expired:  # the API server answers 200 and one ERROR event carrying the 410
                    gone = status_object(
                        410, "Expired", f"too old resource version: {since} ({state.expired_before - 1})"
                    )
                    self._chunk(json.dumps({"type": "ERROR", "object": gone}).encode() + b"\n")
                    return self._chunk(b"")
                while True:
                    for event in events:
                        if selector_matches(
                            event["object"]["metadata"].get("labels") or {}, query.get("labelSelector")
                        ) and fields_match(event["object"], query.get("fieldSelector")):
                            self._chunk(json.dumps(event).encode() + b"\n")
                    if time.monotonic() > deadline:
                        return self._chunk(b"")
                    with state.cond:
                        state.cond.wait_for(
                            # called at once, within this iteration: the loop variable cannot go stale
                            lambda: state.resource_version > since or state.watch_generation != generation,  # noqa: B023
                            timeout=0.1,
                        )
                        if state.watch_generation != generation:
                            return self._drop()
                        events = [
                            {"type": kind, "object": obj}
                            for rv, key, kind, obj in state.history
                            if rv > since and key[:3] == (prefix, plural, ns)
                        ]
                        since = state.resource_version
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def _log(self, ns: str, pod_name: str, query: dict) -> None:
            with state.cond:
                pod = state.objects_by_key.get(("v1", "pods", ns, pod_name))
            if pod is None:
                return self._error(404, "NotFound", f'pods "{pod_name}" not found')
            container = query.get("container") or pod["spec"]["containers"][0]["name"]
            if pod.get("status", {}).get("phase", "Pending") == "Pending":
                return self._error(
                    400,
                    "BadRequest",
                    f'container "{container}" in pod "{pod_name}" is waiting to start: ContainerCreating',
                )
            follow, stamps = query.get("follow", "").lower() == "true", query.get("timestamps", "").lower() == "true"
            self._start_stream("text/plain")
            sent = 0
            try:
                while True:
                    with state.cond:
                        lines = state.logs.get((ns, pod_name, container), [])[sent:]
                        sent += len(lines)
                        current = state.objects_by_key.get(("v1", "pods", ns, pod_name))
                        done = current is None or current["status"].get("phase") in TERMINAL_PHASES
                    if lines:
                        self._chunk("".join(f"{ts} {line}\n" if stamps else f"{line}\n" for ts, line in lines).encode())
                    if not follow or (done and not lines):
                        return self._chunk(b"")
                    with state.cond:
                        state.cond.wait(0.05)
            except (BrokenPipeError, ConnectionResetError):
                self.close_connection = True

        def do_GET(self):
            self._handle("GET")

        def do_POST(self):
            self._handle("POST")

        def do_PUT(self):
            self._handle("PUT")

        def do_PATCH(self):
            self._handle("PATCH")

        def do_DELETE(self):
            self._handle("DELETE")

    return Handler


@contextmanager
def k8s_apiserver() -> Iterator[tuple[str, ApiServerState]]:
    """(base URL, state) of a running stand-in; `kubernetes.client.Configuration(host=url)` talks to it."""
    state = ApiServerState()
    with serve(make_handler(state)) as url:
        yield url, state


@dataclass
class StandIn:
    url: str
    state: ApiServerState

    def api_client(self):
        from kubernetes import client

        return client.ApiClient(client.Configuration(host=self.url))


@pytest.fixture
def k8s_api() -> Iterator[StandIn]:
    """A stand-in API server for one test: `.url`, `.state` (the control API) and `.api_client()`."""
    with k8s_apiserver() as (url, state):
        yield StandIn(url, state)
