"""A local stand-in of the GitHub REST API (tests only, 127.0.0.1): review-comment listing, pull requests.

It speaks what PyGithub relies on: `since`/`sort=updated`/`direction=asc`, `Link` pagination,
`X-RateLimit-*` headers, and the failure answers GitHub really gives (502, 403 secondary limit
with `Retry-After`). Tests script failures through `GitHubState.fail_next`.

Pull requests (`GitHubState.pulls`, keyed by "owner/name#n") serve their files, reviews and review
comments the way GitHub does: a review is created in one request, all or nothing; an inline
comment on a line that is not on the new side of its file's patch is a 422; a review without an
`event` is PENDING and only a pending review can be deleted; a submitted review's body can be
edited and its comments deleted. GraphQL answers `reviewThreads` with `isResolved`.
"""

import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlparse

from review_slm.reviewer.pr_review import right_side_lines, split_patch


@dataclass
class PullState:
    head_sha: str
    files: list[dict]  # GET /pulls/{n}/files entries: filename, status, patch (absent for binary), changes, ...
    reviews: list[dict] = field(default_factory=list)
    resolved_threads: set[int] = field(default_factory=set)  # root comment ids of resolved threads


@dataclass
class GitHubState:
    comments: dict[int, dict] = field(default_factory=dict)
    calls: list[str] = field(default_factory=list)
    fail_next: list[tuple[int, dict]] = field(default_factory=list)  # (status, headers) answers to give before serving
    fail_posts: list[tuple[int, dict]] = field(default_factory=list)  # the same, for POST requests only
    remaining: int = 5000
    reset_in_s: float = 3600
    lock: threading.Lock = field(default_factory=threading.Lock)
    pulls: dict[str, PullState] = field(default_factory=dict)
    login: str = "review-bot"  # who the token belongs to: the author of reviews it posts
    reject_lines: set[tuple[str, int]] = field(default_factory=set)  # (path, line): 422 even if in the diff
    next_id: int = 1000
    posts: list[dict] = field(default_factory=list)  # bodies of accepted POST /reviews, in order
    compares: dict[str, list[str]] = field(default_factory=dict)  # "base...head" -> files the commits between change

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    def review_comments(self, key: str, review_id: int | None = None) -> list[dict]:
        pr = key.split("#")[1]
        return [
            c
            for c in self.comments.values()
            if c.get("pull_request_url", "").endswith(f"/pulls/{pr}")
            and (review_id is None or c.get("pull_request_review_id") == review_id)
        ]

    def live_reviews(self, key: str) -> list[dict]:
        return [r for r in self.pulls[key].reviews if r["state"] != "PENDING"]

    def listing(self, since: str | None) -> list[dict]:
        items = [c for c in self.comments.values() if since is None or c["updated_at"] >= since]
        return sorted(items, key=lambda c: (c["updated_at"], c["id"]))


def comment(cid: int, updated: str, **over) -> dict:
    base = {
        "id": cid,
        "path": f"pkg/f{cid}.go",
        "line": 3,
        "diff_hunk": "@@ -1,2 +1,3 @@\n a\n+go f()\n b",
        "body": f"goroutine leak {cid} — naïve 🚀",
        "user": {"login": "bob", "type": "User"},
        "pull_request_url": "https://api.github.com/repos/o/r/pulls/7",
        "html_url": "https://github.com/o/r/pull/7#discussion_r1",
        "created_at": updated,
        "updated_at": updated,
        "reactions": {"+1": 0},
        "_links": {},
    }
    return {**base, **over}


