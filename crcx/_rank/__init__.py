"""The median, rank and percentile filters: the Python API that validates and
dispatches (``filters``), the planner that picks a line algorithm (``_planner``), and
the compiled driver (``_driver``) that runs one of the line algorithms (one ``.pxd``
each, their C++ in ``crcx/include/crcx/median``) over the image's lines."""
