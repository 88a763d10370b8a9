"""One trainer of a distributed job: the sampled BPR steps of training.train over a DistGraph.

Each trainer takes an equal share of the positives (a fixed seeded split, padded so every
trainer runs the same number of steps, which the synchronous sparse optimiser needs) and
`sampled_batch_size / trainers` of them per step, so the trainers together take the
single-process step. A step samples weighted blocks around its users and items from the
DistGraph (training.blocks' estimator, with the per-node in-edge totals read from the
graph's node data), reads the input nodes' base embeddings from a DistEmbedding (held by
the servers, partitioned like the nodes), and applies the gradients with DGL's SparseAdam,
which exchanges them between the trainers (torch.distributed, gloo) and updates each row
where it is stored. The loss is divided by the number of trainers, so a row one trainer
used gets the gradient of the whole step's mean loss (a row two trainers used gets the mean
of theirs: DGL's SparseAdam averages the gradients it receives for one row; Adam's
per-row normalisation makes the difference small, and the test measures the result).

Early stopping is decided by trainer 0: every `eval_every` epochs it reads the base
embeddings, propagates them over the training graph (training.train's evaluation) and
tells the others whether to go on.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import dgl
import numpy as np
import torch
import torch.distributed as tdist
from dgl.distributed import DistDataLoader, DistEmbedding, DistGraph
from dgl.distributed.optim import SparseAdam

from training.blocks import WeightedBlockSampler, block_edges
from training.distributed.job import Job, JobSpec
from training.graph import PropagationGraph, build_graph, homogeneous_view
from training.model import LightGCN
from training.sampling import NegativeSampler
from training.train import _evaluate, _valid_sample, bpr_loss, hardest, seed_everything

log = logging.getLogger(__name__)

ROW_CHUNK = 65_536  # rows per read or write of the embedding table


class DistBlockSampler(WeightedBlockSampler):
    """training.blocks' weighted blocks, drawn from a DistGraph: the in-edge totals are
    the partitioned node data "in_count" / "in_weight" instead of local tensors."""

    def __init__(self, g: DistGraph, fanouts: tuple[int, ...]) -> None:
        self.graph = g
        self.sampler = dgl.dataloading.NeighborSampler(list(fanouts), prob="w")
        self.in_count = g.ndata["in_count"]
        self.in_weight = g.ndata["in_weight"]


@dataclass
class _BaseRows:
    """The base (layer-0) rows of a step's users and items, standing in for the model's
    tables in bpr_loss: its L2 term then sums exactly the rows the step read."""

    emb: dict[str, torch.Tensor]
    item_bias: None = None


def propagate(h: torch.Tensor, blocks: list[dgl.DGLGraph], layers: int) -> torch.Tensor:
    """LightGCN.forward_blocks from given base rows `h` of blocks[0]'s source nodes."""
    n_seeds = blocks[-1].num_dst_nodes()
    total = h[:n_seeds]
    for block in blocks:
        with block.local_scope():
            block.srcdata["h"] = h
            block.update_all(dgl.function.u_mul_e("h", "w", "m"), dgl.function.sum("m", "h_next"))
            h = block.dstdata["h_next"]
        total = total + h[:n_seeds]
    return total / (layers + 1)


