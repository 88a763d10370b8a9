# syntax=docker/dockerfile:1
# The REST API image: Flask app under gunicorn. Only the runtime dependencies
# (requirements.txt): no torch, no DGL -- the API never imports them.
#
#   docker build -f docker/api.Dockerfile -t interest-graph-api .
#   docker run --rm -p 8000:8000 -e GRAPH_URI=neo4j://... -e DATABASE_URL=... interest-graph-api
#
# The same image runs the one-shot `interest-graph migrate` in docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/data \
    PORT=8000

RUN python -m venv /opt/venv \
    && groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /home/app --create-home --shell /usr/sbin/nologin app \
    && mkdir -p /data /snapshots \
    && chown app:app /data /snapshots

WORKDIR /app

# Dependencies first, so the layer is reused while only the code changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# The project itself (its dependencies are already in place).
COPY pyproject.toml ./
COPY graph_schema ./graph_schema
COPY records ./records
COPY service ./service
COPY training ./training
COPY docker/gunicorn.conf.py ./docker/gunicorn.conf.py
RUN pip install --no-deps . \
    && python -c "import graph_schema, service"

USER 10001:10001
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8000'), timeout=4)"]

CMD ["gunicorn", "-c", "docker/gunicorn.conf.py", "service.app:create_app()"]
