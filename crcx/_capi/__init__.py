"""The C API: its table of functions (``table``), read by crcx/include/crcx/crcx.h."""
