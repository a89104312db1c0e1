# syntax=docker/dockerfile:1.7
# The trainer image: what PyTorchJob / TrainJob pods run (`torchrun -m review_slm.training.entrypoint`).
# Build from the repository root:
#   docker build -f deploy/images/trainer.Dockerfile --build-arg GIT_COMMIT=$(git rev-parse HEAD) \
#     -t REGISTRY/review-slm/trainer:TAG .
ARG CUDA_IMAGE=nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
FROM ${CUDA_IMAGE}

# Ubuntu 24.04's Python 3.12 (pyproject: >=3.11,<3.13), in a venv so pip leaves the system alone.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
ENV VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python3 -m venv $VIRTUAL_ENV && pip install --no-cache-dir --upgrade pip

# torch first, the CUDA build matching the base image, so the project's `torch>=2.4` is already met
# and no other build is resolved. Same version as the Makefile's CPU wheel.
ARG TORCH_VERSION=2.13.0
ARG TORCH_CUDA=cu128
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url "https://download.pytorch.org/whl/${TORCH_CUDA}"

WORKDIR /src
# The training stack (transformers, trl, peft, bitsandbytes, datasets, mlflow, dagster-pipes, ...)
# pinned by pyproject.toml (the reviewer's dependencies + the `platform` extra), in its own layer: a
# code change does not reinstall it.
COPY pyproject.toml README.md requirements.lock ./
RUN python -c "import tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; print('\n'.join(p['dependencies'] + p['optional-dependencies']['platform']))" > /tmp/requirements.txt \
 && pip install --no-cache-dir -c requirements.lock -r /tmp/requirements.txt
COPY review_slm ./review_slm
RUN pip install --no-cache-dir --no-deps . && rm -rf /src

# The reproducibility lock tags MLflow runs with this commit (there is no .git in the image).
ARG GIT_COMMIT=unknown
ENV REVIEW_SLM_GIT_COMMIT=${GIT_COMMIT} \
    PYTHONUNBUFFERED=1 \
    TOKENIZERS_PARALLELISM=false \
    HF_HOME=/var/lib/review-slm/hf \
    REVIEW_SLM_HOME=/var/lib/review-slm

RUN useradd --create-home --uid 1000 trainer && mkdir -p /var/lib/review-slm && chown trainer /var/lib/review-slm
USER 1000
WORKDIR /var/lib/review-slm

# torchrun takes the topology from the PyTorchJob's env (PET_NNODES, PET_NPROC_PER_NODE, MASTER_ADDR,
# ...) or TrainJob's PET_* variables; alone it runs one process. The launchers set the command anyway.
CMD ["torchrun", "-m", "review_slm.training.entrypoint"]
