"""A local stand-in of the GitHub REST API's review-comments listing (tests only, 127.0.0.1).

It speaks what PyGithub relies on: `since`/`sort=updated`/`direction=asc`, `Link` pagination,
`X-RateLimit-*` headers, and the failure answers GitHub really gives (502, 403 secondary limit
with `Retry-After`). Tests script failures through `GitHubState.fail_next`.
"""

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlparse


@dataclass
class GitHubState:
    comments: dict[int, dict] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_next: list[tuple[int, dict]] = field(default_factory=list)  # (status, headers) answers to give before serving
    remaining: int = 5000
    reset_in_s: float = 3600
    lock: threading.Lock = field(default_factory=threading.Lock)

    def listing(self, since: str | None) -> list[dict]:
        items = [c for c in self.comments.values() if since is None or c["updated_at"] >= since]
        return sorted(items, key=lambda c: (c["updated_at"], c["id"]))


def comment(cid: int, updated: str, **over) -> dict:
    base = {
        "id": cid, "path": f"pkg/f{cid}.go", "line": 3, "diff_hunk": "@@ -1,2 +1,3 @@\n a\n+go f()\n b",
        "body": f"goroutine leak {cid} — naïve 🚀", "user": {"login": "bob", "type": "User"},
        "pull_request_url": "https://api.github.com/repos/o/r/pulls/7", "html_url": "https://github.com/o/r/pull/7#discussion_r1",
        "created_at": updated, "updated_at": updated, "reactions": {"+1": 0}, "_links": {},
    }
    return {**base, **over}


def make_handler(state: GitHubState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            """Keep the test output free of access-log lines."""

        def _send(self, status: int, payload, headers: dict | None = None) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            url = urlparse(self.path)
            with state.lock:
                state.calls.append(self.path)
                failure = state.fail_next.pop(0) if state.fail_next else None
                state.remaining = max(state.remaining - 1, 0)
                rate = {"X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": str(state.remaining),
                        "X-RateLimit-Reset": str(int(time.time() + state.reset_in_s))}
            if self.headers.get("Authorization") != "token test-token":
                return self._send(401, {"message": "Bad credentials"})
            if failure:
                status, headers = failure
                message = "You have exceeded a secondary rate limit" if status == 403 else "Server Error"
                return self._send(status, {"message": message}, {**rate, **headers})
            if url.path != "/repos/o/r/pulls/comments":
                return self._send(404, {"message": "Not Found"})
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            assert query.get("sort") == "updated" and query.get("direction") == "asc"
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
            items = state.listing(query.get("since"))
            headers = dict(rate)
            if page * per_page < len(items):
                nxt = urlencode({**query, "page": page + 1})
                headers["Link"] = f'<http://{self.headers["Host"]}{url.path}?{nxt}>; rel="next"'
            self._send(200, items[(page - 1) * per_page : page * per_page], headers)

    return Handler


def multi_language_comments(first_id: int, updated: str = "2026-02-01T00:00:00Z") -> dict[int, dict]:
    """Review comments on Rust, Java and TypeScript files (and one on C++, which no setting reviews), in the
    API's shape: kept only when REVIEW_SLM_LANGUAGES names their language."""
    hunks = {
        "src/server/handler.rs": (
            "@@ -10,2 +10,5 @@\n use std::str::FromStr;\n \n+fn port(args: &[String]) -> u16 {\n"
            "+    args[1].parse().unwrap()\n+}", 13,
            "This panics on a missing or non-numeric argument: unwrap() on user input. Return a Result instead."),
        "src/main/java/com/acme/Report.java": (
            "@@ -20,2 +20,6 @@\n     }\n \n+    String read(Path p) throws IOException {\n"
            "+        BufferedReader r = Files.newBufferedReader(p);\n+        return r.readLine();\n+    }", 23,
            "The reader is never closed, so each call leaks a file handle. Use try-with-resources here."),
        "web/src/api/orders.ts": (
            "@@ -4,2 +4,5 @@\n import { api } from \"./http\";\n \n+export function refresh(id: string): void {\n"
            "+  api.post(`/orders/${id}/refresh`);\n+}", 7,
            "The returned promise is dropped: a failed refresh becomes an unhandled rejection. Await it or catch."),
        "src/core/pool.cc": (
            "@@ -1,2 +1,3 @@\n #include <mutex>\n \n+std::mutex m;", 3, "This global mutex is never used by the pool."),
    }
    return {first_id + i: comment(first_id + i, updated, path=path, line=line, diff_hunk=hunk, body=body)
            for i, (path, (hunk, line, body)) in enumerate(hunks.items())}
