"""LightGCN-style propagation over the user-item-interest graph.

No feature transforms and no non-linearities (LightGCN): each layer is a weighted sum of
the neighbours' previous-layer embeddings over every edge type, with the pre-normalised
edge weight "w" from training.graph; the output is the mean of all layers. Interest nodes
sit between items, so two items that share an interest exchange signal even when no
user links them, which helps new items and sparse users.
"""

from __future__ import annotations

from collections.abc import Sequence

import dgl
import dgl.function as fn
import torch
from torch import nn

from training.graph import PropagationGraph, symmetric_spmm


class LightGCN(nn.Module):
    def __init__(
        self,
        num_nodes: dict[str, int],
        dim: int = 64,
        layers: int = 2,
        init_std: float = 0.1,
        item_bias: bool = False,
    ) -> None:
        super().__init__()
        self.layers = layers
        self.emb = nn.ParameterDict({nt: nn.Parameter(torch.randn(n, dim) * init_std) for nt, n in num_nodes.items()})
        # optional per-item bias (score = u.i + b_i): absorbs popularity so the vectors model taste
        self.item_bias = nn.Parameter(torch.zeros(num_nodes["item"])) if item_bias else None

    def forward(self, pg: PropagationGraph) -> dict[str, torch.Tensor]:
        """Layer-mean embeddings for every node type."""
        h = torch.cat([self.emb[nt] for nt in pg.ntypes])
        total = h
        for _ in range(self.layers):
            # one message-passing step over all edge types: h'[v] = sum_u w(u,v) * h[u]
            h = symmetric_spmm(pg.adjacency, h)
            total = total + h
        mean = total / (self.layers + 1)
        return dict(zip(pg.ntypes, torch.split(mean, list(pg.sizes)), strict=True))

    def base_rows(self, pg: PropagationGraph, nodes: torch.Tensor) -> torch.Tensor:
        """Layer-0 embeddings of homogeneous node ids `nodes` (grouped by type in `pg`)."""
        out = torch.empty(len(nodes), self.emb[pg.ntypes[0]].shape[1], device=nodes.device)
        start = 0
        for nt, size in zip(pg.ntypes, pg.sizes, strict=True):
            mask = (nodes >= start) & (nodes < start + size)
            out[mask] = self.emb[nt].index_select(0, nodes[mask] - start)
            start += size
        return out

    def forward_blocks(self, pg: PropagationGraph, blocks: Sequence[dgl.DGLGraph]) -> torch.Tensor:
        """Layer-mean embeddings of the last block's destination nodes (the seeds), computed
        over sampled blocks only (training.blocks weights them): the cost is the blocks'
        edges, not the graph's. Each block's destination nodes come first among its source
        nodes, so a layer's value at the seeds is its first rows."""
        if len(blocks) != self.layers:
            raise ValueError(f"{len(blocks)} blocks for a {self.layers}-layer model")
        h = self.base_rows(pg, blocks[0].srcdata[dgl.NID])
        n_seeds = blocks[-1].num_dst_nodes()
        total = h[:n_seeds]
        for block in blocks:
            with block.local_scope():
                block.srcdata["h"] = h
                block.update_all(fn.u_mul_e("h", "w", "m"), fn.sum("m", "h_next"))
                h = block.dstdata["h_next"]
            total = total + h[:n_seeds]
        return total / (self.layers + 1)
