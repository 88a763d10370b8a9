"""LightGCN-style propagation over the user-item-interest graph.

Item text (optional): an item's layer-0 embedding is its learned id embedding plus a
learned linear projection of its text vector (training.text); an item no user took in the
training data has no id embedding to learn (it would only ever be pushed down as a
negative), so its vector comes from its text alone, and the projection maps text into the
space the interactions shaped.

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
        item_text: torch.Tensor | None = None,
        item_learned: torch.Tensor | None = None,
        text_dtype: torch.dtype = torch.float32,
    ) -> None:
        """`item_text`: (items, text dim) text vectors (zero rows: no text); `item_learned`:
        which items have an id embedding (those with training interactions; default all);
        `text_dtype`: the text projection's arithmetic (training.train's _text_dtype)."""
        super().__init__()
        self.layers = layers
        self.emb = nn.ParameterDict({nt: nn.Parameter(torch.randn(n, dim) * init_std) for nt, n in num_nodes.items()})
        # optional per-item bias (score = u.i + b_i): absorbs popularity so the vectors model taste
        self.item_bias = nn.Parameter(torch.zeros(num_nodes["item"])) if item_bias else None
        self.text_proj: nn.Linear | None = None
        if item_text is not None:
            self.text_proj = nn.Linear(item_text.shape[1], dim, bias=False)
            nn.init.normal_(self.text_proj.weight, std=init_std)
            learned = item_learned if item_learned is not None else torch.ones(num_nodes["item"], dtype=torch.bool)
            # inputs, not state: kept out of state_dict, so the best epoch's snapshot (train.py)
            # does not copy items x 384 floats each time
            self.register_buffer("item_text", item_text.to(text_dtype), persistent=False)
            self.register_buffer("item_learned", learned.float()[:, None], persistent=False)

    def base(self, nt: str, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Layer-0 embeddings of node type `nt` (of its `rows`, if given)."""
        table = self.emb[nt] if rows is None else self.emb[nt].index_select(0, rows)
        if nt != "item" or self.text_proj is None:
            return table
        text, learned = self.item_text, self.item_learned
        if rows is not None:
            text, learned = text.index_select(0, rows), learned.index_select(0, rows)
        return table * learned + self._project(text)

    def _project(self, text: torch.Tensor) -> torch.Tensor:
        """The text projection, in the text buffer's dtype: bfloat16 takes a tenth of
        float32's time on a CPU with native bfloat16 (AMX: 2 ms against 22 ms per pass over
        20,000 items), both passes of every step: bfloat16 inputs and output (the weights
        kept in float32), float32 accumulation inside the product."""
        assert self.text_proj is not None
        if text.dtype == torch.float32:
            return self.text_proj(text)
        return nn.functional.linear(text, self.text_proj.weight.to(text.dtype)).float()

    def forward(self, pg: PropagationGraph) -> dict[str, torch.Tensor]:
        """Layer-mean embeddings for every node type."""
        h = torch.cat([self.base(nt) for nt in pg.ntypes])
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
            out[mask] = self.base(nt, nodes[mask] - start)
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
