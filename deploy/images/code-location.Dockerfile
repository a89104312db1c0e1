# syntax=docker/dockerfile:1.7
# The Dagster code location: the gRPC code server of the Helm chart's user deployment, the run pods
# the K8sRunLauncher starts from it, and the MLflow server (deploy/kustomize/base/mlflow.yaml).
# No GPU work happens here: training and generation run in trainer-image jobs.
# Build from the repository root:
#   docker build -f deploy/images/code-location.Dockerfile --build-arg GIT_COMMIT=$(git rev-parse HEAD) \
#     -t REGISTRY/review-slm/code-location:TAG .
FROM python:3.11-slim

ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python -m venv $VIRTUAL_ENV && pip install --no-cache-dir --upgrade pip

# CPU torch first, like the Makefile, so the project's dependencies pull in no multi-GB CUDA build.
ARG TORCH_VERSION=2.13.0
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url https://download.pytorch.org/whl/cpu

WORKDIR /src
COPY pyproject.toml README.md requirements.lock ./
# The project's pinned dependencies (the reviewer's + the `platform` extra), plus what a Kubernetes deployment of Dagster needs beyond them:
# dagster-postgres for the instance storage (and psycopg2 for the MLflow server's backend store).
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['platform']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -c requirements.lock -r /tmp/requirements.txt "dagster-postgres==0.29.*"
COPY review_slm ./review_slm
RUN pip install --no-cache-dir --no-deps . && rm -rf /src

ARG GIT_COMMIT=unknown
ENV REVIEW_SLM_GIT_COMMIT=${GIT_COMMIT} \
    PYTHONUNBUFFERED=1 \
    REVIEW_SLM_HOME=/var/lib/review-slm \
    DAGSTER_HOME=/opt/dagster/dagster_home

RUN useradd --create-home --uid 1000 dagster \
 && mkdir -p /var/lib/review-slm /opt/dagster/dagster_home \
 && chown dagster /var/lib/review-slm /opt/dagster/dagster_home
USER 1000
WORKDIR /var/lib/review-slm

EXPOSE 3030
# The Helm chart passes its own arguments (codeServerArgs); this is the same command for `docker run`.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "3030", "-m", "review_slm.definitions"]
