"""Compiled rank (median) filter: the driver of the line and tile algorithms.

Each output line (fixed batch, z, y) reads the footprint's input lines, extended along
x by the border rule into a per-thread ring of line buffers (an input line is extended
once and reused while the window slides down), then one line algorithm computes every
output pixel of the line from those buffers. Wide (32/64-bit) keys in large windows go
by tiles instead: a tile's input region is gathered, sorted once and its ranks feed a
tile algorithm. _run hands bands of lines, or tiles, to OpenMP threads, each with its
own scratch.

The algorithms (the Algorithm codes of _driver.pxd), each in its own .pxd:

* _network.pxd: selection networks on SIMD lanes, or the straight-line code
  generated for common boxes (several lines at once for 2-d boxes);
* _histogram.pxd: Huang's sliding histogram, for 8/16-bit keys and for the
  ranks of a tile (ALGORITHM_RANKED);
* _columns.pxd: Perreault and Hebert's column histograms, 8/16-bit 2-d boxes;
* _select.pxd: introselect, any window;
* _ranks.pxd ranks a tile's region, for the histogram and for
  _rank_sets.pxd: bit sets of the ranks, 2-d boxes of wide keys.

Their C++ parts are in crcx/include/crcx/median/.
"""
from libc.stdint cimport int32_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.stdlib cimport free
cimport numpy as cnp
from libc.string cimport memcpy, memset
from cython.parallel cimport prange, parallel

from crcx._rank._keys cimport (key_t, encode, decode, encode_run, decode_run,
                               ENCODING_UNSIGNED, ENCODING_SIGNED, ENCODING_FLOAT)
from crcx._rank._columns cimport (COLUMNS_BAND, COLUMNS_STRIP, columns_line, crcx_columns,
                                  crcx_columns_place)
from crcx._rank._histogram cimport coarse_bins, fine_bins, histogram_line
from crcx._rank._network cimport (BAND_LINES, CRCX_FLOAT_BANDS, LANES,
                                  crcx_box_band_available, crcx_box_scratch, network_band,
                                  network_line)
from crcx._rank._rank_sets cimport RANK_WORDS, rank_set_tile
from crcx._rank._ranks cimport RADIX_BITS, item_bytes, item_t, rank_region
from crcx._rank._select cimport select_line
from crcx._runtime.scratch cimport own_part, scratch_memory

cnp.import_array()

cdef extern from "crcx/median/memory.h" nogil:
    const Py_ssize_t CRCX_REDZONE
    void crcx_poison(char* start, Py_ssize_t n) noexcept
    void crcx_touch_pages(char* start, char* stop) noexcept

cdef enum:
    # Outputs of at least this many bytes are stored past the caches by the banded
    # kernels (non-temporal stores): an output of that size no longer stays in the
    # last-level cache beside its input (benchmarks/median.py).
    STREAM_MIN_BYTES = 16 << 20
    # Outputs of at least this many bytes per thread have their pages mapped by one
    # thread per share before several threads filter (see _run): a huge page's worth.
    TOUCH_MIN_BYTES = 2 << 20


cdef inline Py_ssize_t _nbytes(const Keys* array, Py_ssize_t key_size) noexcept nogil:
    return array.shape[0] * array.shape[1] * array.shape[2] * array.shape[3] * key_size


cdef inline char* _line(const Keys* array, Py_ssize_t b, Py_ssize_t z,
                        Py_ssize_t y) noexcept nogil:
    """Address of element (b, z, y, 0) of `array`."""
    return array.data + b * array.strides[0] + z * array.strides[1] + y * array.strides[2]


cdef inline Py_ssize_t _row_length(const Plan* plan, Py_ssize_t width) noexcept nogil:
    # Extended line plus LANES of padding, which the last network block may read.
    return width + plan.fx - 1 + LANES


cdef inline Py_ssize_t _ring_lines(const Plan* plan) noexcept nogil:
    # Lines of the ring per z offset: the window's, plus the rest of a band, or for
    # ALGORITHM_COLUMNS the line that has just left the window, to take it out of
    # the column histograms.
    if plan.band:
        return plan.fy + BAND_LINES - 1
    return plan.fy + 1 if plan.algorithm == ALGORITHM_COLUMNS else plan.fy


cdef struct Layout:
    char* base          # NULL: the parts are only measured
    Py_ssize_t size     # bytes taken so far


cdef inline char* _part(Layout* layout, Py_ssize_t n_bytes) noexcept nogil:
    """The next `n_bytes` of `layout`, 64-byte aligned, or NULL when only measuring.

    Under AddressSanitizer a poisoned gap follows each part, so that running past
    one part into the next is reported although both are in one allocation.
    """
    cdef Py_ssize_t start = (layout.size + 63) // 64 * 64
    layout.size = start + n_bytes + CRCX_REDZONE
    if layout.base == NULL:
        return NULL
    crcx_poison(layout.base + start + n_bytes, CRCX_REDZONE)
    return layout.base + start


cdef inline Py_ssize_t _layout_bytes(const Layout* layout) noexcept nogil:
    return (layout.size + 63) // 64 * 64