class Trainer:
    def __init__(self, job: Job, spec: JobSpec, rank: int, world: int, g: DistGraph) -> None:
        self.job, self.spec, self.cfg = job, spec, spec.cfg
        self.rank, self.world, self.g = rank, world, g
        data = spec.data
        self.orig = np.load(job.root / "orig_nids.npy")
        self.new_of = np.empty_like(self.orig)
        self.new_of[self.orig] = np.arange(len(self.orig))
        self.offset = dict(zip(spec.ntypes, np.cumsum([0, *spec.sizes[:-1]]).tolist(), strict=True))
        self.n_nodes = int(sum(spec.sizes))
        seed_everything(self.cfg.seed + rank)
        self.rng = np.random.default_rng([self.cfg.seed, rank])
        self.negatives = NegativeSampler(data, self.rng, self.cfg.hard_negative_frac)
        self.blocks = DistBlockSampler(g, self.cfg.fanouts)
        self.emb = DistEmbedding(self.n_nodes, self.cfg.dim, name="base", init_func=_zeros)
        self.opt = SparseAdam([self.emb], lr=self.cfg.lr)
        self.edges = 0

    # --- the embedding table, in homogeneous (unpartitioned) node order -------------------

    def write_initial(self) -> None:
        """Trainer 0 writes the job's initial embeddings; every trainer waits for them."""
        if self.rank == 0:
            init = np.load(self.job.root / "init.npy", mmap_mode="r")
            for lo in range(0, self.n_nodes, ROW_CHUNK):
                ids = torch.arange(lo, min(lo + ROW_CHUNK, self.n_nodes))
                self.emb.weight[ids] = torch.as_tensor(np.array(init[lo : lo + len(ids)]))
            # a read from every server after the writes: each serves its requests in order
            gpb = self.g.get_partition_book()
            for part in range(gpb.num_partitions()):
                self.emb.weight[gpb.partid2nids(part)[:1]]
        tdist.barrier()

    def read_table(self) -> np.ndarray:
        """Every base embedding (trainer 0 only: the evaluation and the result)."""
        out = np.empty((self.n_nodes, self.cfg.dim), dtype=np.float32)
        for lo in range(0, self.n_nodes, ROW_CHUNK):
            ids = torch.arange(lo, min(lo + ROW_CHUNK, self.n_nodes))
            out[lo : lo + len(ids)] = self.emb.weight[ids].numpy()
        table = np.empty_like(out)
        table[self.orig] = out  # back to homogeneous order
        return table

    # --- steps ------------------------------------------------------------------------------

    def share(self) -> np.ndarray:
        """This trainer's positives: a seeded split of every interaction, equal in size."""
        n = self.spec.data.n_interactions
        perm = np.random.default_rng(self.cfg.seed).permutation(n)
        per = -(-n // self.world)
        return np.resize(perm, per * self.world)[self.rank :: self.world]

    def step(self, idx: np.ndarray) -> torch.Tensor:
        cfg, data = self.cfg, self.spec.data
        idx = np.asarray(idx)
        u_np, i_np = data.user[idx], data.item[idx]
        j_np = self.negatives.sample(u_np, i_np, cfg.negatives * cfg.negative_candidates)
        u, i, j = (torch.as_tensor(a) for a in (u_np, i_np, j_np))
        users, u_rows = torch.unique(u, return_inverse=True)
        items, inverse = torch.unique(torch.cat([i, j.reshape(-1)]), return_inverse=True)
        homo = torch.cat([users + self.offset["user"], items + self.offset["item"]])
        blocks = self.blocks.sample(torch.as_tensor(self.new_of[homo.numpy()]))
        self.edges += block_edges(blocks)
        h0 = self.emb(blocks[0].srcdata[dgl.NID])
        h = propagate(h0, blocks, cfg.layers)
        nu = len(users)
        eu, eitems = h[:nu], h[nu:]
        i_rows, j_rows = inverse[: len(i)], inverse[len(i) :].view(j.shape)
        if cfg.negative_candidates > 1:
            j_rows = j_rows.gather(1, hardest(eu, eitems, u_rows, j_rows, cfg.negatives))
        base = _BaseRows({"user": h0[:nu], "item": h0[nu : len(homo)]})
        # rows stand in for node ids: the L2 term counts the rows the batch used
        loss = bpr_loss(base, eu, eitems, u_rows, i_rows, j_rows, u_rows, i_rows, j_rows, cfg.reg)  # type: ignore[arg-type]
        return loss

    def fit(self) -> None:
        cfg, spec = self.cfg, self.spec
        self.write_initial()
        share = self.share()
        batch = max(1, -(-cfg.sampled_batch_size // self.world))
        loader = DistDataLoader(share, batch_size=batch, shuffle=True, collate_fn=lambda x: x, drop_last=False)
        evaluator = _Evaluator(spec) if self.rank == 0 and spec.valid_truth is not None else None
        history: list[dict[str, float]] = []
        best_epoch, best_valid, bad_evals = 0, {}, 0
        best_score = -np.inf
        best_table: np.ndarray | None = None
        epoch = 0
        for epoch in range(1, cfg.epochs + 1):
            self.edges, total = 0, 0.0
            for idx in loader:
                loss = self.step(idx)
                self.opt.zero_grad()  # drops the previous step's rows at this step (DGL's trace)
                (loss / self.world).backward()
                self.opt.step()
                total += float(loss) * len(idx)
            sums = torch.tensor([total, float(len(share)), float(self.edges)], dtype=torch.float64)
            tdist.all_reduce(sums)
            row = {"epoch": float(epoch), "loss": float(sums[0] / sums[1]), "edges": float(sums[2])}
            stop = torch.zeros(1)
            if spec.valid_truth is not None and epoch % cfg.eval_every == 0:
                if evaluator is not None:
                    table = self.read_table()
                    metrics = evaluator(table)
                    row.update({f"valid_{k}": v for k, v in metrics.items()})
                    if metrics[cfg.select_metric] > best_score:
                        best_score, best_epoch, best_valid, bad_evals = metrics[cfg.select_metric], epoch, metrics, 0
                        best_table = table
                    else:
                        bad_evals += 1
                    stop[0] = float(bad_evals >= cfg.patience)
                tdist.broadcast(stop, src=0)
            history.append(row)
            if self.rank == 0:
                log.info("epoch %d: %s", epoch, row)
            if stop[0] > 0:
                break
        if self.rank == 0:
            if best_table is None:
                best_table, best_epoch = self.read_table(), epoch
            np.savez(self.job.result, base=best_table, best_epoch=best_epoch, epochs_run=epoch)
            self.job.history.write_text(json.dumps({"history": history, "best_valid": best_valid}))
        tdist.barrier()


class _Evaluator:
    """training.train's validation metrics of a base-embedding table (trainer 0)."""

    def __init__(self, spec: JobSpec) -> None:
        cfg = spec.cfg
        self.pg: PropagationGraph = homogeneous_view(build_graph(spec.data, spec.now_ms, cfg.graph))
        self.model = LightGCN(dict(zip(spec.ntypes, spec.sizes, strict=True)), cfg.dim, cfg.layers, cfg.init_std)
        self.seen = spec.data.user_items()
        self.truth = _valid_sample(spec.valid_truth, cfg.valid_users, cfg.seed)
        self.sizes = spec.sizes

    def __call__(self, table: np.ndarray) -> dict[str, float]:
        load_table(self.model, self.pg.ntypes, self.sizes, table)
        return _evaluate(self.model, self.pg, self.seen, self.truth)


def load_table(model: LightGCN, ntypes: tuple[str, ...], sizes: tuple[int, ...], table: np.ndarray) -> None:
    """Copy a homogeneous-order base table into the model's per-type embeddings."""
    with torch.no_grad():
        for nt, part in zip(ntypes, np.split(table, np.cumsum(sizes)[:-1]), strict=True):
            model.emb[nt].copy_(torch.as_tensor(part))


def _zeros(shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)
