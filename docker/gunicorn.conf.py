"""gunicorn settings for the API image (`gunicorn -c docker/gunicorn.conf.py "service.app:create_app()"`).

Deployment knobs only; the application's own configuration is read by
graph_schema/settings.py. Every variable here is listed in docs/deploy.md.
"""

import os
import shutil

bind = f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
worker_class = "gthread"
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then (bounded memory growth); jitter avoids all restarting at once.
# Rarely: a recycled worker starts with empty caches (answers, trending snapshot, neighbour
# lists), and at a few hundred requests/s a limit of a few thousand would empty them every
# few seconds. The caches themselves are bounded (RECS_ANSWER_CACHE, RECS_CACHE_ITEMS).
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "200000"))
max_requests_jitter = max_requests // 10
# Heartbeat files on tmpfs: a container's overlay filesystem can stall worker heartbeats.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None

accesslog = "-"  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Trust X-Forwarded-* only from the load balancer.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

_PROM_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR")


def post_worker_init(worker):
    """The app is loaded in this worker: keep the garbage collector off the request path."""
    from service.runtime import tune_gc

    tune_gc()


def on_starting(server):
    """prometheus_client multiprocess mode: start every boot with an empty metrics directory."""
    if _PROM_DIR:
        shutil.rmtree(_PROM_DIR, ignore_errors=True)
        os.makedirs(_PROM_DIR, exist_ok=True)


def child_exit(server, worker):
    """prometheus_client multiprocess mode: drop the gauges of a worker that exited."""
    if _PROM_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
