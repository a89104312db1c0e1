"""Secrets: the primary detector (detect-secrets + plugins) redacts every planted kind, in every field,
and the second detector (gitleaks' rules) independently finds each one in the raw text."""

import json

import pytest

from review_slm.core.gold import Candidate
from review_slm.core.quality_gates import GateConfig, apply_quality_gates
from review_slm.core.schema import Finding, Review, ReviewRecord
from review_slm.core.secret_rules import find_leaks
from review_slm.core.secrets import find_secrets, redact
from review_slm.resources.supplement import HFSupplementSource
from review_slm_tests.core.secret_corpus import LINES, PEM, TOKENS


@pytest.mark.parametrize("kind", sorted(LINES))
@pytest.mark.parametrize("path", ["app/settings.py", "deploy/values.yaml", "cmd/main.go", ""])
def test_primary_redacts_every_planted_kind(kind, path):
    redacted, kinds = redact(LINES[kind], path)
    assert TOKENS[kind] not in redacted and kinds


@pytest.mark.parametrize("kind", sorted(LINES))
def test_second_detector_finds_every_kind_alone_and_nothing_once_redacted(kind):
    assert find_leaks(LINES[kind]), f"gitleaks rules miss {kind}"
    assert find_leaks(redact(LINES[kind], "app.py")[0]) == []


def test_a_whole_pem_block_is_redacted_not_only_its_header():
    hunk = "@@ -0,0 +1,3 @@\n+" + PEM.replace("\n", "\n+")
    redacted, kinds = redact(hunk, "certs/key.pem")
    assert (
        "MIIEpAIBAAKCAQEA7" not in redacted
        and kinds == ["private_key"]
        and redacted.startswith("@@ -0,0 +1,3 @@\n+<REDACTED")
    )
    assert find_leaks(hunk) == ["private-key"]


def test_untrusted_path_or_pragma_cannot_silence_the_detector():
    line = LINES["github_ghp"]
    assert find_secrets(line, "yarn.lock") and find_secrets(line, "swagger.json")
    assert find_secrets(line + "  # pragma: allowlist secret", "a.py")


@pytest.mark.parametrize(
    "text",
    [
        "password: ${DB_PASSWORD}",
        'password = get_password("db")',
        "secretName: my-tls-secret",
        "the key configuration is wrong",
        "    x = compute_value(items, key=lambda i: i.name)",
        '  password: "{{ .Values.password }}"',
        "@@ -10,7 +10,8 @@ func main() {",
        "mail me at someone@example.com",
        "token expiry is 3600 seconds",
    ],
)
def test_ordinary_code_and_prose_are_left_alone_by_both(text):
    assert redact(text, "app/main.py") == (text, []) and find_leaks(text) == []


def test_every_field_that_reaches_a_training_example_is_redacted_and_the_second_detector_agrees():
    tok = TOKENS
    rec = ReviewRecord(
        source="hf",
        source_id="s1",
        repo=f"https://bot:{tok['url_password']}@git.corp/o/r",
        path=f"cfg/{tok['github_ghp']}/settings.py",
        language="python",
        line=2,
        diff_hunk=f"@@ -1 +1,2 @@\n import os\n+{LINES['aws_secret_key']}\n+{LINES['password_env']}\n+x = 1",
        body=f"Rotate this: it works {LINES['prose_secret']}",
        thread=[f"bob: also {tok['huggingface']}"],
    )
    review = Review(
        findings=[
            Finding(
                path=rec.path,
                line=2,
                severity="high",
                category="security",
                comment=f"Hard-coded key {tok['stripe']} in source; load it from the environment.",
            )
        ],
        summary=f"Leaks {tok['email']}.",
    )
    leaky = apply_quality_gates([Candidate(rec, review, "t")], [], GateConfig(redact_secrets=False)).kept[0]

    def fields(ex):
        return {
            "diff_hunk": ex.diff_hunk,
            "human_comment": ex.human_comment,
            "review": json.dumps(ex.review.model_dump()),  # noqa: E731
            "path": ex.path,
            "repo": ex.repo,
        }

    assert {name: bool(find_leaks(text)) for name, text in fields(leaky).items()} == dict.fromkeys(fields(leaky), True)
    kept = apply_quality_gates([Candidate(rec, review, "t")], [], GateConfig()).kept[0]
    blob = json.dumps(kept.model_dump())
    assert not [k for k, v in tok.items() if v in blob]
    assert {name: find_leaks(text) for name, text in fields(kept).items()} == dict.fromkeys(fields(kept), [])


def test_supplement_rows_are_redacted_before_they_are_yielded(tmp_path):
    patch = "@@ -1 +1,2 @@\n import os\n+" + "\n+".join(LINES[k] for k in ("aws_key_id", "npm", "jwt", "google"))
    rows = [
        {
            "id": f"id-{TOKENS['gitlab']}",
            "proj": f"o/{TOKENS['slack']}",
            "lang": "py",
            "path": "a.py",
            "patch": patch,
            "msg": f"{LINES['openai']} and {LINES['github_pat']}",
        },
        {"id": "bad", "lang": 7, "patch": "x", "msg": f"{TOKENS['github_gho']}", "path": TOKENS["github_gho"]},
    ]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    source = HFSupplementSource(dataset=str(path))
    info = source.info()
    out = [r.model_dump_json() if r else j.model_dump_json() for r, j in source.iter_rows(info)]
    assert info.rows_redacted == 1 and len(out) == 2
    blob = "\n".join(out)
    assert not [k for k, v in TOKENS.items() if v in blob]
