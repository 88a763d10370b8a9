"""A distributed training job on disk: the partitioned graph plus what every trainer needs.

Layout of a job directory (it has to be readable at the same path on every machine: a
shared file system, or copied there before the launch):

    parts/<graph>.json, parts/part<k>/   dgl.distributed.partition_graph's output
    job.json                             the job's tag and number of partitions
    job.pkl                              training set, config, validation truth, node layout
    init.npy                             initial base embeddings, in partitioned node order
    orig_nids.npy                        partitioned node id -> homogeneous node id
    result.npz, history.json             written by trainer 0 when training ends

The graph is the homogeneous view of training.graph's heterograph (node ids grouped by
type), with the normalised edge weight "w", and per node the number and total weight of
its in-edges ("in_count", "in_weight") that the sampled blocks' weights need
(training.blocks). The initial embeddings are those training.train would start from
(same seed, warm start applied), so the two trainings differ only in how they step.
"""

from __future__ import annotations

import json
import pickle
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import dgl
import numpy as np
import torch

from training.config import TrainConfig
from training.data import TrainingData
from training.graph import build_graph
from training.model import LightGCN

PARTS = "parts"


@dataclass(frozen=True)
class JobSpec:
    """What job.pkl holds."""

    data: TrainingData
    now_ms: int
    cfg: TrainConfig
    valid_truth: list[np.ndarray] | None
    ntypes: tuple[str, ...]
    sizes: tuple[int, ...]
    graph_name: str
    num_parts: int
    warm_started: dict[str, int]  # rows copied from the previous run, per node type


@dataclass(frozen=True)
class Job:
    root: Path
    tag: str  # unique per job: the graph name and the shared-memory prefix (training.distributed.shm)
    num_parts: int

    @property
    def part_config(self) -> Path:
        return self.root / PARTS / f"{self.tag}.json"

    @property
    def result(self) -> Path:
        return self.root / "result.npz"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    def spec(self) -> JobSpec:
        with (self.root / "job.pkl").open("rb") as f:
            return pickle.load(f)

    @classmethod
    def open(cls, root: Path) -> Job:
        """The job at `root` (without loading the training set: servers never need it)."""
        meta = json.loads((root / "job.json").read_text())
        return cls(root, meta["tag"], meta["num_parts"])


def prepare(
    data: TrainingData,
    now_ms: int,
    cfg: TrainConfig,
    valid_truth: Sequence[np.ndarray] | None,
    num_parts: int,
    root: Path,
) -> Job:
    """Partition the training graph into `num_parts` parts under `root` and write the job."""
    from training.train import seed_everything, warm_start  # the single-process trainer's own start

    if num_parts < 1:
        raise ValueError(f"num_parts must be at least 1, not {num_parts}")
    root.mkdir(parents=True, exist_ok=True)
    tag = f"ig{uuid.uuid4().hex[:10]}"
    seed_everything(cfg.seed)
    hetero = build_graph(data, now_ms, cfg.graph)
    ntypes = tuple(hetero.ntypes)
    sizes = tuple(hetero.num_nodes(nt) for nt in ntypes)
    homo = dgl.to_homogeneous(hetero, edata=["w"])
    # same draws as training.train: the model is built right after the graph
    model = LightGCN(dict(zip(ntypes, sizes, strict=True)), cfg.dim, cfg.layers, cfg.init_std, cfg.item_bias)
    warmed = warm_start(model, data, data.previous)
    with torch.no_grad():
        init = torch.cat([model.emb[nt] for nt in ntypes]).numpy()

    src, dst = homo.edges()
    g = dgl.graph((src, dst), num_nodes=homo.num_nodes())  # no reserved _ID/_TYPE fields to partition
    w = homo.edata["w"]
    g.edata["w"] = w
    n = g.num_nodes()
    g.ndata["in_count"] = torch.zeros(n).index_add_(0, dst, (w > 0).float())
    g.ndata["in_weight"] = torch.zeros(n).index_add_(0, dst, w)
    # metis keeps a user's neighbourhood in its partition (fewer remote reads); it needs
    # at least as many nodes as parts
    method = "metis" if n >= 4 * num_parts and num_parts > 1 else "random"
    orig_nids, _ = dgl.distributed.partition_graph(
        g, tag, num_parts, str(root / PARTS), part_method=method, balance_edges=True, return_mapping=True
    )
    orig = orig_nids.numpy()
    np.save(root / "orig_nids.npy", orig)
    np.save(root / "init.npy", init[orig])
    spec = JobSpec(
        data=data,
        now_ms=now_ms,
        cfg=cfg,
        valid_truth=None if valid_truth is None else list(valid_truth),
        ntypes=ntypes,
        sizes=sizes,
        graph_name=tag,
        num_parts=num_parts,
        warm_started=warmed,
    )
    with (root / "job.pkl").open("wb") as f:
        pickle.dump(spec, f, protocol=pickle.HIGHEST_PROTOCOL)
    (root / "job.json").write_text(json.dumps({"tag": tag, "num_parts": num_parts}))
    return Job(root, tag, num_parts)