# C901: the stand-in GitHub API is one route table (mccabe counts the nested handler's branches here)
def make_handler(state: GitHubState) -> type[BaseHTTPRequestHandler]:  # noqa: C901
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

        def _begin(self) -> tuple[dict, bool]:
            """Rate headers for the answer; False when an auth failure or a scripted failure was answered."""
            with state.lock:
                state.calls.append(f"{self.command} {self.path}")
                queue = state.fail_posts if self.command == "POST" and state.fail_posts else state.fail_next
                failure = queue.pop(0) if queue else None
                state.remaining = max(state.remaining - 1, 0)
                rate = {
                    "X-RateLimit-Limit": "5000",
                    "X-RateLimit-Remaining": str(state.remaining),
                    "X-RateLimit-Reset": str(int(time.time() + state.reset_in_s)),
                }
            if self.headers.get("Authorization") != "token test-token":
                self._send(401, {"message": "Bad credentials"})
                return rate, False
            if failure:
                status, headers = failure
                messages = {403: "You have exceeded a secondary rate limit", 422: "Unprocessable Entity"}
                message = headers.pop("message", None) or messages.get(status, "Server Error")
                self._send(status, {"message": message}, {**rate, **headers})
                return rate, False
            return rate, True

        def _body(self) -> dict:
            length = int(self.headers.get("Content-Length", 0))
            return json.loads(self.rfile.read(length) or b"{}")

        def do_GET(self):
            url = urlparse(self.path)
            rate, ok = self._begin()
            if not ok:
                return
            pull = _PULL.match(url.path)
            if pull:
                return self._pull_get(pull, url, rate)
            compare = re.fullmatch(r"/repos/([^/]+/[^/]+)/compare/(.+)", url.path)
            if compare:
                if compare[2] not in state.compares:
                    return self._send(404, {"message": "Not Found"})
                files = [{"filename": f, "status": "modified", "sha": "0" * 40} for f in state.compares[compare[2]]]
                return self._send(200, {"status": "ahead", "ahead_by": 1, "commits": [], "files": files}, rate)
            listing = re.fullmatch(r"/repos/([^/]+/[^/]+)/pulls/comments", url.path)
            if not listing:
                return self._send(404, {"message": "Not Found"})
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            assert query.get("sort") == "updated" and query.get("direction") == "asc"
            items = [
                c
                for c in state.listing(query.get("since"))
                if f"/repos/{listing[1]}/pulls/" in c.get("pull_request_url", "")
            ]
            self._page(url, query, items, rate)

        def _page(self, url, query: dict, items: list, rate: dict) -> None:
            page, per_page = int(query.get("page", 1)), int(query.get("per_page", 30))
            headers = dict(rate)
            if page * per_page < len(items):
                nxt = urlencode({**query, "page": page + 1})
                headers["Link"] = f'<http://{self.headers["Host"]}{url.path}?{nxt}>; rel="next"'
            self._send(200, items[(page - 1) * per_page : page * per_page], headers)

        def _pull_get(self, m, url, rate):
            key = f"{m['repo']}#{m['n']}" if m["n"] else None
            query = {k: v[0] for k, v in parse_qs(url.query).items()}
            rest = m["rest"] or ""
            if m["n"] is None:  # /pulls/comments/{id}
                c = state.comments.get(int(m["cid"]))
                return self._send(200, c, rate) if c else self._send(404, {"message": "Not Found"})
            if key not in state.pulls:
                return self._send(404, {"message": "Not Found"})
            pr = state.pulls[key]
            if rest == "":
                return self._send(
                    200,
                    {
                        "number": int(m["n"]),
                        "url": f"http://{self.headers['Host']}/repos/{m['repo']}/pulls/{m['n']}",
                        "head": {"sha": pr.head_sha, "ref": "feature"},
                        "state": "open",
                    },
                    rate,
                )
            if rest == "/files":
                return self._page(url, query, pr.files, rate)
            if rest == "/reviews":
                return self._page(url, query, state.live_reviews(key), rate)
            review = re.fullmatch(r"/reviews/(\d+)(/comments)?", rest)
            if review:
                found = [r for r in pr.reviews if r["id"] == int(review[1])]
                if not found:
                    return self._send(404, {"message": "Not Found"})
                if review[2]:
                    return self._page(url, query, state.review_comments(key, found[0]["id"]), rate)
                return self._send(200, found[0], rate)
            return self._send(404, {"message": "Not Found"})

        def do_POST(self):
            url = urlparse(self.path)
            rate, ok = self._begin()
            if not ok:
                return
            body = self._body()
            if url.path in ("/graphql", "/api/graphql"):
                return self._graphql(body, rate)
            m = _PULL.match(url.path)
            if not m or m["rest"] != "/reviews":
                return self._send(404, {"message": "Not Found"})
            key = f"{m['repo']}#{m['n']}"
            pr = state.pulls[key]
            with state.lock:
                if body.get("commit_id") and body["commit_id"] != pr.head_sha:
                    return self._send(
                        422,
                        {"message": "Unprocessable Entity", "errors": ["commit_id is not part of the pull request"]},
                        rate,
                    )
                for c in body.get("comments", []):
                    problem = self._comment_problem(pr, c)
                    if problem:
                        return self._send(422, {"message": "Unprocessable Entity", "errors": [problem]}, rate)
                pending = not body.get("event")
                if pending and any(r["state"] == "PENDING" for r in pr.reviews):
                    return self._send(
                        422,
                        {
                            "message": "Unprocessable Entity",
                            "errors": ["User can only have one pending review per pull request"],
                        },
                        rate,
                    )
                rid = state.new_id()
                review = {
                    "id": rid,
                    "user": {"login": state.login, "type": "Bot"},
                    "body": body.get("body", ""),
                    "state": "PENDING" if pending else "COMMENTED",
                    "commit_id": body.get("commit_id", pr.head_sha),
                    "html_url": f"https://github.com/{m['repo']}/pull/{m['n']}#pullrequestreview-{rid}",
                    "pull_request_url": f"http://{self.headers['Host']}/repos/{m['repo']}/pulls/{m['n']}",
                }
                pr.reviews.append(review)
                if not pending:
                    state.posts.append(body)
                now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
                for c in body.get("comments", []):
                    cid = state.new_id()
                    state.comments[cid] = {
                        "id": cid,
                        "pull_request_review_id": rid,
                        "path": c["path"],
                        "line": c["line"],
                        "side": c.get("side", "RIGHT"),
                        "start_line": c.get("start_line"),
                        "start_side": c.get("start_side"),
                        "body": c["body"],
                        "commit_id": review["commit_id"],
                        "diff_hunk": self._hunk_of(pr, c["path"], c["line"]),
                        "user": {"login": state.login, "type": "Bot"},
                        "pending": pending,
                        "pull_request_url": f"https://api.github.com/repos/{m['repo']}/pulls/{m['n']}",
                        "html_url": f"https://github.com/{m['repo']}/pull/{m['n']}#discussion_r{cid}",
                        "created_at": now,
                        "updated_at": now,
                        "reactions": {"+1": 0, "-1": 0},
                        "_links": {},
                    }
            self._send(200, review, rate)

        @staticmethod
        def _hunk_of(pr: PullState, path: str, line: int) -> str:
            """GitHub's `diff_hunk` of a comment: its hunk up to the commented line."""
            for f in pr.files:
                if f["filename"] == path and f.get("patch"):
                    for hunk in split_patch(f["patch"]):
                        if line in right_side_lines(hunk):
                            return hunk
            return ""

        @staticmethod
        def _comment_problem(pr: PullState, c: dict) -> str | None:
            files = {f["filename"]: f for f in pr.files}
            f = files.get(c.get("path"))
            if f is None or not f.get("patch"):
                return "Path could not be resolved"
            lines = frozenset().union(*(right_side_lines(h) for h in split_patch(f["patch"])))
            span = range(c.get("start_line") or c["line"], c["line"] + 1)
            if (
                (c["path"], c["line"]) in state.reject_lines
                or any(n not in lines for n in span)
                or c.get("side", "RIGHT") != "RIGHT"
            ):
                return "Pull request review thread line must be part of the diff"
            return None

        def do_PUT(self):
            url = urlparse(self.path)
            rate, ok = self._begin()
            if not ok:
                return
            m = _PULL.match(url.path)
            review = re.fullmatch(r"/reviews/(\d+)", (m["rest"] or "") if m else "")
            if not review:
                return self._send(404, {"message": "Not Found"})
            for r in state.pulls[f"{m['repo']}#{m['n']}"].reviews:
                if r["id"] == int(review[1]):
                    r["body"] = self._body()["body"]
                    return self._send(200, r, rate)
            self._send(404, {"message": "Not Found"})

        def do_DELETE(self):
            url = urlparse(self.path)
            rate, ok = self._begin()
            if not ok:
                return
            m = _PULL.match(url.path)
            if m and m["n"] is None:  # a review comment
                with state.lock:
                    gone = state.comments.pop(int(m["cid"]), None)
                if gone is None:
                    return self._send(404, {"message": "Not Found"})
                self.send_response(204)
                self.end_headers()
                return
            review = re.fullmatch(r"/reviews/(\d+)", (m["rest"] or "") if m else "")
            if not review:
                return self._send(404, {"message": "Not Found"})
            pr = state.pulls[f"{m['repo']}#{m['n']}"]
            with state.lock:
                for r in pr.reviews:
                    if r["id"] == int(review[1]):
                        if r["state"] != "PENDING":
                            return self._send(
                                422,
                                {
                                    "message": "Unprocessable Entity",
                                    "errors": ["Can not delete a non-pending pull request review"],
                                },
                                rate,
                            )
                        pr.reviews.remove(r)
                        for cid in [c["id"] for c in state.review_comments(f"{m['repo']}#{m['n']}", r["id"])]:
                            del state.comments[cid]
                        return self._send(200, r, rate)
            self._send(404, {"message": "Not Found"})

        def _graphql(self, body: dict, rate: dict) -> None:
            """`repository(owner, name) { pullRequest(number) { reviewThreads { nodes { isResolved
            comments { nodes { databaseId } } } } } }`."""
            if "reviewThreads" not in body.get("query", ""):
                return self._send(200, {"errors": [{"message": "unsupported query"}]}, rate)
            v = body.get("variables", {})
            key = f"{v['owner']}/{v['name']}#{v['number']}"
            pr = state.pulls.get(key)
            if pr is None:
                return self._send(200, {"data": {"repository": {"pullRequest": None}}}, rate)
            roots = [c for c in state.review_comments(key) if not c.get("in_reply_to_id")]
            nodes = [
                {"isResolved": c["id"] in pr.resolved_threads, "comments": {"nodes": [{"databaseId": c["id"]}]}}
                for c in roots
            ]
            data = {
                "repository": {
                    "pullRequest": {
                        "reviewThreads": {"nodes": nodes, "pageInfo": {"hasNextPage": False, "endCursor": None}}
                    }
                }
            }
            self._send(200, {"data": data}, rate)

    return Handler


