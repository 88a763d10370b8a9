"""The processes of one machine of a distributed job: `python -m training.distributed.node`.

    python -m training.distributed.node server  JOB_DIR --ip-config IPS --machine K
    python -m training.distributed.node trainer JOB_DIR --ip-config IPS --machine K --master HOST:PORT

Machine K (its line in the ip config, counting from 0) serves partition K and runs
trainer K; trainer 0 writes the result into JOB_DIR. The ip config has one line per
machine, "<ip> <port>", the port the machine's server listens on; the trainers reach one
another through torch.distributed at --master (machine 0's address and a free port).
training.distributed.launch starts these on one host; across machines an operator starts
both on every machine (docs/deploy.md).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback
from pathlib import Path

from training.distributed import shm
from training.distributed.job import Job


def serve(job: Job, ip_config: Path, machine: int) -> None:
    """Serve partition `machine` until trainer 0 shuts the servers down."""
    import dgl.distributed
    from dgl.distributed import rpc

    shm.isolate(job.tag, lambda: machine)
    rpc.reset()
    server = dgl.distributed.DistGraphServer(
        machine,
        str(ip_config),
        1,  # one server per machine
        job.num_parts,  # one trainer per machine
        str(job.part_config),
        # the graph structure stays in the server: with one machine per host, sharing it
        # lets the local trainer sample without a request, but two partitions on one host
        # (the test) would share the segment names (training.distributed.shm)
        disable_shared_mem=True,
        graph_format=["csc", "coo"],
    )
    server.start()


def train(job: Job, ip_config: Path, machine: int, master: str) -> None:
    import dgl.distributed
    import torch.distributed as tdist
    from dgl.distributed import rpc_client

    from training.distributed.trainer import Trainer

    spec = job.spec()
    # DGL finds a client's machine by matching its IP in the ip config: on one host every
    # trainer would be machine 0, and trainer k's reads of its own partition would go to
    # partition 0's memory. Trainer k is machine k (what DGL finds across machines).
    rpc_client.get_local_machine_id = lambda _namebook: machine
    shm.isolate(job.tag, lambda: machine)
    dgl.distributed.initialize(str(ip_config))
    tdist.init_process_group("gloo", init_method=f"tcp://{master}", rank=machine, world_size=job.num_parts)
    try:
        gpb, _, _, _ = dgl.distributed.load_partition_book(str(job.part_config), machine)
        g = dgl.distributed.DistGraph(job.tag, gpb=gpb)
        Trainer(job, spec, machine, job.num_parts, g).fit()
    except BaseException:
        # DGL's orderly exit waits for every trainer at a barrier, which the others (stuck
        # in the step this one left) never reach: report and leave; the launcher (or the
        # operator) stops the rest
        traceback.print_exc()
        sys.stderr.flush()
        os._exit(1)
    dgl.distributed.exit_client()  # trainer 0's exit shuts the servers down
    tdist.destroy_process_group()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.distributed.node")
    parser.add_argument("role", choices=("server", "trainer"))
    parser.add_argument("job", type=Path)
    parser.add_argument("--ip-config", type=Path, required=True)
    parser.add_argument("--machine", type=int, required=True)
    parser.add_argument("--master", default="", help="HOST:PORT of trainer 0's torch.distributed rendezvous")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {args.role}{args.machine} %(message)s")
    os.environ["DGL_DIST_MODE"] = "distributed"
    job = Job.open(args.job.resolve())
    if args.role == "server":
        os.environ["DGL_ROLE"] = "server"
        serve(job, args.ip_config, args.machine)
    else:
        if not args.master:
            parser.error("a trainer needs --master HOST:PORT")
        os.environ.update(DGL_ROLE="client", DGL_NUM_SERVER="1", DGL_NUM_SAMPLER="0", DGL_GROUP_ID="0")
        train(job, args.ip_config, args.machine, args.master)
    return 0


if __name__ == "__main__":
    sys.exit(main())
