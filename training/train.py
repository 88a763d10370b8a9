"""BPR training loop: sampled negatives, L2 on the batch's base embeddings, Adam,
early stopping on a validation hold-out, warm start, fixed seeds, device choice."""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import dgl
import numpy as np
import torch

# torch.optim's first optimizer imports torch._dynamo (0.75 s, sympy with it) inside the first
# run that fits (an incremental run's fold-in); with torch instead, once per process (a
# scheduler process imports training once and runs every refresh)
import torch._dynamo
import torch.nn.functional as F
from tqdm.auto import tqdm

from graph_schema.columns import VectorTable
from training.blocks import WeightedBlockSampler, block_edges
from training.config import GraphConfig, TrainConfig
from training.data import LABELS, TrainingData
from training.graph import PropagationGraph, build_graph, homogeneous_view, interaction_weights
from training.metrics import evaluate
from training.model import LightGCN
from training.sampling import NegativeSampler

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    embeddings: dict[str, np.ndarray]  # layer-mean embeddings per node type (what scores)
    model: LightGCN
    device: str
    best_epoch: int
    epochs_run: int
    best_valid: dict[str, float]
    history: list[dict[str, float]]
    warm_started: dict[str, int]
    seconds: float

    def scores(self, users: np.ndarray) -> np.ndarray:
        return self.embeddings["user"][users] @ self.embeddings["item"].T


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    dgl.seed(seed)


def _dgl_has_cuda() -> bool:
    try:
        dgl.graph(([0], [0])).to("cuda")
    except Exception:  # a CPU-only DGL build raises on any CUDA context
        return False
    return True


def resolve_device(requested: str = "auto") -> str:
    """auto -> cuda only if torch sees a GPU and DGL was built with CUDA, else cpu (logged once)."""
    if requested not in {"auto", "cpu", "cuda"}:
        raise ValueError(f"device must be auto, cpu or cuda, not {requested!r}")
    if requested == "cpu":
        return "cpu"
    torch_gpu = torch.cuda.is_available()
    dgl_gpu = torch_gpu and _dgl_has_cuda()
    if dgl_gpu:
        return "cuda"
    reason = "torch sees no CUDA device" if not torch_gpu else "the installed DGL is built without CUDA"
    if requested == "cuda":
        raise RuntimeError(f"--device cuda requested but {reason}")
    log.warning("device auto: training on CPU because %s", reason)
    return "cpu"


def warm_start(
    model: LightGCN, data: TrainingData, previous: Mapping[str, Mapping[str, Sequence[float]]]
) -> dict[str, int]:
    """Copy previous vectors into the base embeddings where ids match and dims agree."""
    counts = {}
    index = {"user": data.users, "item": data.items, "interest": data.interests}
    with torch.no_grad():
        for label in LABELS:
            prev = previous.get(label) or {}
            table = model.emb[label]
            dim = table.shape[1]
            extra = 1 if model.item_bias is not None else 0  # exported vectors carry the bias column
            rows, vecs = [], []
            for node_id, vec in prev.items():
                pos = index[label].pos.get(str(node_id))
                if pos is not None and vec is not None and len(vec) == dim + extra:
                    rows.append(pos)
                    vecs.append(vec)
            if rows:
                arr = torch.as_tensor(np.asarray(vecs), dtype=table.dtype, device=table.device)
                table[torch.as_tensor(rows)] = arr[:, :dim]
                if extra and label == "item":
                    model.item_bias[torch.as_tensor(rows)] = arr[:, dim]
            counts[label] = len(rows)
    return counts


