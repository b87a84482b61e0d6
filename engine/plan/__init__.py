"""From a topology to what a run needs: segments, addresses, MACs, routes (all pure)."""
