# Order-preserving unsigned keys: every supported dtype is filtered as an unsigned
# integer of its own width whose order is the dtype's order, so one kernel per key
# width serves all dtypes, with no conversion to double.
#   unsigned integers and bool: the bits themselves;
#   signed integers: the sign bit flipped;
#   floats: the IEEE-754 bits of a positive value with the sign bit set, of a negative
#   value inverted; every NaN becomes the largest key, so NaN sorts above +inf as in
#   numpy.sort. -0.0 orders just below +0.0 (they compare equal as values).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

ctypedef fused key_t:
    uint8_t
    uint16_t
    uint32_t
    uint64_t

cdef enum Encoding:
    ENCODING_UNSIGNED = 0
    ENCODING_SIGNED = 1
    ENCODING_FLOAT = 2

cdef inline key_t sign_bit(key_t bits) noexcept nogil:
    return (<key_t>1) << (8 * sizeof(key_t) - 1)

cdef inline key_t encode(key_t bits, int encoding) noexcept nogil:
    # Written as selects, not branches, so that loops over values vectorise.
    cdef key_t sign = sign_bit(bits)
    cdef key_t infinity, key
    if encoding == ENCODING_SIGNED:
        return bits ^ sign
    if encoding == ENCODING_FLOAT:
        # Exponent all ones and a zero mantissa: the bits of +inf.
        infinity = (<key_t>0x7F800000) if sizeof(key_t) == 4 else (<key_t>0x7FF0000000000000)
        key = <key_t>~bits if bits & sign else bits | sign
        return <key_t>~(<key_t>0) if (bits & ~sign) > infinity else key
    return bits

cdef inline key_t decode(key_t key, int encoding) noexcept nogil:
    cdef key_t sign = sign_bit(key)
    if encoding == ENCODING_SIGNED:
        return key ^ sign
    if encoding == ENCODING_FLOAT:
        return key ^ sign if key & sign else <key_t>~key
    return key

cdef inline void encode_run(const key_t* values, Py_ssize_t stride, Py_ssize_t count,
                            key_t* keys, int encoding) noexcept nogil:
    """keys[i] = encode(values[i * stride]).

    The loops are split by encoding and by unit stride so that each one vectorises.
    """
    cdef Py_ssize_t i
    if stride == 1 and encoding == ENCODING_FLOAT:
        for i in range(count):
            keys[i] = encode(values[i], ENCODING_FLOAT)
    elif stride == 1:
        for i in range(count):
            keys[i] = encode(values[i], encoding)
    else:
        for i in range(count):
            keys[i] = encode(values[i * stride], encoding)

cdef inline void decode_run(const key_t* keys, Py_ssize_t count, key_t* values,
                            Py_ssize_t stride, int encoding) noexcept nogil:
    """values[i * stride] = decode(keys[i]), split as encode_run is."""
    cdef Py_ssize_t i
    if stride == 1 and encoding == ENCODING_FLOAT:
        for i in range(count):
            values[i] = decode(keys[i], ENCODING_FLOAT)
    elif stride == 1:
        for i in range(count):
            values[i] = decode(keys[i], encoding)
    else:
        for i in range(count):
            values[i * stride] = decode(keys[i], encoding)
