"""`review-slm review --pr ... --post` through real PyGithub against the GitHub stand-in.

The model is a test double that reads the numbered prompt (so its findings sit on the lines the
prompt shows, as a trained student's should): a `BUG` line gets a one-line finding with prose
advice, a `BUG2` line a two-line code suggestion (a multi-line comment), a `FAR` line a finding
on a line outside the diff.
"""

import json
import re
import time

import pytest

from review_slm import cli
from review_slm.core.finding_marker import parse_finding_marker
from review_slm.core.languages import DEFAULT_LANGUAGES
from review_slm.reviewer.github_pulls import GitHubPullRequests, PullRequestError
from review_slm.reviewer.pr_command import PrOptions, review_pull_request
from review_slm.reviewer.pr_review import parse_marker
from review_slm_tests.resources.github_standin import GitHubState, PullState, make_handler
from review_slm_tests.resources.vllm_standin import VllmState, vllm_standin
from review_slm_tests.servers import serve

POOL_PATCH = (
    "@@ -10,6 +10,7 @@ func (p *Pool) Start() {\n"
    " \ta := 1\n"
    "-\tb := 2\n"
    "+\tb := 3\n"
    "+\tgo func() { p.m[1] = 2 }() // BUG\n"
    " \tc := 4\n"
    " \td := 5\n"
    " \te := 6\n"
    " \tf := 7\n"
    "@@ -40,3 +41,5 @@ func (p *Pool) Stop() {\n"
    " \tp.wg.Wait()\n"
    "+\tclose(p.ch) // BUG2\n"
    "+\tclose(p.ch)\n"
    " \treturn nil\n"
    " }"
)
RENAMED_PATCH = "@@ -1,2 +1,4 @@\n import os\n+x = os.environ['A']  # BUG\n+y = 1  # FAR\n z = 2"


def pull_files(pool_patch: str = POOL_PATCH) -> list[dict]:
    return [
        {"filename": "pkg/pool.go", "status": "modified", "patch": pool_patch, "changes": 4, "sha": "a1"},
        {
            "filename": "cmd/new.py",
            "previous_filename": "cmd/old.py",
            "status": "renamed",
            "patch": RENAMED_PATCH,
            "changes": 2,
            "sha": "b2",
        },
        {"filename": "docs/logo.png", "status": "added", "changes": 0, "sha": "c3"},  # binary: no patch
        {"filename": "README.md", "status": "modified", "patch": "@@ -1 +1 @@\n-a\n+b", "changes": 2, "sha": "d4"},
    ]


class LineModel:
    """Stands in for the student: answers each numbered prompt, and records how many it was asked."""

    def __init__(self, comment: str = "race on p.m"):
        self.comment = comment
        self.prompts = 0

    def __call__(self, prompts: list[dict]) -> list[dict]:
        self.prompts += len(prompts)
        out = []
        for p in prompts:
            findings = []
            for num, text in re.findall(r"^\s*(\d+) \+(.*)$", p["messages"][1]["content"], re.MULTILINE):
                if "BUG2" in text:
                    findings.append(
                        {
                            "line": int(num),
                            "severity": "high",
                            "category": "resource-leak",
                            "comment": "closed twice",
                            "suggestion": "\tclose(p.ch)\n\tp.ch = nil",
                        }
                    )
                elif "BUG" in text:
                    findings.append(
                        {
                            "line": int(num),
                            "severity": "medium",
                            "category": "concurrency",
                            "comment": self.comment,
                            "suggestion": "guard it with a mutex, or pass the value in.",
                        }
                    )
                elif "FAR" in text:
                    findings.append(
                        {"line": 400, "severity": "low", "category": "style", "comment": "unused import further down"}
                    )
            out.append(
                {
                    "id": p["id"],
                    "answer": json.dumps(
                        {"summary": "Issues found." if findings else "No issues found.", "findings": findings}
                    ),
                }
            )
        return out


@pytest.fixture
def github():
    state = GitHubState()
    state.pulls["acme/x#7"] = PullState(head_sha="h1", files=pull_files())
    with serve(make_handler(state)) as url:
        yield state, url


def client(url: str, **over) -> GitHubPullRequests:
    return GitHubPullRequests("test-token", url, backoff_factor=0, seconds_between_writes=0, **over)


def posted_comments(state: GitHubState) -> dict[tuple[str, int], dict]:
    return {(c["path"], c["line"]): c for c in state.review_comments("acme/x#7")}


