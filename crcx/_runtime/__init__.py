"""The runtime every compiled filter shares: its threads (the one owner of OpenMP)
and its memory (per-thread scratch, the pools that reuse freed outputs and planes)."""
