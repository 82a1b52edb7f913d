"""The benchmark harness of issue 7 (and the session-count benchmark of issue 3).

Everything runs as real processes: uvicorn servers pinned to core 0, wrk pinned to core 1,
each configuration repeated and interleaved with the others of its group, medians reported.
Entry point: `bash bench/run.sh [--quick]` (see bench/README.md).
"""
