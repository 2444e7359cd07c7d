"""CRC-MF: its options (``options``), its model shared with the reference (``model``:
constants, noise fit, impulse decisions), the split into planes and back
(``planes``), the pipeline of stages over planes (``pipeline``) and the compiled
stages (``_stages``, ``_window``, and ``_extend`` for the planes' padded copies).
Importing the package loads no compiled code."""
