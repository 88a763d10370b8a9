"""The graph contract: schema, named Cypher queries and the GraphStore."""

from graph_schema.blas import prefer_cpu_kernels

prefer_cpu_kernels()  # before anything imports numpy (graph_schema.blas says why)
