"""Secrets: the primary detector (detect-secrets + plugins) redacts every planted kind, in every field,
and the second detector (gitleaks' rules) independently finds each one in the raw text."""

import json

import pytest

from review_slm.core.gold import Candidate
from review_slm.core.quality_gates import GateConfig, apply_quality_gates
from review_slm.core.redaction import find_secrets, redact
from review_slm.core.schema import Finding, Review, ReviewRecord
from review_slm.core.secret_rules import find_leaks
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


# Code that names a secret without holding one (issue 18): each stays byte-identical through `redact` and the
# blocking check finds nothing in it, alone and as an added line of a hunk.
NOT_SECRETS = {
    "app/auth.py": [
        "    def __init__(self, password_mgr=None):",
        "        self.password = password",
        "        password = getpass.getpass(prompt)",
        "    password: str",
        "    password: Optional[str] = None",
        "    def login(self, username: str, password: str) -> None: ...",
        "    - password: the password to log in with",
        "    :param password: user provided password",
        "    :type password_hash: bytes",
        '    api_key = os.environ["OPENAI_API_KEY"]',
        '    secret = os.getenv("APP_SECRET", default_secret)',
        '_JSON_FILE_PRIVATE_KEY = "private_key"',
        '    body = {"grant_type": "refresh_token", "refresh_token": refresh_token}',
        "    secret_type = 'NPM tokens'",
        "        'secret_ref': 'V1SecretReference',",
        'password = "<password>"',
        'token = "${GITHUB_TOKEN}"',
        'password = "changeme"',
        'API_KEY = "your-api-key-here"',
        '__version__ = "3.2.1.4"',
        "# RFC 7692 section 7.2.3.1 says the window is 15 bits",
        "# https://datatracker.ietf.org/doc/html/rfc7692#section-7.2.3.1",
        'revision = "16689497301f"',
        "git_version = 'cf30153c4c131c8164ee7798e5022d810682e2cb'",
        'request_id = "123e4567-e89b-12d3-a456-426614174000"',
        'NAMESERVER = "8.8.8.8"',
        'engine = create_engine("postgresql://scott:tiger@localhost/test")',
        'AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"',
        "self.choices.append('type=triton_BLOCK-M=128_BLOCK-K=32_BLOCK-N=128_numstages=3_numwarps=4')",
        'mlflow traces search --page-token "eyJvZmZzZXQiOiA1MH0="',
        "DSAPrivateKeyWithSerialization = DSAPrivateKey",
        "    def _prepare_api_key(self, api_key: str | None) -> str:",
        '@auto_docstring(checkpoint="naver-hyperclovax/HyperCLOVAX-SEED-Think-32B")',
        '    "crypto_aead_chacha20poly1305_MESSAGEBYTES_MAX",',
        '    MovedAttribute("HTTPPasswordMgr", "urllib2", "urllib.request"),',
        '    if data.startswith(b"-----BEGIN RSA PRIVATE KEY-----"):',
        '    >>> tokenizer = AutoTokenizer.from_pretrained("rednote-hilab/dots1.llm1.inst")',
        '            password = enforce_bytes(proxy_auth[1], name="proxy_auth")',
        "        password = self.password2",
        "        password = password_v2",
        "        self.secret = SECRET_KEY_V2",
        "    api_key: API_KEY_2024",
        '    alphabet = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"',
        "    def __init__(self, private_key: x25519.X25519PrivateKey) -> None: ...",
        "    key: X25519PrivateKey | None",
        "        check = build_check(asset_key, partition_key=expected_partition_key)",
        '        return {"keypoints0": matched_keypoints0, "keypoints1": matched_keypoints1}',
        "        # Auth token (SKxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx)",
        '_PKCS1_MARKER = ("-----BEGIN RSA PRIVATE KEY-----", "-----END RSA PRIVATE KEY-----")',
        "    >>> from transformers import AutoTokenizer, Dots1ForCausalLM",
        '    arn = f"arn:aws:kms:{region}:{account}:key/1234abcd-12ab-34cd-56ef-1234567890ab"',
    ],
    "cmd/server/main.go": [
        '\tpassword := os.Getenv("DB_PASSWORD")',
        "\tsecret := cfg.Secret",
        "func Login(user string, password string) error {",
        '\tPassword string `json:"password"`',
        "\tapiKey, err := loadAPIKey(ctx)",
        '\tif password == "" {',
        "\tsecretKey := []byte(opts.SecretKey)",
        "\tvar password = form.password1;",
    ],
    "deploy/values.yaml": [
        "password: ${DB_PASSWORD}",
        '  password: "{{ .Values.db.password }}"',
        "  secretName: my-tls-secret",
        "  existingSecret: postgres-credentials",
        "  passwordSecretKey: password",
        "  api_key: changeme",
        '  mysql_url: "mysql+mysqlconnector://test:test@localhost:3306/test"',
        "version: 1.2.3.4",
    ],
}


@pytest.mark.parametrize("path,text", [(path, text) for path, texts in NOT_SECRETS.items() for text in texts])
def test_code_that_names_a_secret_without_holding_one_is_left_byte_identical_by_both(path, text):
    hunk = f"@@ -1,2 +1,3 @@\n context()\n+{text}\n+done()\n"
    assert redact(text, path) == (text, []) and redact(hunk, path) == (hunk, [])
    assert find_leaks(text) == [] and find_leaks(hunk) == []


@pytest.mark.parametrize(
    "text",
    [
        "Do not commit this: DB_PASSWORD=Sup3rS3cr3tValue9. Rotate it.",
        "Do not commit this:   password: hunter2Hunter2x. Rotate it.",
        'cfg.Password = "n7Vq2xLw9Rt4"',
        'db = connect("mysql://root:p4ssw0rd99@db.internal/app")',
        "password=p4ssw0rd_2024",
    ],
)
def test_a_credential_value_beside_a_secret_name_is_still_caught_by_both(text):
    redacted, kinds = redact(text, "app/settings.py")
    assert kinds and "<REDACTED" in redacted and find_leaks(text)
    assert "Rotate it." in redacted or "Rotate" not in text  # the value is redacted, not the prose after it


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
