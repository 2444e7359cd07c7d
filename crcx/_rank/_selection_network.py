"""Selection networks: the compare-exchange programs the small-window kernels run.

A median of a few dozen values is fastest as a fixed sequence of min/max operations
applied to many pixels at once, which the C compiler turns into SIMD instructions. The
sequence is derived here once per footprint shape and cached:

1. Knuth's merge-exchange sort (Batcher's odd-even merge sort for any n; Knuth, TAOCP
   vol. 3, 5.2.2, Algorithm M) sorts all n window values.
2. For a full box footprint the values of each column (one x position, every row of
   the footprint) may be sorted first, once per column, and that sorted column shared
   by the ``fx`` outputs that read it. The compiled straight-line code does so only for
   tall boxes (more lines than columns: 3-d windows); for square 2-d boxes the extra
   pass through memory costs more than the comparisons it saves
   (benchmarks/results/design.md). Compare-exchanges
   that can no longer change anything once the columns are sorted are dropped; by the
   0-1 principle it suffices to check every 0-1 input whose columns are sorted.
3. Working backwards from the wire that holds the median, every operation whose
   result is never read is dropped, and one whose minimum (or maximum) alone is read
   becomes a single ``min`` (or ``max``).
4. Large square boxes (TREE_BOXES) share more, after A. Adams, "Fast median filters
   using separable sorting networks", ACM TOG 40(4), 2021: sorted columns are merged
   into sorted runs of 2, 4, ... adjacent columns, each run merged once and read by
   every output whose window holds it; an output merges the few runs that tile its
   window. Every merge keeps only the outputs that a later stage reads, and its
   comparators that can exchange nothing are dropped by the 0-1 principle applied to
   sorted runs (few inputs to check, whatever the box).
"""
import functools
import itertools

import numpy as np

__all__ = ["CE", "MIN", "MAX", "GENERATED_BOXES", "TREE_BOXES", "box_median_source",
           "merge_exchange_pairs", "selection_program", "tree_stages"]

# Operation codes of the programs, which the kernels read from the generated header.
CE, MIN, MAX = 0, 1, 2

# Largest number of sorted-column 0-1 inputs enumerated to prove redundancy: when a
# plan is made (an interpreted network), and when setup.py generates the compiled
# ones (up to the 7x7 box: 8 ** 7 inputs, once at build time).
_MAX_PROOF_INPUTS = 1 << 17
_MAX_BUILD_PROOF_INPUTS = 1 << 21

# Output lines one banded kernel call computes (see _band_function): enough to share
# each input line's sorted values between the window's lines, few enough that the
# band's input lines stay in the L1 cache (3x3 and 5x5 measured with 4, 8 and 32
# lines: 8 is fastest).
BAND_LINES = 8
# How far ahead along each line the banded kernels prefetch, in vectors: 8 (512
# bytes) and 4 did alike, 16 was slower on two threads.
PREFETCH_VECTORS = 8


def merge_exchange_pairs(n):
    """Compare-exchange pairs ``(i, j)``, ``i < j``, that sort `n` wires ascending.

    Examples
    --------
    >>> merge_exchange_pairs(3)
    [(0, 2), (0, 1), (1, 2)]
    """
    if n < 2:
        return []
    pairs = []
    t = (n - 1).bit_length()
    p = 1 << (t - 1)
    while p > 0:
        q, r, d = 1 << (t - 1), 0, p
        while True:
            pairs.extend((i, i + d) for i in range(n - d) if i & p == r)
            if q == p:
                break
            d, q, r = q - p, q >> 1, p
        p >>= 1
    return pairs


def _sorted_column_inputs(rows, columns):
    """Every 0-1 input with sorted columns, as a (count, rows * columns) bool array."""
    column_patterns = np.array([[1] * (rows - ones) + [0] * ones for ones in range(rows + 1)],
                               dtype=bool)[:, ::-1]
    # Wire numbering is row-major: wire = row * columns + column.
    choice = np.array(list(itertools.product(range(rows + 1), repeat=columns)))
    values = column_patterns[choice]                  # (count, columns, rows)
    return values.transpose(0, 2, 1).reshape(len(choice), rows * columns)


def _drop_redundant(pairs, inputs):
    """Drop pairs that never exchange anything for these 0-1 `inputs`."""
    values = inputs.T.copy()
    kept = []
    for i, j in pairs:
        lo, hi = values[i], values[j]
        if (lo & ~hi).any():
            kept.append((i, j))
            values[i], values[j] = lo & hi, lo | hi
    return kept


