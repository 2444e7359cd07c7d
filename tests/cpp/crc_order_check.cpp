// Runs the functions of crcx/include/crcx/crc/order.h on cases read from stdin, one
// per line, and prints one result line per case, for tests/test_headers.py to
// compare with NumPy:
//
//   sort N V...              the N values, sorted side by side in every lane, each lane
//                            holding them rotated by its index (N = 24 and 26 take the
//                            networks); lane 0's result, or "lanes differ"
//   kth K CENTRE N V...      the K-th smallest |V - CENTRE|, V given sorted, from the
//                            count of values below the centre that crcx_count_below
//                            gives
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "crcx/crc/order.h"

constexpr int L = CRCX_NEIGHBOURHOODS;

static std::vector<double> read_values(std::istringstream& in)
{
    std::ptrdiff_t n;
    in >> n;
    std::vector<double> values(n);
    std::string token;
    for (auto& v : values) {   // std::stod, unlike >>, reads "inf" too
        in >> token;
        v = std::stod(token);
    }
    return values;
}

int main()
{
    std::string line;
    while (std::getline(std::cin, line)) {
        std::istringstream in(line);
        std::string command;
        in >> command;
        if (command == "sort") {
            const std::vector<double> values = read_values(in);
            const std::ptrdiff_t n = (std::ptrdiff_t)values.size();
            std::vector<double> lanes(n * L);
            for (std::ptrdiff_t i = 0; i < n; i++)
                for (int t = 0; t < L; t++)
                    lanes[i * L + t] = values[(i + t) % n];
            crcx_sort_lanes(lanes.data(), n);
            bool same = true;
            for (std::ptrdiff_t i = 0; i < n; i++)
                for (int t = 1; t < L; t++)
                    same = same && lanes[i * L + t] == lanes[i * L];
            if (!same)
                std::printf("lanes differ");
            for (std::ptrdiff_t i = 0; same && i < n; i++)
                std::printf("%.17g ", lanes[i * L]);
        } else if (command == "kth") {
            std::ptrdiff_t k;
            std::string centre;
            in >> k >> centre;
            const std::vector<double> values = read_values(in);
            const std::ptrdiff_t n = (std::ptrdiff_t)values.size();
            std::vector<double> lanes(n * L), centres(L, std::stod(centre));
            for (std::ptrdiff_t i = 0; i < n; i++)
                for (int t = 0; t < L; t++)
                    lanes[i * L + t] = values[i];
            std::ptrdiff_t below[L];
            crcx_count_below(lanes.data(), n, centres.data(), below);
            std::printf("%.17g", crcx_kth_distance(values.data(), n, k, centres[0], below[0]));
        } else {
            std::fprintf(stderr, "unknown command %s\n", command.c_str());
            return 1;
        }
        std::printf("\n");
    }
    return 0;
}
