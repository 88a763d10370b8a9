"""Refresh job: pull -> DGL heterograph -> LightGCN/BPR -> strengths -> evaluate -> write-back.

The only package that imports torch or dgl, and only in graph, model, train, foldin and
benchmark (and lazily inside refresh.run_refresh). config, data, sampling, metrics,
strengths, outputs, movielens and refresh import with numpy alone.
"""
