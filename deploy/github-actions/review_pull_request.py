"""The GitHub Action's step (`action.yml`): review the pull request of a `pull_request` event and post it.

Reads what the runner provides (`GITHUB_EVENT_NAME`, `GITHUB_EVENT_PATH`, `GITHUB_REPOSITORY`,
`GITHUB_TOKEN`, `GITHUB_API_URL`) and runs `review-slm review --pr OWNER/REPO#N --post` with the
model the action was given (`REVIEW_SLM_ENDPOINT`, or `REVIEW_SLM_MODEL`, a model folder) and
`--fail-on REVIEW_SLM_FAIL_ON`. Whenever the review ran, it also goes to the job summary
(`GITHUB_STEP_SUMMARY`) and its numbers to the step outputs (`GITHUB_OUTPUT`: review-id, findings,
action), even when the CLI's exit code then fails the step (a finding at --fail-on, an incomplete
review). Exit code: the CLI's.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys

from review_slm import cli
from review_slm.reviewer.review_formats import to_markdown

PR_EVENTS = ("pull_request", "pull_request_target")


def build_args(env: dict[str, str], event: dict) -> list[str] | str:
    """The CLI's arguments, or why there is nothing to review."""
    if env.get("GITHUB_EVENT_NAME") not in PR_EVENTS:
        return f"event {env.get('GITHUB_EVENT_NAME')!r} is not a pull request event: nothing to review"
    pr = event.get("pull_request") or {}
    if pr.get("draft") and env.get("REVIEW_SLM_REVIEW_DRAFTS", "false") != "true":
        return "draft pull request: not reviewed (set review-drafts: true to review drafts)"
    args = [
        "review",
        "--pr",
        f"{env['GITHUB_REPOSITORY']}#{pr['number']}",
        "--post",
        "--format",
        "json",
        "--min-severity",
        (env.get("REVIEW_SLM_MIN_SEVERITY") or "info").lower(),
    ]
    if env.get("REVIEW_SLM_FAIL_ON"):
        args += ["--fail-on", env["REVIEW_SLM_FAIL_ON"].lower()]
    if env.get("REVIEW_SLM_TIMEOUT"):
        args += ["--timeout", env["REVIEW_SLM_TIMEOUT"]]
    if env.get("REVIEW_SLM_ENDPOINT"):
        args += ["--endpoint", env["REVIEW_SLM_ENDPOINT"]]
    elif env.get("REVIEW_SLM_MODEL"):
        args += ["--model", env["REVIEW_SLM_MODEL"]]
    if env.get("REVIEW_SLM_BOT_LOGIN"):
        args += ["--reviewer-login", env["REVIEW_SLM_BOT_LOGIN"]]
    return args


def _append(path: str | None, text: str) -> None:
    if path:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(text)


def main(env: dict[str, str] | None = None) -> int:
    env = dict(os.environ if env is None else env)
    with open(env["GITHUB_EVENT_PATH"], encoding="utf-8") as handle:
        event = json.load(handle)
    args = build_args(env, event)
    if isinstance(args, str):
        print(f"review-slm: {args}")
        return 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = cli.main(args)
    try:
        review = json.loads(out.getvalue())
    except json.JSONDecodeError:
        return code  # the review did not run; the CLI said why on stderr
    posted = review.get("posted", {})
    _append(env.get("GITHUB_STEP_SUMMARY"), to_markdown(review))
    _append(
        env.get("GITHUB_OUTPUT"),
        f"review-id={posted.get('review_id', '')}\nfindings={len(review['findings'])}\n"
        f"action={posted.get('action', '')}\n",
    )
    print(
        f"review-slm: {review['pull_request']}: {len(review['findings'])} finding(s); review {posted.get('action')}"
        f"{' ' + str(posted['review_id']) if posted.get('review_id') else ''}"
    )
    return code


if __name__ == "__main__":
    sys.exit(main())
