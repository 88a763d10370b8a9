"""Sampled LightGCN training on DGL's distributed graph (DistDGL).

The same BPR steps as training.train's "sampled" propagation, with the graph split by
`dgl.distributed.partition_graph` and served by one DistGraph server per partition:

- job: the partitioned graph, the training set and the initial embeddings in one directory;
- node: the server and trainer processes of one machine (`python -m training.distributed.node`);
- trainer: the training loop (DistGraph, DistDataLoader, DistEmbedding + SparseAdam);
- launch: runs every machine's processes on this host and collects the trained embeddings;
- shm: keeps the shared memory of partitions that share a host apart.

TrainConfig.distributed > 0 makes training.train.train call launch.train_distributed.
"""
