"""Flask REST API, scheduler, ingestion and CLI of the interest graph service."""

import graph_schema  # noqa: F401  numpy's BLAS kernels chosen before numpy loads (graph_schema.blas)
