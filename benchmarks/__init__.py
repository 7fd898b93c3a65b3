"""stoker's benchmarks: throughput and latency per storage, next to the bare-statement floor."""
