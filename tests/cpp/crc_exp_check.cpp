// Runs crcx_exp_minus of crcx/include/crcx/crc/exp.h on the values t read from stdin,
// one line of them, in a loop the compiler may vectorise as the kernel's does, and
// prints each exp(-t) to 17 significant digits on a line of its own, for
// tests/test_headers.py to compare with math.exp.
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "crcx/crc/exp.h"

int main()
{
    std::vector<double> t;
    std::string token;
    while (std::cin >> token)   // std::stod, unlike >>, reads "inf" too
        t.push_back(std::stod(token));
    std::vector<double> result(t.size());
    for (std::size_t i = 0; i < t.size(); ++i)
        result[i] = crcx_exp_minus(t[i]);
    for (double value : result)
        std::printf("%.17g\n", value);
    return 0;
}