def test_post_puts_comments_on_the_intended_lines(github):
    state, url = github
    result = review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
    assert result["posted"]["action"] == "created" and len(state.live_reviews("acme/x#7")) == 1
    comments = posted_comments(state)
    # pool.go: the hunk with a deletion (line 12 counts new-file lines only), a second hunk, a rename.
    assert set(comments) == {("pkg/pool.go", 12), ("pkg/pool.go", 43), ("cmd/new.py", 2)}
    assert comments[("pkg/pool.go", 43)]["start_line"] == 42  # the two-line suggestion spans 42-43
    assert "```suggestion\n\tclose(p.ch)\n\tp.ch = nil\n```" in comments[("pkg/pool.go", 43)]["body"]
    assert (
        comments[("pkg/pool.go", 12)]["start_line"] is None
        and "```suggestion" not in comments[("pkg/pool.go", 12)]["body"]
    )
    assert parse_finding_marker(comments[("cmd/new.py", 2)]["body"])["category"] == "concurrency"
    review = state.live_reviews("acme/x#7")[0]
    assert "`cmd/new.py` line 400" in review["body"]  # outside the diff: in the summary, not a failed request
    assert "`docs/logo.png` not reviewed: binary file" in review["body"]
    assert parse_marker(review["body"])["head"] == "h1"


def test_rerun_on_the_same_head_leaves_one_review(github):
    state, url = github
    review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
    again = review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
    assert again["posted"]["action"] == "none" and len(state.live_reviews("acme/x#7")) == 1 and len(state.posts) == 1


def test_a_different_answer_on_the_same_head_replaces_the_earlier_review(github):
    state, url = github
    first = review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
    second = review_pull_request(client(url), "acme/x", 7, LineModel("data race on p.m"), PrOptions(post=True))
    assert (
        second["posted"]["action"] == "replaced"
        and second["posted"]["replaced_review_id"] == first["posted"]["review_id"]
    )
    ours = [r for r in state.live_reviews("acme/x#7") if parse_marker(r["body"])]
    assert [r["id"] for r in ours] == [second["posted"]["review_id"]]  # the old one is a stub without comments
    assert all("data race" in c["body"] for c in state.review_comments("acme/x#7") if c["path"] == "cmd/new.py")
    assert len(state.review_comments("acme/x#7")) == 3


def test_a_new_head_reviews_only_the_changed_hunks(github):
    state, url = github
    review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
    # A commit above the first hunk shifts it (+1 line) without changing it; the second hunk changes.
    shifted = POOL_PATCH.replace("@@ -10,6 +10,7 @@", "@@ -10,6 +11,7 @@").replace(
        "+\tclose(p.ch)\n", "+\tclose(p.done)\n"
    )
    state.pulls["acme/x#7"] = PullState("h2", pull_files(shifted), state.pulls["acme/x#7"].reviews)
    model = LineModel()
    result = review_pull_request(client(url), "acme/x", 7, model, PrOptions(post=True))
    assert model.prompts == 1 and result["hunks_unchanged"] == 2
    assert result["posted"]["action"] == "created" and len(state.live_reviews("acme/x#7")) == 2
    nothing = review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
    assert nothing["posted"]["action"] == "none" and len(state.posts) == 2


def test_a_422_on_one_comment_moves_it_into_the_body(github):
    state, url = github
    state.reject_lines.add(("cmd/new.py", 2))
    result = review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
    assert result["posted"]["moved_to_body"] == [{"path": "cmd/new.py", "line": 2}]
    assert set(posted_comments(state)) == {("pkg/pool.go", 12), ("pkg/pool.go", 43)}
    [review] = state.live_reviews("acme/x#7")
    assert "GitHub rejected 1 inline comment(s) with 422" in review["body"] and "`cmd/new.py` line 2" in review["body"]
    assert not [r for r in state.pulls["acme/x#7"].reviews if r["state"] == "PENDING"]  # probes cleaned up


def test_a_finding_outside_its_hunk_is_in_outside_diff_not_in_findings(github):
    _state, url = github
    result = review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions())
    assert ("cmd/new.py", 400) not in [(f["path"], f["line"]) for f in result["findings"]]
    [outside] = result["outside_diff"]
    assert (outside["path"], outside["line"]) == ("cmd/new.py", 400) and "lines 1-4" in outside["reason"]


def test_max_hunks_reviews_the_first_hunks_and_leaves_the_rest_for_the_next_run(github):
    state, url = github
    first = review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True, max_hunks=2))
    assert first["hunks_reviewed"] == 2 and first["not_reviewed"] == [
        {"path": "cmd/new.py", "lines": "1-4", "reason": "over --max-hunks=2"}
    ]
    [review] = state.live_reviews("acme/x#7")
    assert "`cmd/new.py` lines 1-4 not reviewed: over --max-hunks=2" in review["body"]
    # The hunk left out is not marked as covered: the next head reviews it (and only it).
    state.pulls["acme/x#7"] = PullState("h2", pull_files(), state.pulls["acme/x#7"].reviews)
    model = LineModel()
    second = review_pull_request(client(url), "acme/x", 7, model, PrOptions(post=True))
    assert model.prompts == 1 and second["hunks_unchanged"] == 2 and second["not_reviewed"] == []


