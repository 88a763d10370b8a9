"""Refresh job: pull -> DGL heterograph -> LightGCN/BPR -> strengths -> evaluate -> write-back.

The only package that imports torch or dgl, and only in graph, model, train, foldin and
benchmark (and lazily inside full.fit_full and incremental.fit_incremental). Every other
module, refresh and its stages included, imports with numpy alone (options and run also
read graph_schema.settings for the knobs' defaults).
"""

import graph_schema  # noqa: F401  numpy's BLAS kernels chosen before numpy loads (graph_schema.blas)