def _cost(program):
    """Vector operations of a program: a compare-exchange is a min and a max."""
    return sum(2 if op == CE else 1 for op, _, _ in program)


def _prune_to_output(pairs, output, outputs=()):
    """Keep the operations that `output` (or all `outputs`) depend on, as (op, i, j)."""
    needed = set(outputs) if output is None else {output}
    program = []
    for i, j in reversed(pairs):
        want_lo, want_hi = i in needed, j in needed
        if not (want_lo or want_hi):
            continue
        program.append((CE if want_lo and want_hi else MIN if want_lo else MAX, i, j))
        needed.update((i, j))
    program.reverse()
    return program


def _sorting_networks(n):
    """Networks sorting `n` wires that prune differently: merge-exchange, and bubble
    sorts that move the largest (or the smallest) value first."""
    up = [(i, i + 1) for k in range(n - 1, 0, -1) for i in range(k)]
    down = [(i - 1, i) for k in range(1, n) for i in range(n - 1, k - 1, -1)]
    return [merge_exchange_pairs(n), up, down]


def _presorted_program(rows, columns, rank, full, search):
    """The cheapest program found for sorted columns (see selection_program).

    Sorting each row of the sorted columns as well (the columns stay sorted, as in
    shear sort) leaves fewer candidates for the median, which pays off for square
    windows. Which sorting network each row gets matters once the program is pruned
    (the row of the smallest values needs only its maximum): with `search`, rows try
    each of _sorting_networks in turn while that saves operations. 3x3: 22
    operations without the row sorts, 14 with merge-exchange rows, 12 after the
    search, as Paeth's 3x3 median (Graphics Gems, 1990).
    """
    inputs = _sorted_column_inputs(rows, columns)

    def best(row_networks):
        row_pairs = [(r * columns + i, r * columns + j)
                     for r, network in enumerate(row_networks) for i, j in network]
        return _prune_to_output(_drop_redundant(row_pairs + full, inputs), rank)

    networks = _sorting_networks(columns)
    choice = [networks[0]] * rows
    program = min(_prune_to_output(_drop_redundant(full, inputs), rank), best(choice),
                  key=_cost)
    improved = search
    while improved:
        improved = False
        for r in range(rows):
            for network in networks:
                trial = choice[:r] + [network] + choice[r + 1:]
                candidate = best(trial)
                if _cost(candidate) < _cost(program):
                    program, choice, improved = candidate, trial, True
    return program


@functools.lru_cache(maxsize=64)
def selection_program(rows, columns, rank, presort, proof_limit=_MAX_PROOF_INPUTS):
    """Program selecting the `rank`-th smallest of ``rows * columns`` values.

    Wires are numbered ``row * columns + column``. With `presort`, the returned
    program assumes every column is already sorted ascending down its rows and a
    second program sorts one column (wires ``0 .. rows - 1``).

    Parameters
    ----------
    rows, columns : int
        Shape of the window as the kernel lays it out.
    rank : int
        Which order statistic to select (the median is ``rows * columns // 2``).
    presort : bool
        Whether the kernel sorts columns first and shares them between outputs.
    proof_limit : int, optional
        Most 0-1 inputs enumerated to prove which operations sorted columns make
        redundant; beyond it the program ignores that the columns are sorted.

    Returns
    -------
    program : ndarray of int32, shape (ops, 3)
        ``(op, i, j)`` with op ``CE`` (min to i, max to j), ``MIN`` (min to i only)
        or ``MAX`` (max to j only); the result is on wire `rank`.
    column_program : ndarray of int32, shape (ops, 3)
        Sorts one column of `rows` wires; empty without `presort`.

    Examples
    --------
    >>> program, column_program = selection_program(3, 3, 4, True)
    >>> len(column_program), len(program) < len(merge_exchange_pairs(9))
    (3, True)
    """
    full = merge_exchange_pairs(rows * columns)
    program = _prune_to_output(full, rank)
    column_pairs = []
    if presort:
        column_pairs = merge_exchange_pairs(rows)
        if (rows + 1) ** columns <= proof_limit:
            program = _presorted_program(rows, columns, rank, full,
                                         (rows + 1) ** columns <= _MAX_PROOF_INPUTS)
    column_program = [(CE, i, j) for i, j in column_pairs]
    return (np.array(program, dtype=np.int32).reshape(-1, 3),
            np.array(column_program, dtype=np.int32).reshape(-1, 3))


