"""Rules that the compiled filters and the pure-Python reference share: how arguments
are checked and normalised, and how a border extends an axis. Pure Python."""