def multi_language_comments(first_id: int, updated: str = "2026-02-01T00:00:00Z") -> dict[int, dict]:
    """Review comments on Rust, Java and TypeScript files (and one on C++, which no setting reviews), in the
    API's shape: kept only when REVIEW_SLM_LANGUAGES names their language."""
    hunks = {
        "src/server/handler.rs": (
            "@@ -10,2 +10,5 @@\n use std::str::FromStr;\n \n+fn port(args: &[String]) -> u16 {\n"
            "+    args[1].parse().unwrap()\n+}",
            13,
            "This panics on a missing or non-numeric argument: unwrap() on user input. Return a Result instead.",
        ),
        "src/main/java/com/acme/Report.java": (
            "@@ -20,2 +20,6 @@\n     }\n \n+    String read(Path p) throws IOException {\n"
            "+        BufferedReader r = Files.newBufferedReader(p);\n+        return r.readLine();\n+    }",
            23,
            "The reader is never closed, so each call leaks a file handle. Use try-with-resources here.",
        ),
        "web/src/api/orders.ts": (
            '@@ -4,2 +4,5 @@\n import { api } from "./http";\n \n+export function refresh(id: string): void {\n'
            "+  api.post(`/orders/${id}/refresh`);\n+}",
            7,
            "The returned promise is dropped: a failed refresh becomes an unhandled rejection. Await it or catch.",
        ),
        "src/core/pool.cc": (
            "@@ -1,2 +1,3 @@\n #include <mutex>\n \n+std::mutex m;",
            3,
            "This global mutex is never used by the pool.",
        ),
    }
    return {
        first_id + i: comment(first_id + i, updated, path=path, line=line, diff_hunk=hunk, body=body)
        for i, (path, (hunk, line, body)) in enumerate(hunks.items())
    }


_PULL = re.compile(r"^/repos/(?P<repo>[^/]+/[^/]+)/pulls/(?:(?P<n>\d+)(?P<rest>/.*)?|comments/(?P<cid>\d+))$")