def test_min_severity_drops_lower_findings(github):
    _state, url = github
    result = review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(min_severity="high"))
    assert [(f["path"], f["line"]) for f in result["findings"]] == [("pkg/pool.go", 42)]
    assert "posted" not in result


def test_rate_limit_and_forbidden_post_nothing_and_say_why(github):
    state, url = github
    reset = str(int(time.time() + 3600))
    state.fail_posts.append(
        (
            403,
            {
                "message": "API rate limit exceeded for installation",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
            },
        )
    )
    with pytest.raises(PullRequestError, match="rate limit exceeded.*nothing was posted"):
        review_pull_request(client(url, max_rate_limit_wait_s=1), "acme/x", 7, LineModel(), PrOptions(post=True))
    state.fail_posts.append((403, {"message": "Resource not accessible by integration"}))
    with pytest.raises(PullRequestError, match="pull-requests: write"):
        review_pull_request(client(url), "acme/x", 7, LineModel(), PrOptions(post=True))
    assert state.pulls["acme/x#7"].reviews == [] and state.comments == {}


def test_cli_posts_through_an_endpoint_and_reruns_idempotently(github, monkeypatch, capsys):
    state, url = github
    answer = json.dumps(
        {
            "summary": "Leak.",
            "findings": [
                {"line": 44, "severity": "high", "category": "resource-leak", "comment": "channel closed twice"}
            ],
        }
    )
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("GITHUB_API_URL", url)
    with vllm_standin(VllmState(answer=answer)) as (endpoint, _vllm):
        args = ["review", "--pr", "acme/x#7", "--post", "--endpoint", endpoint, "--format", "json"]
        assert cli.main(args) == 0
        first = json.loads(capsys.readouterr().out)
        assert cli.main(args) == 0
        second = json.loads(capsys.readouterr().out)
    assert first["posted"]["action"] == "created" and second["posted"]["action"] == "none"
    assert len(state.live_reviews("acme/x#7")) == 1
    assert set(posted_comments(state)) == {
        ("pkg/pool.go", 44)
    }  # the endpoint's answer on every hunk: only pool.go's second hunk has line 44


def test_cli_says_what_is_wrong_with_a_huge_pull_request(github, monkeypatch, capsys):
    _state, url = github
    monkeypatch.setenv("GITHUB_TOKEN", "test-token")
    monkeypatch.setenv("GITHUB_API_URL", url)
    with vllm_standin() as (endpoint, _vllm):
        assert cli.main(["review", "--pr", "acme/x#7", "--max-files", "2", "--endpoint", endpoint]) == 7
    assert "more than --max-files=2" in capsys.readouterr().err


def test_a_reviewable_file_whose_diff_cannot_be_read_makes_the_review_incomplete():
    from review_slm.reviewer.pr_review import PrFile, plan_hunks

    plan = plan_hunks(
        [
            PrFile("pkg/huge.go", "modified", None, changes=90_000),  # GitHub shows no patch for a huge diff
            PrFile("pkg/broken.py", "modified", "@@ -1,3 +1,3 @@\n x\n-y\n+z\n"),  # one line short of its header
            PrFile("docs/huge.md", "modified", None, changes=90_000),  # not reviewed anyway
            PrFile("cmd/moved.py", "renamed", "", previous_path="cmd/old.py"),
        ],
        200,
        DEFAULT_LANGUAGES,
    )
    assert plan.hunks == []
    assert [(u["path"], u["reason"][:33]) for u in plan.unreadable] == [
        ("pkg/huge.go", "diff too large for GitHub to show"),
        ("pkg/broken.py", "not a valid unified diff: Hunk is"),
    ]
    assert plan.skipped == [
        {"path": "docs/huge.md", "reason": "diff too large for GitHub to show"},
        {"path": "cmd/moved.py", "reason": "renamed, content unchanged"},
    ]


def test_a_hunk_whose_answer_was_no_review_is_reviewed_again_on_the_next_head(github):
    state, url = github

    def prose_for_new_py(prompts: list[dict]) -> list[dict]:
        answers = LineModel()(prompts)
        for prompt, answer in zip(prompts, answers):
            if "cmd/new.py" in prompt["messages"][1]["content"]:
                answer["answer"] = "Looks fine to me."
        return answers

    first = review_pull_request(client(url), "acme/x", 7, prose_for_new_py, PrOptions(post=True))
    assert [(i["path"], i["lines"]) for i in first["invalid_answers"]] == [("cmd/new.py", "1-4")]
    state.pulls["acme/x#7"] = PullState("h2", pull_files(), state.pulls["acme/x#7"].reviews)
    model = LineModel()
    second = review_pull_request(client(url), "acme/x", 7, model, PrOptions(post=True))
    assert model.prompts == 1 and second["invalid_answers"] == [] and second["hunks_unchanged"] == 2