# One thread's scratch for filter_lines (keys are `key_size` bytes).
cdef struct LineScratch:
    Py_ssize_t* tags        # [fz * _ring_lines] the extended line each ring slot holds
    void** rows             # [n_rows] the window's lines
    void** band_lines       # [BAND_LINES + fy] a band's input lines (plan.band)
    void** band_direct      # [BAND_LINES + fy] the same lines in place, or NULL
    void** band_outs        # [BAND_LINES] a band's output lines
    uint32_t* fine          # [fine_bins] ALGORITHM_HISTOGRAM
    uint32_t* coarse        # [coarse_bins] ALGORITHM_HISTOGRAM
    char* ring              # [fz * _ring_lines][_row_length] extended input lines
    char* lanes             # network: [n_elements][LANES]; introselect: [n_elements]
    char* sorted_rows       # network: [n_rows][_row_length] + crcx_box_scratch
    char* result            # [width] keys before they are decoded
    crcx_columns columns    # ALGORITHM_COLUMNS


cdef Py_ssize_t _line_layout(const Plan* plan, Py_ssize_t width, Py_ssize_t key_size,
                             char* base, LineScratch* parts) noexcept nogil:
    """Place the parts of `parts` from `base` (64-byte aligned; NULL only measures).

    Returns the bytes they take, a multiple of 64: one function both sizes and
    carves the scratch, so that the two cannot disagree.
    """
    cdef Layout layout
    cdef Py_ssize_t slots = plan.fz * _ring_lines(plan)
    cdef Py_ssize_t row_length = _row_length(plan, width)
    cdef Py_ssize_t band = BAND_LINES + plan.fy if plan.band else 0
    cdef bint histogram = plan.algorithm == ALGORITHM_HISTOGRAM
    cdef bint network = plan.algorithm == ALGORITHM_NETWORK
    cdef Py_ssize_t lanes = plan.n_elements * (LANES if network else 1)
    cdef Py_ssize_t n_columns = COLUMNS_STRIP + plan.fx - 1
    cdef char* columns
    layout.base = base
    layout.size = 0
    parts.tags = <Py_ssize_t*>_part(&layout, slots * sizeof(Py_ssize_t))
    parts.rows = <void**>_part(&layout, plan.n_rows * sizeof(void*))
    parts.band_lines = <void**>_part(&layout, band * sizeof(void*))
    parts.band_direct = <void**>_part(&layout, band * sizeof(void*))
    parts.band_outs = <void**>_part(&layout, (BAND_LINES if plan.band else 0)
                                    * sizeof(void*))
    parts.fine = <uint32_t*>_part(&layout, histogram * fine_bins(key_size) * sizeof(uint32_t))
    parts.coarse = <uint32_t*>_part(&layout,
                                    histogram * coarse_bins(key_size) * sizeof(uint32_t))
    parts.ring = _part(&layout, slots * row_length * key_size)
    parts.lanes = _part(&layout, (lanes if network or plan.algorithm == ALGORITHM_SELECT
                                  else 0) * key_size)
    parts.sorted_rows = _part(&layout, (plan.n_rows * row_length + crcx_box_scratch(
        <int>plan.n_rows, <int>plan.fx)) * key_size if network else 0)
    parts.result = _part(&layout, width * key_size)
    if plan.algorithm == ALGORITHM_COLUMNS:
        columns = _part(&layout, crcx_columns_place(&parts.columns, NULL, n_columns,
                                                    plan.fy, key_size))
        crcx_columns_place(&parts.columns, columns, n_columns, plan.fy, key_size)
    return _layout_bytes(&layout)


cdef Py_ssize_t scratch_bytes(const Plan* plan, Py_ssize_t width,
                              Py_ssize_t key_size) noexcept nogil:
    """Bytes of scratch one thread needs for filter_lines (a multiple of 64)."""
    cdef LineScratch parts
    return _line_layout(plan, width, key_size, NULL, &parts)


cdef inline void _extend_span(const key_t* line, Py_ssize_t stride, const Plan* plan,
                              Py_ssize_t width, key_t* out, key_t cval, int encoding,
                              Py_ssize_t start, Py_ssize_t stop) noexcept nogil:
    """Write extended positions ``start .. stop - 1`` of one input line's copy.

    The copy holds keys of `encoding` (ENCODING_UNSIGNED: the values' own bits), and
    `cval` past the border; `line` NULL is a line of `cval`. Positions over the line
    itself are copied in one run (a memcpy where keys are the bits), the border ones
    one by one.
    """
    cdef Py_ssize_t i, j
    cdef const key_t* inner
    cdef Py_ssize_t inner_start = max(start, plan.x_before)
    cdef Py_ssize_t inner_stop = min(stop, plan.x_before + width)
    if line == NULL or inner_start >= inner_stop:
        inner_start = inner_stop = stop
    for i in range(start, inner_start):
        j = plan.xmap[i]
        out[i] = encode(line[j * stride], encoding) if j >= 0 and line != NULL else cval
    if inner_start < inner_stop:
        inner = line + (inner_start - plan.x_before) * stride
        if stride == 1 and encoding == ENCODING_UNSIGNED:
            memcpy(out + inner_start, inner, (inner_stop - inner_start) * sizeof(key_t))
        else:
            encode_run(inner, stride, inner_stop - inner_start, out + inner_start, encoding)
    for i in range(inner_stop, stop):
        j = plan.xmap[i]
        out[i] = encode(line[j * stride], encoding) if j >= 0 and line != NULL else cval


