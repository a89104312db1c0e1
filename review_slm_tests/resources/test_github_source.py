"""GitHubReviewSource through real PyGithub against a local stand-in of the REST API (127.0.0.1)."""

import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse

import pytest

from review_slm_tests.servers import serve

from review_slm.resources.review_source import GitHubReviewSource

COMMENTS = [
    {"id": 100 + i, "path": f"pkg/f{i}.go", "line": 3, "diff_hunk": "@@ -1,2 +1,3 @@\n a\n+go f()\n b",
     "body": f"leak {i} — naïve", "user": {"login": "bob", "type": "User"}, "pull_request_url": "https://api.github.com/repos/o/r/pulls/7",
     "html_url": "https://github.com/o/r/pull/7#discussion_r1", "created_at": f"2026-01-0{i + 1}T00:00:00Z", "updated_at": f"2026-01-0{i + 1}T00:00:00Z"}
    for i in range(5)
] + [{"id": 200, "path": "a.py", "line": 1, "diff_hunk": "@@ -1 +1 @@\n+x", "body": "coverage", "user": {"login": "coveralls[bot]", "type": "Bot"},
      "updated_at": "2026-01-09T00:00:00Z"}]


class StandIn(BaseHTTPRequestHandler):
    calls: list[str] = []

    def log_message(self, *args):
        """Keep the test output free of access-log lines."""

    def do_GET(self):
        url = urlparse(self.path)
        StandIn.calls.append(self.path)
        assert self.headers["Authorization"] == "token test-token"
        if url.path != "/repos/o/r/pulls/comments":
            self.send_response(404)
            self.end_headers()
            return
        query = parse_qs(url.query)
        page, per_page = int(query.get("page", ["1"])[0]), int(query["per_page"][0])
        items = COMMENTS[(page - 1) * per_page : page * per_page]
        body = json.dumps(items).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-RateLimit-Remaining", "4999")
        if page * per_page < len(COMMENTS):
            host = f"http://{self.headers['Host']}"
            self.send_header("Link", f'<{host}{url.path}?per_page={per_page}&sort=updated&direction=asc&page={page + 1}>; rel="next"')
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def api_url():
    StandIn.calls = []
    with serve(StandIn) as url:
        yield url


def test_mines_all_pages_through_pygithub(api_url):
    source = GitHubReviewSource(token="test-token", api_url=api_url, repos=["o/r"], per_page=2)
    batch = source.mine()
    assert batch.fetched == 6 and len(batch.records) == 5
    assert [r.reason for r in batch.rejected] == ["bot"]
    assert batch.records[0].body == "leak 0 — naïve" and batch.records[0].pr_number == 7
    assert len(StandIn.calls) == 3  # three pages, no per-comment re-fetch
    assert "sort=updated" in StandIn.calls[0]
    assert batch.newest_update == {"o/r": "2026-01-09T00:00:00Z"}
