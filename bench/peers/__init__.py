"""flowlab against zuko, nflows and normflows: the parts of ``bench/bench_peers.py`` (its docstring has the map)."""