cdef inline void _extend_line(const key_t* line, Py_ssize_t stride, const Plan* plan,
                              Py_ssize_t width, key_t* out, key_t cval, int encoding,
                              bint edges_only) noexcept nogil:
    """Write the x-extended copy of one input line (NULL: a cval line), as _extend_span.

    With `edges_only`, just the positions that a banded kernel reads from the copy
    rather than from the line itself (see crcx_box_median_band).
    """
    cdef Py_ssize_t length = width + plan.fx - 1
    # A vector block reads the copy where its window leaves the line.
    cdef Py_ssize_t block = 64 // sizeof(key_t) + plan.fx
    cdef Py_ssize_t left = min(plan.x_before + block, length)
    cdef Py_ssize_t right = max(0, plan.x_before + width - block + 1)
    if edges_only and left < right:
        _extend_span(line, stride, plan, width, out, cval, encoding, 0, left)
        _extend_span(line, stride, plan, width, out, cval, encoding, right, length)
    else:
        _extend_span(line, stride, plan, width, out, cval, encoding, 0, length)


cdef inline key_t* _ring_line(const Keys* src, const Plan* plan,
                              key_t cval_key, Py_ssize_t* tags, key_t* ring,
                              Py_ssize_t row_length, Py_ssize_t b, Py_ssize_t dz,
                              Py_ssize_t ez, Py_ssize_t ey, key_t** direct,
                              bint values) noexcept nogil:
    """The ring's copy of extended input line (b, ez, ey), extended if not there yet.

    Slots are per (dz, extended y modulo the ring's lines): sliding y by one keeps
    every line that the next window still needs in place. A banded kernel passes
    `direct`: where the line's keys are its values, or the kernel asks for `values`
    (float bits, not keys), and the line is contiguous, it gets the line itself there
    and the copy holds only the edges.
    """
    cdef Py_ssize_t depth = src.shape[1], height = src.shape[2], width = src.shape[3]
    cdef Py_ssize_t ring_lines = _ring_lines(plan)
    cdef Py_ssize_t slot = dz * ring_lines + ey % ring_lines
    # A copy of values is told from one of keys by bit 62 of its tag.
    cdef Py_ssize_t tag = ((b * (depth + plan.fz) + ez) * (height + plan.fy) + ey
                           + ((<Py_ssize_t>values) << 62))
    cdef Py_ssize_t stride = src.strides[3] // <Py_ssize_t>sizeof(key_t)
    cdef Py_ssize_t zz = plan.zmap[ez], yy = plan.ymap[ey]
    cdef const key_t* source = NULL
    if zz >= 0 and yy >= 0:
        source = <key_t*>_line(src, b, zz, yy)
    cdef key_t* line = ring + slot * row_length
    cdef bint edges_only = (direct != NULL and source != NULL and stride == 1
                            and (values or plan.encoding == ENCODING_UNSIGNED))
    if direct != NULL:
        direct[0] = <key_t*>source if edges_only else NULL
    if tags[slot] != tag:
        tags[slot] = tag
        if values:
            _extend_line(source, stride, plan, width, line, decode(cval_key, plan.encoding),
                         ENCODING_UNSIGNED, edges_only)
        else:
            _extend_line(source, stride, plan, width, line, cval_key, plan.encoding,
                         edges_only)
    return line


cdef inline void _band_rows(const Keys* src, const Plan* plan, key_t cval_key,
                            Py_ssize_t* tags, key_t* ring, Py_ssize_t row_length,
                            Py_ssize_t b, Py_ssize_t z, Py_ssize_t y, Py_ssize_t n_out,
                            key_t** lines, key_t** direct, bint values) noexcept nogil:
    """The input lines of the band of `n_out` output lines from (b, z, y), as _ring_line."""
    cdef Py_ssize_t i
    for i in range(n_out + plan.fy - 1):
        lines[i] = _ring_line(src, plan, cval_key, tags, ring, row_length, b, 0, z, y + i,
                              direct + i, values)


