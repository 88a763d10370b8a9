"""Sampled message-flow blocks for mini-batch training (dgl.dataloading.NeighborSampler).

Each destination node keeps up to `fanout` in-edges per layer, drawn in proportion to the
decayed, normalised edge weight "w". The weight a sampled edge carries is chosen so the
block's sum estimates the full graph's sum_u w(u,v) h[u]:

- a node with no more weighted in-edges than the fan-out keeps all of them, exactly;
- otherwise each of its k drawn edges carries W(v) / k, with W(v) its total in-weight:
  drawing u with probability w(u,v)/W(v) and averaging h[u] times W(v) is the
  importance-sampling estimate of the same sum, so heavy (recent) edges are seen more
  often instead of being scaled up.
"""

from __future__ import annotations

from collections.abc import Sequence

import dgl
import torch

from training.graph import PropagationGraph


class WeightedBlockSampler:
    def __init__(self, pg: PropagationGraph, fanouts: Sequence[int]) -> None:
        g = pg.dgl_graph()
        self.graph = g
        self.sampler = dgl.dataloading.NeighborSampler(list(fanouts), prob="w")
        w = g.edata["w"]
        dst = g.edges()[1]
        n = g.num_nodes()
        # in-edges that can be drawn (w > 0) and their total weight, per node
        self.in_count = torch.zeros(n, dtype=w.dtype, device=w.device).index_add_(0, dst, (w > 0).to(w.dtype))
        self.in_weight = torch.zeros(n, dtype=w.dtype, device=w.device).index_add_(0, dst, w)

    def sample(self, seeds: torch.Tensor) -> list[dgl.DGLGraph]:
        """Blocks from the input layer to `seeds` (unique homogeneous ids), each edge's "w" set."""
        _, _, blocks = self.sampler.sample(self.graph, seeds)
        for block in blocks:
            _, dst_local = block.edges()
            dst = block.dstdata[dgl.NID][dst_local]
            drawn = block.in_degrees().to(self.in_count.dtype)[dst_local]
            exact = self.graph.edata["w"][block.edata[dgl.EID]]
            sampled = drawn < self.in_count[dst]
            block.edata["w"] = torch.where(sampled, self.in_weight[dst] / drawn.clamp(min=1), exact)
        return blocks


def block_edges(blocks: Sequence[dgl.DGLGraph]) -> int:
    """Messages a forward pass over `blocks` computes (the work counted per epoch)."""
    return int(sum(b.num_edges() for b in blocks))
