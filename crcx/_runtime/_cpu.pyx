"""What this CPU runs, asked once by crcx/_runtime/isa.py (crcx/include/crcx/isa.h)."""

cdef extern from "crcx/isa.h" nogil:
    int crcx_isa_level()


def isa_level():
    """The x86-64 instruction-set level of this CPU, 1 to 4; 0 where it is not x86-64
    or the compiler that built crcx cannot tell."""
    return crcx_isa_level()
