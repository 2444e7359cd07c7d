// Runs functions of crcx/include/crcx/median/ on cases read from stdin, one per line,
// and prints one result line per case, for tests/test_headers.py to compare
// with NumPy:
//
//   select_byte RANK N V...        the byte of rank RANK among N bytes
//   select_bit WORD N              position of the set bit of WORD with N set bits below
//   lanes OP A[CRCX_LANES] B[...]  crcx_lanes_ce, _min or _max on int32 lanes: A then B
//   columns KEY_SIZE FY FX RANK N V...   medians of a strip of N columns of FY keys
//                                  (column-major), windows of FX columns
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "crcx/median/bits.h"
#include "crcx/median/columns.h"
#include "crcx/median/lanes.h"

static void select_byte(std::istringstream& in) {
    unsigned rank;
    ptrdiff_t n;
    in >> rank >> n;
    std::vector<uint8_t> values(n);
    for (auto& v : values) {
        unsigned value;
        in >> value;
        v = (uint8_t)value;
    }
    std::cout << crcx_select_byte(values.data(), n, rank) << "\n";
}

static void select_bit(std::istringstream& in) {
    uint64_t word;
    int n;
    in >> word >> n;
    std::cout << crcx_select_bit(word, n) << "\n";
}

static void lanes(std::istringstream& in) {
    std::string op;
    int32_t a[CRCX_LANES], b[CRCX_LANES];
    in >> op;
    for (auto& v : a) in >> v;
    for (auto& v : b) in >> v;
    if (op == "ce") crcx_lanes_ce(a, b);
    else if (op == "min") crcx_lanes_min(a, b);
    else crcx_lanes_max(a, b);
    for (auto v : a) std::cout << v << " ";
    for (auto v : b) std::cout << v << " ";
    std::cout << "\n";
}

// As crcx/_columns.pxd's columns_line counts a strip anew, then the medians.
template <typename T>
static void columns_medians(ptrdiff_t fy, ptrdiff_t fx, unsigned rank, ptrdiff_t n,
                            const std::vector<unsigned>& keys) {
    crcx_columns s;
    const ptrdiff_t bytes = crcx_columns_place(&s, NULL, n, fy, sizeof(T));
    void* base = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    crcx_columns_place(&s, (char*)base, n, fy, sizeof(T));
    crcx_columns_clear(&s, n);
    const int shift = 8 * sizeof(T) - 8;
    for (ptrdiff_t i = 0; i < n; ++i) {
        for (ptrdiff_t j = 0; j < fy; ++j) {
            const unsigned key = keys[i * fy + j];
            crcx_column_add(&s, i, key >> shift);
            if (sizeof(T) == 2) {
                s.high[i * fy + j] = (uint8_t)(key >> 8);
                s.low[i * fy + j] = (uint8_t)(key & 255);
            }
        }
    }
    std::vector<T> out(n - fx + 1);
    crcx_columns_medians(&s, n - fx + 1, fx, fy, rank, out.data());
    for (auto v : out) std::cout << (unsigned)v << " ";
    std::cout << "\n";
    std::free(base);
}

static void columns(std::istringstream& in) {
    int key_size;
    ptrdiff_t fy, fx, n;
    unsigned rank;
    in >> key_size >> fy >> fx >> rank >> n;
    std::vector<unsigned> keys(n * fy);
    for (auto& v : keys) in >> v;
    if (key_size == 1) columns_medians<uint8_t>(fy, fx, rank, n, keys);
    else columns_medians<uint16_t>(fy, fx, rank, n, keys);
}

int main() {
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string name;
        in >> name;
        if (name == "select_byte") select_byte(in);
        else if (name == "select_bit") select_bit(in);
        else if (name == "lanes") lanes(in);
        else if (name == "columns") columns(in);
        else return 2;
    }
    return 0;
}
