"""The benchmark harness (see bench/README.md).

Everything runs as real processes: uvicorn servers pinned to core 0, wrk pinned to core 1,
each configuration measured in interleaved reps beside the reference of its row, and each
row reported as the median of its per-rep ratios. Entry point: `bash bench/run.sh`.
"""