cdef void filter_lines(const Keys* src, const Keys* dst,
                       const Plan* plan, key_t cval_key, char* scratch,
                       Py_ssize_t first_line, Py_ssize_t stop_line) noexcept nogil:
    """Filter output lines ``first_line .. stop_line - 1`` (lines ordered b, z, y).

    With `plan.band` (a 2-d box with a banded kernel), the lines of each band of
    BAND_LINES lines from the top of a plane are computed together from their input
    lines. Bands start there whatever the range, so that the result does not depend
    on how _run splits the lines: a band of floats with a NaN is done again as keys,
    which may give the other zero where the median is a zero.
    ALGORITHM_COLUMNS goes down the lines once per strip of COLUMNS_STRIP columns;
    the other algorithms take whole lines.
    """
    cdef Py_ssize_t depth = src.shape[1], height = src.shape[2], width = src.shape[3]
    cdef Py_ssize_t row_length = _row_length(plan, width)
    cdef Py_ssize_t period = _ring_lines(plan)
    cdef Py_ssize_t slots = plan.fz * period
    cdef Py_ssize_t out_stride = dst.strides[3] // <Py_ssize_t>sizeof(key_t)
    cdef Py_ssize_t line, b, z, y, i, j, slot, tag, n_out
    cdef LineScratch parts
    _line_layout(plan, width, sizeof(key_t), scratch, &parts)
    cdef Py_ssize_t* tags = parts.tags
    cdef key_t** rows = <key_t**>parts.rows
    cdef key_t** band_lines = <key_t**>parts.band_lines
    cdef key_t** band_direct = <key_t**>parts.band_direct
    cdef key_t** band_outs = <key_t**>parts.band_outs
    cdef key_t* ring = <key_t*>parts.ring
    cdef key_t* scratch_result = <key_t*>parts.result
    cdef key_t* result
    cdef key_t* out
    cdef key_t* leaving
    # Keys that are the values themselves, stored contiguously, go straight to dst.
    cdef bint direct = out_stride == 1 and plan.encoding == ENCODING_UNSIGNED
    # The banded kernels decode as they store, so they need only a contiguous dst.
    cdef bint banded = (plan.band and out_stride == 1 and crcx_box_band_available(
        width * sizeof(key_t), <int>plan.fy, <int>plan.fx))
    # Contiguous floats go to them as floats, band by band where no NaN is found, in
    # windows of up to 9 values: no encoding pass, where these are limited by memory.
    # Larger windows are limited by the network, whose float min/max wait longer on
    # each other (benchmarks/median.py, float32).
    cdef bint floats = (CRCX_FLOAT_BANDS and plan.encoding == ENCODING_FLOAT
                        and sizeof(key_t) >= 4 and src.strides[3] == sizeof(key_t)
                        and plan.n_elements <= 9)
    # An output too large to stay in the last-level cache beside its input is
    # stored past the caches: none of its lines is read before it is written.
    cdef bint stream = _nbytes(dst, sizeof(key_t)) >= STREAM_MIN_BYTES
    cdef bint nan
    # Tag of the first line whose keys the column histograms hold (-1: none).
    cdef Py_ssize_t columns_tag
    cdef Py_ssize_t strip_width = width, x0 = 0, strip_stop

    if plan.algorithm == ALGORITHM_COLUMNS:
        strip_width = COLUMNS_STRIP
    for slot in range(slots):
        tags[slot] = -1
    # The padding past each extended line is read by the last network block; zero it
    # so that no uninitialised memory is ever read. The lines themselves are written
    # before they are read (by a banded kernel only where it reads them).
    for slot in range(slots):
        memset(ring + slot * row_length + row_length - LANES, 0, LANES * sizeof(key_t))
    if plan.algorithm == ALGORITHM_HISTOGRAM:
        memset(parts.fine, 0, fine_bins(sizeof(key_t)) * sizeof(uint32_t))
        memset(parts.coarse, 0, coarse_bins(sizeof(key_t)) * sizeof(uint32_t))
    while x0 < width:
        strip_stop = min(x0 + strip_width, width)
        columns_tag = -1
        line = first_line
        while line < stop_line:
            y = line % height
            z = (line // height) % depth
            b = line // (height * depth)
            if banded:
                n_out = min(BAND_LINES - y % BAND_LINES, stop_line - line, height - y)
                for i in range(n_out):
                    band_outs[i] = <key_t*>_line(dst, b, z, y + i)
                # Floats as floats first; a band with a NaN is done again as keys.
                nan = True
                if floats:
                    _band_rows(src, plan, cval_key, tags, ring, row_length, b, z, y,
                               n_out, band_lines, band_direct, True)
                    nan = network_band(band_lines, band_direct, plan, band_outs, n_out,
                                       width, True, stream)
                if nan:
                    _band_rows(src, plan, cval_key, tags, ring, row_length, b, z, y,
                               n_out, band_lines, band_direct, False)
                    network_band(band_lines, band_direct, plan, band_outs, n_out, width,
                                 False, stream)
                line += n_out
                continue
            for j in range(plan.n_rows):
                rows[j] = _ring_line(src, plan, cval_key, tags, ring, row_length, b,
                                     plan.row_dz[j], z + plan.row_dz[j], y + plan.row_dy[j],
                                     NULL, False)
            out = <key_t*>_line(dst, b, z, y) + x0 * out_stride
            result = out if direct else scratch_result
            if plan.algorithm == ALGORITHM_NETWORK:
                network_line(rows, plan, width, row_length, <key_t*>parts.lanes,
                             <key_t*>parts.sorted_rows, result)
            elif plan.algorithm == ALGORITHM_SELECT:
                select_line(rows, plan, width, <key_t*>parts.lanes, result)
            elif key_t is uint8_t or key_t is uint16_t:
                if plan.algorithm == ALGORITHM_HISTOGRAM:
                    histogram_line(rows, plan, width, parts.fine, parts.coarse, result,
                                   4 * sizeof(key_t))
                else:
                    # A box of one plane: the window's lines are tags tag .. tag + fy - 1,
                    # and the histograms can slide down from the line above when they
                    # hold it and its first line is still in the ring.
                    tag = (b * (depth + plan.fz) + z) * (height + plan.fy) + y
                    slot = (y + period - 1) % period
                    leaving = (ring + slot * row_length
                               if columns_tag >= 0 and columns_tag == tag - 1
                               and tags[slot] == tag - 1 else NULL)
                    columns_line(rows, leaving, plan, x0, strip_stop - x0, y,
                                 &parts.columns, result)
                    columns_tag = tag
            if not direct:
                decode_run(result, strip_stop - x0, out, out_stride, plan.encoding)
            line += 1
        x0 = strip_stop


cdef inline Py_ssize_t _tile_region(const Plan* plan) noexcept nogil:
    return (plan.tile_z + plan.fz - 1) * (plan.tile_y + plan.fy - 1) \
        * (plan.tile_x + plan.fx - 1)


# One thread's scratch for filter_tiles and filter_box_tiles, for a tile's region of
# `region` values: rank_region's buffers, then those of the algorithm.
cdef struct TileScratch:
    char* keys              # [region] keys as gathered
    char* items             # [region] (key, index) items of the radix sort
    char* spare             # [region] the same, for the other half of each pass
    char* sorted_keys       # [region]
    uint16_t* ranks         # [region]
    uint32_t* counts        # one histogram of 2 ** RADIX_BITS per radix pass
    uint32_t* fine          # RANKED: [2 ** (2 * rank_shift)] histogram of the ranks
    uint32_t* coarse        # RANKED: [2 ** rank_shift]
    uint16_t** rows         # RANKED: [n_rows] the window's lines of ranks
    uint16_t* rank_result   # RANKED: [tile_x]
    uint64_t* bits          # RANKED_BOX: [tile_x + fx - 1][RANK_WORDS] per column
    uint16_t* prefixes      # RANKED_BOX: [tile_x + fx - 1][RANK_WORDS] per column
    uint16_t* zeros         # RANKED_BOX: [RANK_WORDS] a column of zero counts


cdef Py_ssize_t _tile_layout(const Plan* plan, Py_ssize_t key_size, char* base,
                             TileScratch* parts) noexcept nogil:
    """Place the parts of `parts` from `base` (64-byte aligned; NULL only measures).

    Returns the bytes they take, a multiple of 64 (as _line_layout).
    """
    cdef Layout layout
    cdef Py_ssize_t region = _tile_region(plan)
    cdef Py_ssize_t passes = (8 * key_size + RADIX_BITS - 1) // RADIX_BITS
    cdef bint box = plan.algorithm == ALGORITHM_RANKED_BOX
    cdef Py_ssize_t columns = (plan.tile_x + plan.fx - 1) * RANK_WORDS if box else 0
    cdef Py_ssize_t n_coarse = 0 if box else (<Py_ssize_t>1) << plan.rank_shift
    layout.base = base
    layout.size = 0
    parts.keys = _part(&layout, region * key_size)
    parts.items = _part(&layout, region * item_bytes(key_size))
    parts.spare = _part(&layout, region * item_bytes(key_size))
    parts.sorted_keys = _part(&layout, region * key_size)
    parts.ranks = <uint16_t*>_part(&layout, region * sizeof(uint16_t))
    parts.counts = <uint32_t*>_part(&layout, passes * (1 << RADIX_BITS) * sizeof(uint32_t))
    parts.fine = <uint32_t*>_part(&layout, n_coarse * n_coarse * sizeof(uint32_t))
    parts.coarse = <uint32_t*>_part(&layout, n_coarse * sizeof(uint32_t))
    parts.rows = <uint16_t**>_part(&layout, (0 if box else plan.n_rows) * sizeof(void*))
    parts.rank_result = <uint16_t*>_part(&layout, (0 if box else plan.tile_x)
                                         * sizeof(uint16_t))
    parts.bits = <uint64_t*>_part(&layout, columns * sizeof(uint64_t))
    parts.prefixes = <uint16_t*>_part(&layout, columns * sizeof(uint16_t))
    parts.zeros = <uint16_t*>_part(&layout, (RANK_WORDS if box else 0) * sizeof(uint16_t))
    return _layout_bytes(&layout)


cdef void _gather_region(const Keys* src, const Plan* plan, key_t cval_key,
                         Py_ssize_t b, Py_ssize_t z0, Py_ssize_t y0, Py_ssize_t x0,
                         Py_ssize_t rz, Py_ssize_t ry, Py_ssize_t rx,
                         key_t* keys) noexcept nogil:
    """Encoded keys of the extended region at (z0, y0, x0), of shape (rz, ry, rx)."""
    cdef Py_ssize_t stride = src.strides[3] // <Py_ssize_t>sizeof(key_t)
    # Source column of the region's first column, when every column is in the image.
    cdef Py_ssize_t first = x0 - plan.x_before
    cdef bint inside = first >= 0 and first + rx <= src.shape[3]
    cdef Py_ssize_t iz, iy, ix, zz, yy, xx
    cdef const key_t* line
    for iz in range(rz):
        for iy in range(ry):
            zz = plan.zmap[z0 + iz]
            yy = plan.ymap[y0 + iy]
            line = <key_t*>_line(src, b, zz, yy) if zz >= 0 and yy >= 0 else NULL
            if line != NULL and inside:
                encode_run(line + first * stride, stride, rx, keys, plan.encoding)
            else:
                for ix in range(rx):
                    xx = plan.xmap[x0 + ix]
                    keys[ix] = (encode(line[xx * stride], plan.encoding)
                                if line != NULL and xx >= 0 else cval_key)
            keys += rx


cdef inline void _rank_tile(const Keys* src, const Plan* plan, key_t cval_key,
                            Py_ssize_t tile, const TileScratch* parts, Py_ssize_t* corner,
                            Py_ssize_t* size) noexcept nogil:
    """Rank the input region of `tile` (tiles counted x fastest, then y, z, b).

    `corner` gets the tile's (b, z0, y0, x0) and `size` its (z, y, x) output shape;
    ``parts.ranks`` then holds the rank of each region value and ``parts.sorted_keys``
    the region's values in order (decoded), so that rank r names its value.
    """
    cdef Py_ssize_t depth = src.shape[1], height = src.shape[2], width = src.shape[3]
    cdef Py_ssize_t tiles_z = (depth + plan.tile_z - 1) // plan.tile_z
    cdef Py_ssize_t tiles_y = (height + plan.tile_y - 1) // plan.tile_y
    cdef Py_ssize_t tiles_x = (width + plan.tile_x - 1) // plan.tile_x
    cdef Py_ssize_t n
    corner[3] = (tile % tiles_x) * plan.tile_x
    tile = tile // tiles_x
    corner[2] = (tile % tiles_y) * plan.tile_y
    tile = tile // tiles_y
    corner[1] = (tile % tiles_z) * plan.tile_z
    corner[0] = tile // tiles_z
    size[0] = min(plan.tile_z, depth - corner[1])
    size[1] = min(plan.tile_y, height - corner[2])
    size[2] = min(plan.tile_x, width - corner[3])
    n = (size[0] + plan.fz - 1) * (size[1] + plan.fy - 1) * (size[2] + plan.fx - 1)
    _gather_region(src, plan, cval_key, corner[0], corner[1], corner[2], corner[3],
                   size[0] + plan.fz - 1, size[1] + plan.fy - 1, size[2] + plan.fx - 1,
                   <key_t*>parts.keys)
    rank_region(<key_t*>parts.keys, n, <item_t*>parts.items, <item_t*>parts.spare,
                parts.counts, parts.ranks, <key_t*>parts.sorted_keys)
    decode_run(<key_t*>parts.sorted_keys, n, <key_t*>parts.sorted_keys, 1, plan.encoding)


cdef void filter_tiles(const Keys* src, const Keys* dst,
                       const Plan* plan, key_t cval_key, char* scratch,
                       Py_ssize_t first_tile, Py_ssize_t stop_tile) noexcept nogil:
    """Filter tiles ``first_tile .. stop_tile - 1`` through ranks (ALGORITHM_RANKED).

    Each tile's input region (at most 2 ** (2 * rank_shift) values) is ranked once
    (_rank_tile), the sliding histogram runs on the ranks, and the median's rank
    then names its value in the sorted region.
    """
    cdef Py_ssize_t out_stride = dst.strides[3] // <Py_ssize_t>sizeof(key_t)
    cdef Py_ssize_t corner[4]
    cdef Py_ssize_t size[3]
    cdef int shift = plan.rank_shift
    cdef Py_ssize_t n_coarse = (<Py_ssize_t>1) << shift
    cdef TileScratch parts
    _tile_layout(plan, sizeof(key_t), scratch, &parts)
    cdef const key_t* sorted_keys = <key_t*>parts.sorted_keys
    cdef Py_ssize_t tile, ry, rx, iz, iy, ix, j
    cdef key_t* out

    memset(parts.fine, 0, n_coarse * n_coarse * sizeof(uint32_t))
    memset(parts.coarse, 0, n_coarse * sizeof(uint32_t))
    for tile in range(first_tile, stop_tile):
        _rank_tile(src, plan, cval_key, tile, &parts, corner, size)
        ry = size[1] + plan.fy - 1
        rx = size[2] + plan.fx - 1
        for iz in range(size[0]):
            for iy in range(size[1]):
                for j in range(plan.n_rows):
                    parts.rows[j] = parts.ranks + ((iz + plan.row_dz[j]) * ry + iy
                                                   + plan.row_dy[j]) * rx
                histogram_line(parts.rows, plan, size[2], parts.fine, parts.coarse,
                               parts.rank_result, shift)
                out = (<key_t*>_line(dst, corner[0], corner[1] + iz, corner[2] + iy)
                       + corner[3] * out_stride)
                for ix in range(size[2]):
                    out[ix * out_stride] = sorted_keys[parts.rank_result[ix]]


cdef Py_ssize_t tile_scratch_bytes(const Plan* plan, Py_ssize_t key_size) noexcept nogil:
    """Bytes of scratch one thread needs for filter_tiles or filter_box_tiles."""
    cdef TileScratch parts
    return _tile_layout(plan, key_size, NULL, &parts)


cdef void filter_box_tiles(const Keys* src, const Keys* dst,
                           const Plan* plan, key_t cval_key, char* scratch,
                           Py_ssize_t first_tile, Py_ssize_t stop_tile) noexcept nogil:
    """Filter tiles of a 2-d box window through bit sets of ranks (ALGORITHM_RANKED_BOX).

    Each tile's input region (at most 64 * RANK_WORDS values) is ranked once
    (_rank_tile), and rank_set_tile finds each output's rank among the bit sets of
    the window's columns.
    """
    cdef Py_ssize_t out_stride = dst.strides[3] // <Py_ssize_t>sizeof(key_t)
    cdef Py_ssize_t corner[4]
    cdef Py_ssize_t size[3]
    cdef TileScratch parts
    _tile_layout(plan, sizeof(key_t), scratch, &parts)
    cdef Py_ssize_t tile

    memset(parts.zeros, 0, RANK_WORDS * sizeof(uint16_t))
    for tile in range(first_tile, stop_tile):
        _rank_tile(src, plan, cval_key, tile, &parts, corner, size)
        rank_set_tile(parts.ranks, <key_t*>parts.sorted_keys, plan, size[1], size[2],
                      parts.bits, parts.prefixes, parts.zeros,
                      <key_t*>_line(dst, corner[0], corner[1], corner[2]) + corner[3] * out_stride,
                      out_stride, dst.strides[2])


cdef void _map_pages(const Keys* dst, Py_ssize_t key_size, int n_threads) noexcept nogil:
    """Map the pages of a large contiguous `dst`, one contiguous share per thread.

    A fresh output's pages are mapped, and zeroed by the kernel, when first written.
    _run hands its bands to the threads in turn, so that they would write into the
    same 2 MiB huge pages and wait on each other's page faults. The faults still
    cost about as much as the filtering itself, and shrink little with more threads;
    crcx._runtime.memory spares them to an output made again at a size freed before.
    """
    cdef Py_ssize_t size = _nbytes(dst, key_size)
    cdef Py_ssize_t share = (size + n_threads - 1) // n_threads
    cdef Py_ssize_t t
    cdef char* start
    if (size < n_threads * TOUCH_MIN_BYTES or dst.strides[3] != key_size
            or dst.strides[2] != dst.shape[3] * dst.strides[3]
            or dst.strides[1] != dst.shape[2] * dst.strides[2]
            or dst.strides[0] != dst.shape[1] * dst.strides[1]):
        return
    start = dst.data
    for t in prange(n_threads, schedule="static", num_threads=n_threads):
        crcx_touch_pages(start + t * share, start + min((t + 1) * share, size))


cdef inline Py_ssize_t _first_line(Py_ssize_t unit, Py_ssize_t unit_lines,
                                   Py_ssize_t height) noexcept nogil:
    """The first line of `unit`, where each plane of `height` lines is cut into units
    of `unit_lines` lines from its top."""
    cdef Py_ssize_t per_plane = (height + unit_lines - 1) // unit_lines
    return unit // per_plane * height + unit % per_plane * unit_lines


cdef int _run(const Keys* src, const Keys* dst, const Plan* plan, key_t cval_key,
              int n_threads) noexcept nogil:
    cdef bint tiled = (plan.algorithm == ALGORITHM_RANKED
                       or plan.algorithm == ALGORITHM_RANKED_BOX)
    cdef Py_ssize_t n_units, per_thread, chunk, n_chunks, c, unit_lines = 1
    cdef char* scratch
    if tiled:
        n_units = src.shape[0] * ((src.shape[1] + plan.tile_z - 1) // plan.tile_z) \
            * ((src.shape[2] + plan.tile_y - 1) // plan.tile_y) \
            * ((src.shape[3] + plan.tile_x - 1) // plan.tile_x)
        per_thread = tile_scratch_bytes(plan, sizeof(key_t))
        chunk = 1
    else:
        # Banded plans hand out whole bands (filter_lines), the others lines.
        unit_lines = BAND_LINES if plan.band else 1
        n_units = (src.shape[0] * src.shape[1]
                   * ((src.shape[2] + unit_lines - 1) // unit_lines))
        per_thread = scratch_bytes(plan, src.shape[3], sizeof(key_t))
        # Bands of consecutive lines, so that each thread's ring of extended lines
        # (and column histograms) is reused down the band; several bands per thread,
        # handed out dynamically, so that a thread slowed down by another process
        # does not hold up the rest. Column histograms cost fy lines to set up, so
        # their bands are longer, and one thread takes all lines as one band.
        chunk = max(1, min(COLUMNS_BAND if plan.algorithm == ALGORITHM_COLUMNS
                           else 64 // unit_lines,
                           n_units // (4 * n_threads)))
        if n_threads == 1:
            chunk = n_units
    if n_units == 0:
        return 0
    if n_threads > n_units:
        n_threads = <int>n_units
    n_chunks = (n_units + chunk - 1) // chunk
    # The layouts align their parts from a 64-byte aligned base (own_part's).
    scratch = scratch_memory(per_thread, n_threads)
    if scratch == NULL:
        return -1
    if n_threads > 1:
        _map_pages(dst, sizeof(key_t), n_threads)
    with parallel(num_threads=n_threads):
        for c in prange(n_chunks, schedule="dynamic"):
            if plan.algorithm == ALGORITHM_RANKED_BOX:
                filter_box_tiles(src, dst, plan, cval_key, own_part(scratch, per_thread),
                                 c, c + 1)
            elif tiled:
                filter_tiles(src, dst, plan, cval_key, own_part(scratch, per_thread),
                             c, c + 1)
            else:
                filter_lines(src, dst, plan, cval_key, own_part(scratch, per_thread),
                             _first_line(c * chunk, unit_lines, src.shape[2]),
                             _first_line(min((c + 1) * chunk, n_units), unit_lines,
                                         src.shape[2]))
    free(scratch)
    return 0


cdef inline const Py_ssize_t* _index_data(const Py_ssize_t[::1] values) noexcept nogil:
    return &values[0] if values.shape[0] else NULL


cdef inline const int32_t* _program_data(const int32_t[:, ::1] program) noexcept nogil:
    return &program[0, 0] if program.shape[0] else NULL


# The key encoding (_keys.pxd) of each numpy dtype kind, for the planner.
ENCODINGS = {"b": ENCODING_UNSIGNED, "u": ENCODING_UNSIGNED, "i": ENCODING_SIGNED,
             "f": ENCODING_FLOAT}


cdef class KernelPlan:
    """Everything the compiled rank filter needs to run one window over images of one
    shape and dtype: the window's lines and elements, the border's index maps, the
    key encoding and the line algorithm with its parameters (the fields of `Plan`,
    _driver.pxd). The planner (crcx/_rank/_planner.py) builds it once; the kernels
    read its C struct as it is. `algorithm`, `tile` and `rank_shift` say what the
    planner chose.
    """

    def __init__(self, *, tuple extent, row_dz, row_dy, element_row, element_dx,
                 Py_ssize_t rank, run_row, run_start, run_stop, zmap, ymap, xmap,
                 Py_ssize_t x_before, int encoding, int algorithm, program, column_program,
                 bint presort, bint generated, bint band, tuple tile, int rank_shift):
        cdef const Py_ssize_t[::1] rows_z = row_dz, rows_y = row_dy
        cdef const Py_ssize_t[::1] elements = element_row, elements_x = element_dx
        cdef const Py_ssize_t[::1] runs = run_row, starts = run_start, stops = run_stop
        cdef const Py_ssize_t[::1] z_map = zmap, y_map = ymap, x_map = xmap
        cdef const int32_t[:, ::1] pixel_program = program
        cdef const int32_t[:, ::1] columns_program = column_program
        self.owned = (row_dz, row_dy, element_row, element_dx, run_row, run_start, run_stop,
                      zmap, ymap, xmap, program, column_program)
        self.plan.fz, self.plan.fy, self.plan.fx = extent
        self.plan.n_rows = rows_z.shape[0]
        self.plan.row_dz = _index_data(rows_z)
        self.plan.row_dy = _index_data(rows_y)
        self.plan.n_elements = elements.shape[0]
        self.plan.element_row = _index_data(elements)
        self.plan.element_dx = _index_data(elements_x)
        self.plan.rank = rank
        self.plan.n_runs = runs.shape[0]
        self.plan.run_row = _index_data(runs)
        self.plan.run_start = _index_data(starts)
        self.plan.run_stop = _index_data(stops)
        self.plan.zmap = _index_data(z_map)
        self.plan.ymap = _index_data(y_map)
        self.plan.xmap = _index_data(x_map)
        self.plan.x_before = x_before
        self.plan.encoding = encoding
        self.plan.algorithm = algorithm
        self.plan.program = _program_data(pixel_program)
        self.plan.program_length = pixel_program.shape[0]
        self.plan.column_program = _program_data(columns_program)
        self.plan.column_program_length = columns_program.shape[0]
        self.plan.presort = presort
        self.plan.generated = generated
        self.plan.band = band
        self.plan.tile_z, self.plan.tile_y, self.plan.tile_x = tile
        self.plan.rank_shift = rank_shift

    @property
    def algorithm(self):
        """The line algorithm (an `Algorithm` code)."""
        return self.plan.algorithm

    @property
    def tile(self):
        """The (z, y, x) output tile of the tile algorithms; (1, 1, 1) for the others."""
        return (self.plan.tile_z, self.plan.tile_y, self.plan.tile_x)

    @property
    def rank_shift(self):
        """The ranked algorithm's coarse histogram bin, log2 of its size; 0 for others."""
        return self.plan.rank_shift


cdef int filter_keys(const Keys* src, const Keys* dst, const Plan* plan,
                     Py_ssize_t key_size, uint64_t cval_bits, int n_threads) noexcept nogil:
    """Filter `src` into `dst` (keys of `key_size` bytes) as `plan` says, on
    `n_threads` OpenMP threads; `cval_bits` is `cval` in the input's dtype, as an
    unsigned integer of the same bits.

    Returns 0, or -1 where the scratch memory could not be had. Needs no Python:
    the C API runs it from the caller's own threads.
    """
    if key_size == 1:
        return _run(src, dst, plan, encode(<uint8_t>cval_bits, plan.encoding), n_threads)
    if key_size == 2:
        return _run(src, dst, plan, encode(<uint16_t>cval_bits, plan.encoding), n_threads)
    if key_size == 4:
        return _run(src, dst, plan, encode(<uint32_t>cval_bits, plan.encoding), n_threads)
    return _run(src, dst, plan, encode(<uint64_t>cval_bits, plan.encoding), n_threads)


cdef Keys _keys(cnp.ndarray array):
    cdef Keys keys
    cdef int axis
    keys.data = cnp.PyArray_BYTES(array)
    for axis in range(4):
        keys.shape[axis] = cnp.PyArray_DIM(array, axis)
        keys.strides[axis] = cnp.PyArray_STRIDE(array, axis)
    return keys


def rank_filter(cnp.ndarray src not None, cnp.ndarray dst not None, KernelPlan plan not None,
                cval_bits, int n_threads):
    """Filter `src` (unsigned integer keys, shape (batch, z, y, x)) into `dst` (writable,
    of the same dtype and shape) as `plan` says; `cval_bits` as for filter_keys.
    """
    if ((<object>src).ndim != 4 or (<object>dst).shape != (<object>src).shape
            or dst.dtype != src.dtype or src.dtype.kind != "u"
            or not (<object>dst).flags.writeable):
        raise ValueError("src and dst: expected 4-d arrays of one unsigned dtype and shape, "
                         "dst writable")
    cdef Keys source = _keys(src), target = _keys(dst)
    cdef int status
    cdef Py_ssize_t key_size = src.itemsize
    cdef uint64_t bits = cval_bits
    with nogil:
        status = filter_keys(&source, &target, &plan.plan, key_size, bits, n_threads)
    if status < 0:
        raise MemoryError("not enough memory for the median filter's scratch buffers")
