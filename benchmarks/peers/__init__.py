"""stoker next to its Python peers: the same workloads through each system, in one run."""
