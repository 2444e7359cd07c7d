// Runs the functions of crcx/include/crcx/crc/order.h on cases read from stdin, one
// per line, and prints one result line per case, for tests/test_crc_order.py to
// compare with NumPy:
//
//   sort N V...              the N values, sorted (N = 24 and 26 take the networks)
//   kth K CENTRE N V...      the K-th smallest |V - CENTRE|, V given sorted
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "crcx/crc/order.h"

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
            std::vector<double> values = read_values(in);
            crcx_sort_few(values.data(), (std::ptrdiff_t)values.size());
            for (double v : values)
                std::printf("%.17g ", v);
        } else if (command == "kth") {
            std::ptrdiff_t k;
            std::string centre;
            in >> k >> centre;
            std::vector<double> values = read_values(in);
            std::printf("%.17g", crcx_kth_distance(values.data(),
                                                   (std::ptrdiff_t)values.size(), k,
                                                   std::stod(centre)));
        } else {
            std::fprintf(stderr, "unknown command %s\n", command.c_str());
            return 1;
        }
        std::printf("\n");
    }
    return 0;
}