# Box windows (footprint lines x columns) whose median gets straight-line code: 2-d
# boxes up to 9x9 and 3-d boxes up to 3x3x3 (9 lines of 3).
GENERATED_BOXES = tuple((rows, columns) for rows in range(1, 10) for columns in range(1, 10)
                        if rows * columns <= 81 and (rows * columns <= 49 or rows == columns))


# Square boxes whose straight-line median merges shared runs of columns (step 4 of
# the module docstring), for keys of at least TREE_MIN_KEY_BYTES. Measured on one
# thread, 2048x2048, benchmarks/median.py's natural image: 9x9 float32 81 -> 137
# Mpx/s, float64 42 -> 79, and 7x7 float32 243 -> 141 (so 7x7 keeps one network); on
# that image cast to two-valued integers, uint16 165 -> 183 but uint8 (64 lanes a
# vector, so the single network is cheap) 323 -> 240.
TREE_BOXES = ((9, 9),)
TREE_MIN_KEY_BYTES = 2
# Output pixels per block of the tree code: its runs of columns stay in L1/L2.
TREE_BLOCK = 128


def _sorted_runs_inputs(sizes):
    """Every 0-1 input made of sorted runs of these `sizes`, as a bool array."""
    patterns = [sum(([0] * (size - ones) + [1] * ones for size, ones in zip(sizes, counts)), [])
                for counts in itertools.product(*[range(size + 1) for size in sizes])]
    return np.array(patterns, dtype=bool)


def _merge_program(sizes, outputs):
    """Program merging sorted runs of `sizes` into the wires `outputs` (sorted order).

    Returns the program and the input wires it reads.
    """
    pairs = _drop_redundant(merge_exchange_pairs(sum(sizes)), _sorted_runs_inputs(sizes))
    needed = set(outputs)
    program = []
    for i, j in reversed(pairs):
        want_lo, want_hi = i in needed, j in needed
        if want_lo or want_hi:
            program.append((CE if want_lo and want_hi else MIN if want_lo else MAX, i, j))
            needed.update((i, j))
    program.reverse()
    return program, sorted(needed)


