"""The test suite (pytest). graph_schema first: numpy's BLAS kernels are chosen before numpy loads."""

import graph_schema  # noqa: F401
