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
    "openai": "sk-proj-"
    + "fnLOpaMxxNDi9LE1Ki3y" * 3
    + "Qz7vXw9LmN8kTb"
    + "T3BlbkFJ"
    + "lOjt6o0NpUmkVO8JmR8y" * 3
    + "Hq2Wc5Rt8Yu1Io",
    "huggingface": "hf_" + "CJXDCGLmlZGEONYlgCtjfIZSOcMzCPVNPk",
    "npm": "npm_" + "a7edcmpb3u2m7os5af3r09fquo6sbegzgsye",
    "jwt": "eyJhbGciOiJIUzI1NiJ9" + ".eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    "password_env": "Sup3rS3cr3tValue9",
    "password_yaml": "hunter2Hunter2x",
    "url_password": "s3cr3tPassw0rd",
    "prose_secret": "k8Zq2LmN9vXw",
    "email": "jane.doe" + "@corp-mail.io",
    "password_py": "Xk9mQ2vLp8" + "wZ",
    "password_go": "n7Vq2xLw" + "9Rt4",
    "azure_storage": "q8Zr3VbN1xLm5TgH7wYc2KpD9sFj4QaE6uRt0OiWn3MbV8cX1zLk5JhG7fDs2AqW" + "9eRt4YuI6oP0lKj3mN4b5V==",
    "slack_webhook": "https://hooks.slack.com/services/" + "T024BE7LD/B08GH3P1LKQ/" + "x7Zq2Wm9Lp4Rt8Vn3Kb6Yc1d",
    "sendgrid": "SG." + "ngeVfQFYQlKU0ufo8x5d1A" + "." + "TwL2iGABf9DHoTf-09kqeF8tAmbihYzrnopKc-1s5cr",
    "gcp_service_account": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC" + "BKcwggSjAgEAAoIBAQC7" + "q9vXw2LmN8k" * 4,
}
# Kinds a detector recognises from the token alone (prefix or shape); the others are secrets only by what names
# them (`DB_PASSWORD=`, `password:`, "with secret", `AccountKey=`, a JSON key), so a path or a repository name
# alone cannot carry them.
SELF_EVIDENT = {
    "aws_key_id",
    "github_ghp",
    "github_gho",
    "github_pat",
    "gitlab",
    "slack",
    "stripe",
    "google",
    "openai",
    "huggingface",
    "npm",
    "jwt",
    "email",
    "sendgrid",
    "slack_webhook",
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
    "password_py": f'DB_PASSWORD = "{TOKENS["password_py"]}"',
    "password_go": f'password := "{TOKENS["password_go"]}"',
    "azure_storage": "AZURE_STORAGE_CONNECTION_STRING=DefaultEndpointsProtocol=https;AccountName=acme;"
    f"AccountKey={TOKENS['azure_storage']};EndpointSuffix=core.windows.net",
    "slack_webhook": f"webhook_url: {TOKENS['slack_webhook']}",
    "sendgrid": f"SENDGRID_API_KEY={TOKENS['sendgrid']}",
    "gcp_service_account": '  "private_key": "-----BEGIN PRIVATE KEY-----\\n'
    + TOKENS["gcp_service_account"]
    + '\\n-----END PRIVATE KEY-----\\n",',
}
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----"