@functools.lru_cache(maxsize=8)
def tree_stages(size):
    """Stages of the shared-runs median of a `size` x `size` box.

    Returns ``(spans, stages, final)``: stage ``l`` merges the runs of ``spans[l - 1]``
    columns starting at columns c and c + spans[l - 1] into the run of ``spans[l]``
    columns at c (stage 0 sorts single columns); ``stages[l]`` is ``(program, kept)``,
    the program over the stage's wires and the wires of its run that later stages
    read. ``final`` is ``(offsets, parts, (program, reads))``: the output at x merges
    the runs of spans `parts` at columns x + `offsets`, reading wires `reads`, and its
    median is on wire ``size * size // 2``.
    """
    spans = [1]
    while 2 * spans[-1] <= size // 2:
        spans.append(2 * spans[-1])
    # The window is covered by runs of decreasing span: the binary digits of `size`,
    # each at most the largest span (repeated when `size` exceeds twice it).
    parts, left = [], size
    for span in reversed(spans):
        while left >= span:
            parts.append(span)
            left -= span
    offsets = [sum(parts[:i]) for i in range(len(parts))]
    final, needed = _merge_program([size * span for span in parts],
                                   [size * size // 2])
    # Wires of each span that the final merge reads.
    kept = {span: set() for span in spans}
    start = 0
    for span in parts:
        kept[span].update(w - start for w in needed if start <= w < start + size * span)
        start += size * span
    stages = [None] * len(spans)
    for level in reversed(range(len(spans))):
        span = spans[level]
        if level == 0:
            program = _prune_to_output(merge_exchange_pairs(size), None, kept[span])
            stages[0] = (program, sorted(kept[span]))
            continue
        half = size * spans[level - 1]
        program, reads = _merge_program([half, half], sorted(kept[span]))
        stages[level] = (program, sorted(kept[span]))
        kept[spans[level - 1]].update(w % half for w in reads)
    return spans, stages, (offsets, parts, (final, needed))


def _statement(op, i, j, prefix, vector=False):
    a, b = f"{prefix}{i}", f"{prefix}{j}"
    macro = {CE: "CE", MIN: "MIN", MAX: "MAX"}[op]
    return f"CRCX_{'V' if vector else ''}{macro}({a}, {b})"


def _box_programs(rows, columns):
    """The line kernel's programs for one box: (presort, program, column_program)."""
    presort = rows > columns > 1
    program, column_program = selection_program(
        rows if presort else 1, columns if presort else rows * columns,
        rows * columns // 2, presort)
    return presort, program, column_program


def _box_function(rows, columns):
    """C++ source of the straight-line median of one box shape, line by line."""
    presort, program, column_program = _box_programs(rows, columns)
    name = f"crcx_box_median_{rows}x{columns}"
    lines = ["template <typename T>",
             f"static void {name}(T* const* rows, T* sorted, ptrdiff_t length,",
             "        ptrdiff_t width, T* __restrict__ out) {"]
    if presort:
        # Sort each column of the whole line once; `fx` outputs then share it.
        lines += [f"    T* __restrict__ s{j} = sorted + {j} * length;" for j in range(rows)]
        lines += [f"    const T* __restrict__ r{j} = rows[{j}];" for j in range(rows)]
        # The rows and the sorted copies never overlap; ivdep spares the compiler
        # its run-time alias checks, which it gives up on beyond ten pointers.
        lines += ["    #pragma GCC ivdep", "    for (ptrdiff_t x = 0; x < length; ++x) {"]
        lines += [f"        T c{j} = r{j}[x];" for j in range(rows)]
        lines += [f"        {_statement(op, i, j, 'c')};" for op, i, j in column_program]
        lines += [f"        s{j}[x] = c{j};" for j in range(rows)]
        lines += ["    }"]
        source = [f"s{j}[x + {dx}]" for j in range(rows) for dx in range(columns)]
    else:
        lines += [f"    const T* __restrict__ s{j} = rows[{j}];" for j in range(rows)]
        source = [f"s{j}[x + {dx}]" for j in range(rows) for dx in range(columns)]
    lines += ["    #pragma GCC ivdep", "    for (ptrdiff_t x = 0; x < width; ++x) {"]
    lines += [f"        T w{e} = {value};" for e, value in enumerate(source)]
    lines += [f"        {_statement(op, i, j, 'w')};" for op, i, j in program]
    lines += [f"        out[x] = w{rows * columns // 2};", "    }", "}"]
    return "\n".join(lines)


def _band_program(rows, columns):
    """The banded kernel's median programs for one box, or None where they save nothing.

    Each input line's `columns` values at an output are sorted once and kept in
    registers while the kernel walks down the band, so that the `rows` outputs whose
    windows hold that line share the sort. Returns ``(program, None)``: the program
    selects the median from `rows` sorted groups (wire ``i * rows + j`` is the i-th
    smallest of line j); or ``(shared, (final, low, high))`` where outputs in pairs
    cost less: two vertically adjacent windows share ``rows - 1`` lines, of whose
    values (runs of `columns` sorted wires, line by line) the median of either
    window can only be one of ranks ``low .. high``; `shared` puts those on wires
    ``low .. high`` once per pair, and `final` merges them (its first wires) with an
    output's own line (its last `columns` wires): the median is on wire
    ``rows * columns // 2 - low``. 5x5: 54 operations per output instead of 118;
    3x3: 12 either way.
    """
    if rows < 2 or columns < 2:
        return None
    median = rows * columns // 2
    program, _ = selection_program(columns, rows, median, True, _MAX_BUILD_PROOF_INPUTS)
    line_sort = 2 * len(merge_exchange_pairs(columns))
    band_cost = _cost(program) + line_sort * (BAND_LINES + rows - 1) / BAND_LINES
    _, line_program, column_program = _box_programs(rows, columns)
    if band_cost >= _cost(line_program) + _cost(column_program):
        return None
    # Values of the shared lines below rank `low` have fewer than `median` values
    # under them even with all of the output's own line, those above `high` more.
    # Pruning the shared program enumerates its 0-1 inputs, (columns + 1) ** (rows - 1):
    # 1296 for 5x5, but too many for 7x7 and 8x5.
    low, high = max(0, median - columns), min(columns * (rows - 1) - 1, median)
    if (columns + 1) ** (rows - 1) > _MAX_PROOF_INPUTS:
        return program, None
    shared, _ = _merge_program([columns] * (rows - 1), list(range(low, high + 1)))
    final, _ = _merge_program([high - low + 1, columns], [median - low])
    if _cost(shared) / 2 + _cost(final) >= _cost(program):
        return program, None
    return shared, (final, low, high)


def _band_function(rows, columns, program, pair):
    """C++ source of the banded median of one box shape (see _band_program)."""
    name = f"crcx_box_band_{rows}x{columns}"
    # Paired outputs keep one more line: the second output's own.
    n_slots = rows + 1 if pair else rows
    slots = [[f"s{j}_{i}" for i in range(columns)] for j in range(n_slots)]
    median = rows * columns // 2

    def load(line, j):
        # Load the line's values at x .. x + columns - 1 into slot j, sorted: from the
        # image itself inside it, from the extended copy near the edges. The first and
        # last of them cover every extended position of the line: NaN is looked for
        # there (integers never compare unequal to themselves).
        code = [f"p = direct[{line}] && inside ? direct[{line}] + (x - x_before)"
                f" : lines[{line}] + x;"]
        code += [f"memcpy(&{slots[j][dx]}, p + {dx}, sizeof(V));" for dx in range(columns)]
        # The band reads its lines side by side, one vector of each at a time: more
        # streams than the hardware prefetcher follows (4096x4096 3x3, one thread,
        # ms without / with: uint16 3.1-3.5 / 1.7-1.8, float32 6.3-6.9 / 4.0).
        code += [f"__builtin_prefetch(p + {PREFETCH_VECTORS} * lanes);"]
        code += [f"nan |= {slots[j][dx]} != {slots[j][dx]};" for dx in {0, columns - 1}]
        code += [_statement(CE, a, b, f"s{j}_", vector=True) + ";"
                 for a, b in merge_exchange_pairs(columns)]
        return code

    def run(program, sources, result, out):
        # `program` on wires loaded from `sources` (wire -> value), storing wire `result`.
        used = sorted({wire for _, i, j in program for wire in (i, j)} | {result})
        code = ["{"]
        code += [f"    V w{e} = {sources(e)};" for e in used]
        code += [f"    {_statement(op, i, j, 'w', vector=True)};" for op, i, j in program]
        code += [f"    V median = crcx_decode<V, T>(w{result}, encoding);",
                 f"    crcx_store(outs[{out}] + x, median, stream);", "}"]
        return code

    lines = ["template <typename T>",
             f"static bool {name}(T* const* lines, T* const* direct, ptrdiff_t x_before,",
             "        T* const* outs, int n_out, ptrdiff_t width, int encoding, bool stream) {",
             "    typedef typename crcx_vector<T>::type V;",
             "    const ptrdiff_t lanes = sizeof(V) / sizeof(T);",
             "    const T* p;",
             "    decltype(V() != V()) nan = {};",
             "    // Blocks after the first start where the first output line is aligned",
             "    // to a vector: a store that splits two cache lines costs twice (uint16 and",
             "    // float32 3x3, 2048x2048: 12 % of the time). The first and the last block",
             "    // overlap their neighbours instead of running short.",
             "    const ptrdiff_t head = (ptrdiff_t)(-(std::uintptr_t)outs[0] % sizeof(V))",
             "        / (ptrdiff_t)sizeof(T);",
             "    for (ptrdiff_t x0 = head ? head - lanes : 0; x0 < width; x0 += lanes) {",
             "        const ptrdiff_t x = x0 < 0 ? 0 : x0 < width - lanes ? x0 : width - lanes;",
             "        const bool inside = x >= x_before",
             f"            && x + lanes + {columns - 1} <= x_before + width;",
             "        V " + ", ".join(v for slot in slots for v in slot) + ";"]
    # The lines above the first output's last one go where the first step of the
    # loop shifts them from.
    step = 2 if pair else 1
    for j in range(rows - 1):
        lines += ["        " + c for c in load(str(j), j + step)]
    # A ptrdiff_t counter: an int one is sign-extended again at every use under
    # Python's -fwrapv (uint16 3x3: 4 % of the time).
    lines += [f"        for (ptrdiff_t y = 0; y < n_out; y += {step}) {{"]
    lines += [f"            {slots[j][i]} = {slots[j + step][i]};"
              for j in range(rows - 1) for i in range(columns)]
    lines += ["            " + c for c in load(f"y + {rows - 1}", rows - 1)]
    if pair:
        final, low, high = pair
        shared_wires = sorted({wire for _, i, j in program for wire in (i, j)}
                              | set(range(low, high + 1)))
        lines += [f"            V h{w} = {slots[1 + w // columns][w % columns]};"
                  for w in shared_wires]
        lines += [f"            {_statement(op, i, j, 'h', vector=True)};"
                  for op, i, j in program]

        def own(slot):
            # The final program's wires: the shared ranks, then the line in `slot`.
            count = high - low + 1
            return lambda e: f"h{low + e}" if e < count else slots[slot][e - count]
        lines += ["            " + c for c in run(final, own(0), median - low, "y")]
        lines += ["            if (y + 1 < n_out) {"]
        lines += ["                " + c for c in load(f"y + {rows}", rows)]
        lines += ["                " + c for c in run(final, own(rows), median - low, "y + 1")]
        lines += ["            }"]
    else:
        lines += ["            " + c
                  for c in run(program, lambda e: slots[e % rows][e // rows], median, "y")]
    lines += ["        }", "    }",
              "    crcx_store_fence(stream);",
              "    for (ptrdiff_t i = 0; i < lanes; ++i)",
              "        if (nan[i]) return true;",
              "    return false;", "}"]
    return "\n".join(lines)


def _tree_function(size):
    """C++ source of the shared-runs median of a `size` x `size` box (tree_stages)."""
    spans, stages, (offsets, parts, final) = tree_stages(size)
    final_program, final_reads = final
    # Columns past a block's n outputs that each stage's runs must cover.
    extra = {len(spans) - 1: 0}
    level_of = {span: level for level, span in enumerate(spans)}
    for offset, span in zip(offsets, parts):
        level = level_of[span]
        extra[level] = max(extra.get(level, 0), offset + 1)
    for level in reversed(range(1, len(spans))):
        extra[level - 1] = max(extra.get(level - 1, 0), extra[level] + spans[level - 1])
    # Each run's array starts on a 64-byte boundary (16 values of 4 bytes or more).
    stride = (TREE_BLOCK + max(extra.values()) + 15) // 16 * 16
    name = f"crcx_box_tree_{size}x{size}"
    lines = ["template <typename T>",
             f"static void {name}(T* const* rows, T* sorted, ptrdiff_t length,",
             "        ptrdiff_t width, T* __restrict__ out) {"]
    lines += [f"    const T* __restrict__ r{j} = rows[{j}];" for j in range(size)]
    slot = 0
    for level, (_, kept) in enumerate(stages):
        for k in range(len(kept)):
            lines.append(f"    T* __restrict__ a{level}_{k} = sorted + {slot * stride};")
            slot += 1
    lines += [f"    for (ptrdiff_t x0 = 0; x0 < width; x0 += {TREE_BLOCK}) {{",
              f"        const ptrdiff_t n = width - x0 < {TREE_BLOCK} ? width - x0 : {TREE_BLOCK};"]

    def body(loop, count, loads, program, stores):
        out = ["        #pragma GCC ivdep",
               f"        for (ptrdiff_t {loop} = 0; {loop} < {count}; ++{loop}) {{"]
        out += [f"            T w{wire} = {source};" for wire, source in loads]
        out += [f"            {_statement(op, i, j, 'w')};" for op, i, j in program]
        out += [f"            {target} = w{wire};" for target, wire in stores]
        return out + ["        }"]

    for level, (program, kept) in enumerate(stages):
        stores = [(f"a{level}_{k}[c]", wire) for k, wire in enumerate(kept)]
        if level == 0:
            loads = [(j, f"r{j}[x0 + c]") for j in range(size)]
        else:
            half = size * spans[level - 1]
            index = {wire: k for k, wire in enumerate(stages[level - 1][1])}
            reads = sorted({w for _, i, j in program for w in (i, j)} | set(kept))
            loads = [(w, f"a{level - 1}_{index[w % half]}"
                         f"[c + {spans[level - 1] if w >= half else 0}]") for w in reads]
        lines += body("c", f"n + {extra[level]}", loads, program, stores)
    loads, start = [], 0
    for offset, span in zip(offsets, parts):
        level = level_of[span]
        index = {wire: k for k, wire in enumerate(stages[level][1])}
        loads += [(w, f"a{level}_{index[w - start]}[x + {offset}]") for w in final_reads
                  if start <= w < start + size * span]
        start += size * span
    lines += body("x", "n", loads, final_program, [("out[x0 + x]", size * size // 2)])
    lines += ["    }", "}"]
    return "\n".join(lines), slot * stride


# The x86 instructions of float and double min and max for each CRCX_VECTOR_BYTES:
# (macro of the level that has them, prefix of the intrinsics, float and double
# register types). Each is one instruction; GCC writes a < b ? a : b on floats as a
# compare and a blend.
_FLOAT_MIN_MAX = (("__AVX512F__", "_mm512", "__m512", "__m512d"),
                  ("__AVX2__", "_mm256", "__m256", "__m256d"),
                  ("__SSE2__", "_mm", "__m128", "__m128d"))


def _float_min_max():
    """Lines of the header that specialise crcx_vmin and crcx_vmax for float and
    double vectors to the min and max instructions of the vector width, and define
    CRCX_FLOAT_BANDS where they exist."""
    lines = []
    for level, (macro, prefix, single, double) in enumerate(_FLOAT_MIN_MAX):
        lines += [f"#{'el' if level else ''}if defined({macro})",
                  "#include <immintrin.h>",
                  "#define CRCX_FLOAT_BANDS 1"]
        for T, register, suffix in (("float", single, "ps"), ("double", double, "pd")):
            for name in ("min", "max"):
                lines += [f"template <> inline crcx_vector<{T}>::type crcx_v{name}("
                          f"crcx_vector<{T}>::type a,",
                          f"        crcx_vector<{T}>::type b) {{",
                          f"    return (crcx_vector<{T}>::type){prefix}_{name}_{suffix}"
                          f"(({register})a, ({register})b);",
                          "}"]
    return lines + ["#endif"]


def box_median_source():
    """C++ header with a straight-line median for every box in GENERATED_BOXES.

    Every wire is a local variable, so the compiler keeps the window in vector
    registers and vectorises across the line; an interpreted network would instead
    store and reload each wire at every step. Boxes where sharing sorted lines down
    a band saves work also get a banded kernel on vectors of CRCX_VECTOR_BYTES (GCC/Clang
    vector extensions; other compilers use the line kernels). Written by setup.py at build
    time.
    """
    bands = {box: _band_program(*box) for box in GENERATED_BOXES}
    bands = {box: program for box, program in bands.items() if program is not None}
    parts = [
        "// Generated by crcx/_rank/_selection_network.py at build time; do not edit.",
        "#include <stddef.h>",
        "#include <cstdint>",
        "#include <cstring>",
        "#include <type_traits>",
        "#define CRCX_CE(a, b) { auto t_ = a < b ? a : b; b = a < b ? b : a; a = t_; }",
        "#define CRCX_MIN(a, b) { a = a < b ? a : b; }",
        "#define CRCX_MAX(a, b) { b = a < b ? b : a; }",
        f"#define CRCX_BAND_LINES {BAND_LINES}",
        "// Operation codes of the programs that selection_program returns.",
        f"#define CRCX_OP_CE {CE}",
        f"#define CRCX_OP_MIN {MIN}",
        f"#define CRCX_OP_MAX {MAX}",
    ]
    scratch = {}
    for rows, columns in GENERATED_BOXES:
        parts.append(_box_function(rows, columns))
        if (rows, columns) in TREE_BOXES:
            source, scratch[rows * 16 + columns] = _tree_function(rows)
            parts.append(source)

    def call(rows, columns):
        plain = f"crcx_box_median_{rows}x{columns}(rows, sorted, length, width, out)"
        if (rows, columns) not in TREE_BOXES:
            return plain
        return (f"if (sizeof(T) >= {TREE_MIN_KEY_BYTES}) crcx_box_tree_{rows}x{columns}"
                f"(rows, sorted, length, width, out); else {plain}")
    cases = [f"        case {rows * 16 + columns}: {call(rows, columns)}; return 1;"
             for rows, columns in GENERATED_BOXES]
    parts += ["template <typename T>",
              "static inline int crcx_box_median(T* const* rows, T* sorted, ptrdiff_t length,",
              "        ptrdiff_t width, T* out, int n_rows, int n_columns) {",
              "    switch (n_rows * 16 + n_columns) {", *cases,
              "        default: return 0;", "    }", "}",
              "// Scratch values beyond the sorted rows that a box's median needs.",
              "static inline ptrdiff_t crcx_box_scratch(int n_rows, int n_columns) {",
              "    switch (n_rows * 16 + n_columns) {",
              *[f"        case {key}: return {value};" for key, value in scratch.items()],
              "        default: return 0;", "    }", "}"]
    parts += ["#if defined(__GNUC__)",
              "// A vector is one register of the target, so that a window's wires stay in",
              "// registers as far as they go: a wider one takes several registers each and",
              "// spills (benchmarks/results/portable.md).",
              "#if defined(__AVX512F__)",
              "#define CRCX_VECTOR_BYTES 64",
              "#elif defined(__AVX2__)",
              "#define CRCX_VECTOR_BYTES 32",
              "#else",
              "#define CRCX_VECTOR_BYTES 16",
              "#endif",
              "template <typename T> struct crcx_vector {",
              "    typedef T type __attribute__((vector_size(CRCX_VECTOR_BYTES)));", "};",
              "// The values of keys (crcx/_keys.pxd; encoding 1: signed, 2: float), decoded",
              "// as they are stored rather than in another pass over the line.",
              "// Floating-point T are values already: the kernels then compare floats.",
              "template <typename V, typename T>",
              "static inline V crcx_decode(V key, int encoding) {",
              "    if constexpr (std::is_integral<T>::value) {",
              "        const T sign = (T)((T)1 << (8 * sizeof(T) - 1));",
              "        if (encoding == 1) return key ^ sign;",
              "        if (encoding == 2) return (key & sign) != 0 ? key ^ sign : ~key;",
              "    }",
              "    return key;", "}",
              "// min and max of vectors: for floats the instructions themselves (GCC",
              "// writes a < b ? a : b as a compare and a blend), which agree with it",
              "// but for which of -0.0 and +0.0 they return; for integers the select.",
              "template <typename V> static inline V crcx_vmin(V a, V b) { return a < b ? a : b; }",
              "template <typename V> static inline V crcx_vmax(V a, V b) { return a < b ? b : a; }",
              *_float_min_max(),
              "#define CRCX_VCE(a, b) { auto t_ = crcx_vmin(a, b); b = crcx_vmax(a, b); a = t_; }",
              "#define CRCX_VMIN(a, b) { a = crcx_vmin(a, b); }",
              "#define CRCX_VMAX(a, b) { b = crcx_vmax(a, b); }",
              "// Store one vector of outputs; with `stream`, where it fills a cache line,",
              "// past the caches (non-temporal): an output larger than the caches then",
              "// costs no read of each line before it is written.",
              "template <typename V>",
              "static inline void crcx_store(void* out, V value, bool stream) {",
              "#if defined(__AVX512F__)",
              "    if (stream && ((std::uintptr_t)out & 63) == 0) {",
              "        _mm512_stream_si512((__m512i*)out, (__m512i)value);",
              "        return;",
              "    }",
              "#else",
              "    (void)stream;",
              "#endif",
              "    memcpy(out, &value, sizeof(V));",
              "}",
              "// Streamed stores are weakly ordered: make them visible before what follows.",
              "static inline void crcx_store_fence(bool stream) {",
              "#if defined(__AVX512F__)",
              "    if (stream) _mm_sfence();",
              "#else",
              "    (void)stream;",
              "#endif",
              "}"]
    parts += [_band_function(rows, columns, *programs)
              for (rows, columns), programs in bands.items()]
    band_cases = [f"        case {rows * 16 + columns}: return crcx_box_band_{rows}x{columns}"
                  f"(lines, direct, x_before, outs, n_out, width, encoding, stream);"
                  for rows, columns in bands]
    available = [f"        case {rows * 16 + columns}:" for rows, columns in bands]
    parts += ["#endif",
              "// Whether the banded kernels compare floats as floats (where min and max",
              "// are one instruction each; a compare and a blend cost more than keys).",
              "#ifndef CRCX_FLOAT_BANDS",
              "#define CRCX_FLOAT_BANDS 0",
              "#endif",
              "// Whether crcx_box_median_band has a kernel for this box and line width.",
              "static inline int crcx_box_band_available(ptrdiff_t width_bytes, int n_rows,",
              "        int n_columns) {",
              "#if defined(__GNUC__)",
              "    if (width_bytes < CRCX_VECTOR_BYTES) return 0;",
              "    switch (n_rows * 16 + n_columns) {", *available,
              "            return 1;", "        default: return 0;", "    }",
              "#else",
              "    return 0;",
              "#endif",
              "}",
              "// Median values of `n_out` output lines from the keys (or float values) of",
              "// the band's n_out + n_rows - 1 input lines: `lines` are their extended",
              "// copies, read near the edges; `direct` the lines themselves (extended",
              "// x_before is their first value), read elsewhere where not NULL. Returns",
              "// whether a float value was NaN: the outputs are then not the medians.",
              "// `stream`: store the outputs past the caches (see crcx_store).",
              "template <typename T>",
              "static inline bool crcx_box_median_band(T* const* lines, T* const* direct,",
              "        ptrdiff_t x_before, T* const* outs, int n_out, ptrdiff_t width,",
              "        int n_rows, int n_columns, int encoding, bool stream) {",
              "#if defined(__GNUC__)",
              "    switch (n_rows * 16 + n_columns) {", *band_cases, "    }",
              "#endif",
              "    return false;",
              "}"]
    return "\n".join(parts) + "\n"
