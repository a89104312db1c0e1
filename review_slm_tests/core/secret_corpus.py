"""Planted secrets of every kind issue 11 lists, in realistic shapes. Built by concatenation so this
file is not itself a leak report for scanners run on the repository."""

A = "tva9AW7hipTgadDZFlRJ"  # mixed letters and digits, high entropy
TOKENS = {
    "aws_key_id": "AKIA" + "M4MI2YHZ2NARTBNL",
    "aws_secret_key": "wJalr" + "XUtnFEMI/K7MDENG/bPxRfiCY9x3Qz1LmKeY",
    "github_ghp": "ghp_" + A + "aZ9yX8wV7uT6sR5q",
    "github_gho": "gho_" + A + "bY8xW7vU6tS5rQ4p",
    "github_pat": "github_pat_"
    + "EeUtuieeCIxVc57VVTiY96"
    + "_"
    + "vwfRE5e32A8Yb3FKaNQyyLaMeffOhq4AUvy7VSLDCD1IfHWGbtMfEbo9ShF",
    "gitlab": "glpat-" + "z2MPKgcjnCqaXNv1syee",
    "slack": "xoxb-" + "123456789012-1234567890123-" + "9b2Rann76dEyTzAeKOmXRrvf",
    "stripe": "sk_live_" + "4EMfAdggcG9qpVTzqA05MFsH",
    "google": "AIza" + "wiqD9jJBAciI05FhfwKVqlUr5Qrec8TNecj",
    "openai": "sk-proj-" + "fnLOpaMxxNDi9LE1Ki3y" + "T3BlbkFJ" + "lOjt6o0NpUmkVO8JmR8y",
    "huggingface": "hf_" + "CJXDCGLmlZGEONYlgCtjfIZSOcMzCPVNPk",
    "npm": "npm_" + "a7edcmpb3u2m7os5af3r09fquo6sbegzgsye",
    "jwt": "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "password_env": "Sup3rS3cr3tValue9",
    "password_yaml": "hunter2Hunter2x",
    "url_password": "s3cr3tPassw0rd",
    "prose_secret": "k8Zq2LmN9vXw",
    "email": "jane.doe" + "@corp-mail.io",
}
PEM_BODY = "MIIEpAIBAAKCAQEA7" + "x" * 40
LINES = {
    "aws_key_id": f'aws_access_key_id = "{TOKENS["aws_key_id"]}"',
    "aws_secret_key": f'aws_secret_access_key="{TOKENS["aws_secret_key"]}"',
    "github_ghp": f"token = {TOKENS['github_ghp']}",
    "github_gho": f"Authorization: token {TOKENS['github_gho']}",
    "github_pat": f"GITHUB_TOKEN={TOKENS['github_pat']}",
    "gitlab": f"gitlab token {TOKENS['gitlab']}",
    "slack": f"slack: {TOKENS['slack']}",
    "stripe": f"stripe.api_key = '{TOKENS['stripe']}'",
    "google": f"key={TOKENS['google']}",
    "openai": f'client = OpenAI(api_key="{TOKENS["openai"]}")',
    "huggingface": f"HF_TOKEN={TOKENS['huggingface']}",
    "npm": f"//registry.npmjs.org/:_authToken={TOKENS['npm']}",
    "jwt": f"curl -H 'X-Auth: {TOKENS['jwt']}'",
    "password_env": f"DB_PASSWORD={TOKENS['password_env']}",
    "password_yaml": f"  password: {TOKENS['password_yaml']}",
    "url_password": f"DATABASE_URL=postgres://admin:{TOKENS['url_password']}@db.internal:5432/app",
    "prose_secret": f"It works with secret {TOKENS['prose_secret']} on staging.",
    "email": f"ping {TOKENS['email']} about it",
}
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
