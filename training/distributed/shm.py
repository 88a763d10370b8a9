"""Shared-memory names per machine, so two partitions (or two runs) on one host never share one.

DGL's KVStore servers put every tensor they hold in a POSIX shared-memory segment named
after the tensor ("<name>-kvdata-"), and the trainers on the same machine map it by that
name for local reads. The name carries neither the graph nor the partition, so two
partitions served from one host (the one-machine test, or two runs at once) would
silently share, and overwrite, each other's segments. Every process of a job therefore
prefixes those names with the job's tag and the machine id: a server with its partition,
a trainer with the machine DGL says it is on (the partition it reads locally).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

SHM_DIR = Path("/dev/shm")


def isolate(tag: str, machine: Callable[[], int]) -> None:
    """Prefix the KVStore's shared-memory names with `tag` and machine() in this process."""
    import dgl.distributed.kvstore as kvstore

    create = kvstore.empty_shared_mem

    def prefixed(name: str, is_create: bool, shape, dtype):
        return create(f"{tag}-m{machine()}-{name}", is_create, shape, dtype)

    kvstore.empty_shared_mem = prefixed


def remove_leftovers(tag: str) -> list[str]:
    """Unlink the segments of job `tag` a killed process left behind (a clean exit leaves none)."""
    removed = []
    for path in SHM_DIR.glob(f"{tag}-m*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed
