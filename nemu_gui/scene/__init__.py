"""The canvas: one scene that mirrors a Topology, its items, and the view around it."""