def train(
    data: TrainingData,
    now_ms: int,
    cfg: TrainConfig | None = None,
    valid_truth: Sequence[np.ndarray] | None = None,
    exposures: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrainResult:
    """Train on `data` (the training interactions). With `valid_truth` (per-user held-out
    items), keep the epoch with the best `cfg.select_metric` and stop after `patience`.
    `exposures`: (user, item) index pairs shown and ignored or disliked, drawn as negatives
    (`cfg.exposed_negative_frac` of a user's draws)."""
    cfg = cfg or TrainConfig()
    if cfg.distributed:
        from training.distributed.launch import train_distributed

        return train_distributed(data, now_ms, cfg, valid_truth)
    if cfg.propagation not in PROPAGATIONS:
        raise ValueError(f"propagation must be one of {PROPAGATIONS}, not {cfg.propagation!r}")
    if cfg.propagation == "sampled" and len(cfg.fanouts) != cfg.layers:
        raise ValueError(f"{len(cfg.fanouts)} fan-outs for {cfg.layers} layers")
    start = time.perf_counter()
    seed_everything(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    device = resolve_device(cfg.device)

    g = homogeneous_view(build_graph(data, now_ms, cfg.graph, device), keep_graph=cfg.propagation == "sampled")
    model = LightGCN(
        {"user": data.n_users, "item": data.n_items, "interest": data.n_interests},
        cfg.dim,
        cfg.layers,
        cfg.init_std,
        cfg.item_bias,
        *_item_text(data),
        text_dtype=_text_dtype(cfg, device),
    ).to(device)
    warmed = warm_start(model, data, data.previous)
    step = _Step(model, g, cfg, device)
    n = data.n_interactions
    batch = step.batch_size(n)
    opt = torch.optim.Adam(model.parameters(), lr=step.learning_rate(batch))
    sampler = NegativeSampler(
        data, rng, cfg.hard_negative_frac, exposures=exposures, exposed_frac=cfg.exposed_negative_frac
    )
    seen = data.user_items()
    valid_limit = min(cfg.valid_users, max(1, cfg.valid_min_users, cfg.valid_scores // max(data.n_items, 1)))
    valid_truth = _valid_sample(valid_truth, valid_limit, cfg.seed)

    sample_p = None
    if cfg.recency_sampling > 0 and n:
        w = interaction_weights(data, now_ms, cfg.graph)
        sample_p = (1 - cfg.recency_sampling) / n + cfg.recency_sampling * w / w.sum()
        sample_p = sample_p / sample_p.sum()
    best: dict[str, float] = {}
    best_score, best_epoch, bad_evals = -np.inf, 0, 0
    best_state = _snapshot(model)
    history: list[dict[str, float]] = []
    epoch = 0
    bar = tqdm(range(1, cfg.epochs + 1), desc="train", unit="epoch", disable=not cfg.progress, leave=False)
    for epoch in bar:
        model.train()
        perm = rng.permutation(n) if sample_p is None else rng.choice(n, size=n, p=sample_p)
        total = 0.0
        step.edges = 0
        for lo in range(0, n, batch):
            idx = perm[lo : lo + batch]
            u_np, i_np = data.user[idx], data.item[idx]
            j_np = sampler.sample(u_np, i_np, cfg.negatives * cfg.negative_candidates)
            opt.zero_grad()
            loss = step.backward(u_np, i_np, j_np)
            opt.step()
            total += loss * len(idx)
        row = {
            "epoch": float(epoch),
            "loss": total / max(n, 1),
            "edges": float(step.edges),
            "seconds": time.perf_counter() - start,
        }
        if valid_truth is not None and epoch % cfg.eval_every == 0:
            metrics = _evaluate(model, g, seen, valid_truth)
            row.update({f"valid_{k}": v for k, v in metrics.items()})
            score = metrics[cfg.select_metric]
            if score > best_score:
                best_score, best_epoch, best, bad_evals = score, epoch, metrics, 0
                best_state = _snapshot(model)
            else:
                bad_evals += 1
        history.append(row)
        bar.set_postfix(loss=f"{row['loss']:.4f}", valid=f"{best_score:.4f}" if best else "-")
        if valid_truth is not None and bad_evals >= cfg.patience:
            break
    bar.close()

    if valid_truth is None:
        best_epoch = epoch
    else:
        model.load_state_dict(best_state)
    embeddings = embed(model, g)
    return TrainResult(
        embeddings=embeddings,
        model=model,
        device=device,
        best_epoch=best_epoch,
        epochs_run=epoch,
        best_valid=best,
        history=history,
        warm_started=warmed,
        seconds=time.perf_counter() - start,
    )


PROPAGATIONS = ("full", "sampled")


def _text_dtype(cfg: TrainConfig, device: str) -> torch.dtype:
    """The text projection's dtype: bfloat16 where the text encoder's `auto` would choose it."""
    from training.text import resolve_precision

    bf16 = resolve_precision(cfg.text_precision, str(device).split(":")[0]) == "bfloat16"
    return torch.bfloat16 if bf16 else torch.float32


def _item_text(data: TrainingData) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """The items' text vectors and which items have training interactions (an id embedding
    to learn), for LightGCN; (None, None) without text."""
    if data.item_text is None:
        return None, None
    learned = np.bincount(data.item, minlength=data.n_items) > 0
    return torch.as_tensor(data.item_text), torch.as_tensor(learned)


class _Step:
    """One BPR step's loss, by full-graph or sampled-block propagation; counts the messages
    each propagation computes (`edges`), the work an epoch does."""

    def __init__(self, model: LightGCN, pg: PropagationGraph, cfg: TrainConfig, device: str) -> None:
        self.model, self.pg, self.cfg, self.device = model, pg, cfg, device
        self.edges = 0
        self.blocks = WeightedBlockSampler(pg, cfg.fanouts) if cfg.propagation == "sampled" else None
        self.offset = dict(zip(pg.ntypes, np.cumsum([0, *pg.sizes[:-1]]).tolist(), strict=True))

    def batch_size(self, n: int) -> int:
        """Positives per step: sampled steps stay small; a full step's batch grows with the
        graph so an epoch is at most steps_per_epoch propagations."""
        if self.blocks is not None:
            return self.cfg.sampled_batch_size
        return max(self.cfg.batch_size, -(-n // max(self.cfg.steps_per_epoch, 1)))

    def learning_rate(self, batch: int) -> float:
        """cfg.lr, scaled by sqrt(batch / batch_size) (at most lr_scale_max x) for a full
        step's batch grown with the graph; a graph of at most batch_size x steps_per_epoch
        positives (MovieLens-100K) trains at cfg.lr."""
        if self.blocks is not None or batch <= self.cfg.batch_size:
            return self.cfg.lr
        return self.cfg.lr * min(math.sqrt(batch / self.cfg.batch_size), max(1.0, self.cfg.lr_scale_max))

    def backward(self, u_np: np.ndarray, i_np: np.ndarray, j_np: np.ndarray) -> float:
        """The step's mean loss over the batch, its gradients accumulated into the model."""
        if self.blocks is not None:
            loss = self._sampled_loss(u_np, i_np, j_np)
            loss.backward()
            return float(loss)
        return self._full_backward(u_np, i_np, j_np)

    def _full_backward(self, u_np: np.ndarray, i_np: np.ndarray, j_np: np.ndarray) -> float:
        """One propagation over the whole graph, the loss in chunks of `cfg.loss_chunk`
        positives: each chunk's gradient with respect to the propagated vectors is summed
        into `grad`, then one backward pass carries it through the propagation. The same
        gradients as one batch (the loss is a mean: each chunk counts by its share), but
        the gathered rows (positives x negative candidates x dim) are a chunk's, not the
        batch's, so memory stays flat as the batch grows with the graph (70k positives
        at 1M events: ~150 MiB of candidates per gather)."""
        cfg, dev = self.cfg, self.device
        b, total, chunk = len(u_np), 0.0, max(1, cfg.loss_chunk)
        if b == 0:
            return 0.0
        out = self.model(self.pg)
        self.edges += cfg.layers * self.pg.num_edges
        eu, items = out["user"].detach(), out["item"].detach()
        emb_u, emb_i = self.model.emb["user"], self.model.emb["item"]
        # Nothing per chunk may touch a whole table: chunks and table rows both grow with the
        # graph (at 10M events 47 chunks a step over 700k rows). So a chunk's gradient is
        # taken with respect to the rows it gathered and added into the step's gradient at
        # those rows (an index_select's own backward makes and adds a table-sized zero
        # tensor), and the L2 term is taken once per step from the batch's row counts.
        grad_u, grad_i = torch.zeros_like(eu), torch.zeros_like(items)
        cu = torch.zeros(emb_u.shape[0], dtype=emb_u.dtype, device=dev)
        ci = torch.zeros(emb_i.shape[0], dtype=emb_i.dtype, device=dev)
        for lo in range(0, b, chunk):
            part = slice(lo, lo + chunk)
            u = torch.as_tensor(u_np[part], device=dev)
            i = torch.as_tensor(i_np[part], device=dev)
            j = torch.as_tensor(j_np[part], device=dev)
            if cfg.negative_candidates > 1:
                j = j.gather(1, hardest(eu, items, u, j, cfg.negatives))
            rows = torch.cat([i, j.reshape(-1)])
            ru = eu.index_select(0, u).requires_grad_()
            ri = items.index_select(0, rows).requires_grad_()
            loss = pair_loss(self.model, ru, ri, i, j) * (len(u) / b)
            loss.backward()
            total += float(loss)
            assert ru.grad is not None and ri.grad is not None
            grad_u.index_add_(0, u, ru.grad)
            grad_i.index_add_(0, rows, ri.grad)
            row_counts(cu, ci, u, i, j)
        torch.autograd.backward([out["user"], out["item"]], [grad_u, grad_i])
        if cfg.reg:
            penalty = l2_penalty(self.model, cu, ci, cfg.reg, b)
            penalty.backward()
            total += float(penalty)
        return total

    def _sampled_loss(self, u_np: np.ndarray, i_np: np.ndarray, j_np: np.ndarray) -> torch.Tensor:
        cfg, dev = self.cfg, self.device
        u = torch.as_tensor(u_np, device=dev)
        i = torch.as_tensor(i_np, device=dev)
        j = torch.as_tensor(j_np, device=dev)
        assert self.blocks is not None
        # seeds: the batch's users and items (candidates included), as homogeneous ids
        users, u_rows = torch.unique(u + self.offset["user"], return_inverse=True)
        item_ids, inverse = torch.unique(torch.cat([i, j.reshape(-1)]) + self.offset["item"], return_inverse=True)
        blocks = self.blocks.sample(torch.cat([users, item_ids]))
        self.edges += block_edges(blocks)
        h = self.model.forward_blocks(self.pg, blocks)
        eu, items = h[: len(users)], h[len(users) :]
        i_rows, j_rows = inverse[: len(i)], inverse[len(i) :].view(j.shape)
        if cfg.negative_candidates > 1:
            keep = hardest(eu, items, u_rows, j_rows, cfg.negatives)
            j, j_rows = j.gather(1, keep), j_rows.gather(1, keep)
        return bpr_loss(self.model, eu, items, u_rows, i_rows, j_rows, u, i, j, cfg.reg)


def _valid_sample(truth: Sequence[np.ndarray] | None, limit: int, seed: int) -> list[np.ndarray] | None:
    """The hold-out of at most `limit` users (a fixed sample): early stopping then costs
    limit × items per evaluation, whatever the number of users."""
    if truth is None:
        return None
    users = np.array([u for u, t in enumerate(truth) if len(t)], dtype=np.int64)
    if len(users) <= limit:
        return list(truth)
    keep = set(np.random.default_rng(seed).choice(users, limit, replace=False).tolist())
    empty = np.zeros(0, dtype=np.int64)
    return [t if u in keep else empty for u, t in enumerate(truth)]


def bpr_loss(
    model: LightGCN,
    eu: torch.Tensor,
    items: torch.Tensor,
    u_rows: torch.Tensor,
    i_rows: torch.Tensor,
    j_rows: torch.Tensor,
    u: torch.Tensor,
    i: torch.Tensor,
    j: torch.Tensor,
    reg: float,
) -> torch.Tensor:
    """Mean BPR loss of (u, i) against each negative in j (b, k), plus L2 on the batch's base rows.

    `eu` / `items` hold the propagated user / item vectors the rows index (`*_rows`); u, i, j
    are the node indexes (the base tables and the bias), the same as the rows in a full step."""
    # one index_select per table: its backward (index_add) is ~3x faster on CPU than
    # tensor[idx]'s, and one scatter beats two
    ru = eu.index_select(0, u_rows)
    ri = items.index_select(0, torch.cat([i_rows, j_rows.reshape(-1)]))
    loss = pair_loss(model, ru, ri, i, j)
    if not reg:
        return loss
    emb_u, emb_i = model.emb["user"], model.emb["item"]
    cu = torch.zeros(emb_u.shape[0], dtype=emb_u.dtype, device=emb_u.device)
    ci = torch.zeros(emb_i.shape[0], dtype=emb_i.dtype, device=emb_i.device)
    row_counts(cu, ci, u, i, j)
    return loss + l2_penalty(model, cu, ci, reg, len(u))


def pair_loss(model: LightGCN, ru: torch.Tensor, ri: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
    """bpr_loss without its L2 term, on gathered rows: the mean of -log σ(pos - neg) over
    the b x k pairs; `ru` (b, d) the users', `ri` (b + b x k, d) the positives' and then
    the negatives'; i, j the item indexes (for the bias)."""
    b, k = j.shape
    ei, ej = ri[:b], ri[b:].view(b, k, -1)
    pos = (ru * ei).sum(-1, keepdim=True)
    neg = torch.einsum("bd,bkd->bk", ru, ej)
    if model.item_bias is not None:
        pos = pos + model.item_bias.index_select(0, i).unsqueeze(-1)
        neg = neg + model.item_bias.index_select(0, j.reshape(-1)).view(b, k)
    return -F.logsigmoid(pos - neg).mean()


def row_counts(cu: torch.Tensor, ci: torch.Tensor, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> None:
    """Add the base rows (u, i, j) use to the per-row counts of l2_penalty: a user and a
    positive count 1 each, each of a positive's k negatives 1/k."""
    with torch.no_grad():
        cu += torch.bincount(u, minlength=cu.shape[0]).to(cu.dtype)
        ci += torch.bincount(i, minlength=ci.shape[0]).to(ci.dtype)
        ci += torch.bincount(j.reshape(-1), minlength=ci.shape[0]).to(ci.dtype) / j.shape[1]


def l2_penalty(model: LightGCN, cu: torch.Tensor, ci: torch.Tensor, reg: float, b: int) -> torch.Tensor:
    """reg x (Σ count x squared norm of each base user and item row) / b: the value and
    gradient of summing the squared norms of every row a batch of b positives gathered,
    without a scatter in backward (one pass over each table)."""
    emb_u, emb_i = model.emb["user"], model.emb["item"]
    return reg * (cu @ emb_u.pow(2).sum(1) + ci @ emb_i.pow(2).sum(1)) / b


@torch.no_grad()
def hardest(eu: torch.Tensor, items: torch.Tensor, u_rows: torch.Tensor, cand: torch.Tensor, k: int) -> torch.Tensor:
    """Of each row's candidate negatives (b, c: rows of `items`), the positions (b, k) of
    the k the model currently scores highest."""
    b, c = cand.shape
    e_u = eu.detach().index_select(0, u_rows)
    e_j = items.detach().index_select(0, cand.reshape(-1)).view(b, c, -1)
    scores = torch.einsum("bd,bcd->bc", e_u, e_j)
    return scores.topk(k, dim=1).indices


def _snapshot(model: LightGCN) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@torch.no_grad()
def embed(model: LightGCN, g: PropagationGraph) -> dict[str, np.ndarray]:
    """Propagated embeddings as numpy; pass a bigger graph (e.g. all interactions) to fold in
    newer edges without retraining."""
    model.eval()
    out = {k: v.detach().cpu().numpy() for k, v in model(g).items()}
    if model.item_bias is not None:
        # fold the bias into one extra dimension so a plain dot product still scores
        bias = model.item_bias.detach().cpu().numpy()[:, None]
        out["user"] = np.hstack([out["user"], np.ones((len(out["user"]), 1), dtype=out["user"].dtype)])
        out["item"] = np.hstack([out["item"], bias.astype(out["item"].dtype)])
        out["interest"] = np.hstack([out["interest"], np.zeros((len(out["interest"]), 1), dtype=out["item"].dtype)])
    return out


@torch.no_grad()
def base_tables(model: LightGCN, data: TrainingData) -> dict[str, VectorTable]:
    """The model's base (layer-0) id embeddings by node id, laid out as the published
    vectors are (with item_bias, one extra column: user 1, item b_i, interest 0), so that
    warm_start takes them as it takes those (training.base_vectors keeps them for the next
    full run)."""
    index = {"user": data.users, "item": data.items, "interest": data.interests}
    out = {}
    for label in LABELS:
        table = model.emb[label].detach().cpu().float().numpy()
        if model.item_bias is not None:
            extra = {
                "user": np.ones(len(table), dtype=np.float32),
                "item": model.item_bias.detach().cpu().float().numpy(),
                "interest": np.zeros(len(table), dtype=np.float32),
            }[label]
            table = np.hstack([table, extra[:, None]])
        out[label] = VectorTable(index[label].ids, np.ascontiguousarray(table, dtype=np.float32))
    return out


def _evaluate(
    model: LightGCN, g: PropagationGraph, seen: Sequence[np.ndarray], truth: Sequence[np.ndarray]
) -> dict[str, float]:
    emb = embed(model, g)
    return evaluate(lambda users: emb["user"][users] @ emb["item"].T, seen, truth)


def embed_graph(
    model: LightGCN, data: TrainingData, now_ms: int, graph_cfg: GraphConfig, device: str
) -> dict[str, np.ndarray]:
    """Propagate trained base embeddings over the graph of `data` (e.g. every interaction,
    hold-out included), so the published vectors reflect the newest events without retraining.
    `data` must share the node indexes the model was trained with."""
    return embed(model, homogeneous_view(build_graph(data, now_ms, graph_cfg, device), keep_graph=False))
