// exp(-t) for t >= 0 in straight-line arithmetic, for the non-local mean's weights in
// crcx/_crc/_stages.pyx: loops over it vectorise, which libm's exp does not allow.
// Cody-Waite reduction by ln 2 and a degree-13 Taylor polynomial, within 3e-16
// relative of exp. The power of two is made as the product of two halves, each a
// normal double, so that results in the subnormal range and the underflow to 0 (near
// t = 745) happen where libm's do: a weight that is exactly 0 matters downstream.
// Two halves cost a multiply; a branch on the range, or a blend of two ranges, cost
// the vectorised loop about as much as the polynomial (benchmarks/results/design.md).
#ifndef CRCX_CRC_EXP_H
#define CRCX_CRC_EXP_H

#include <cmath>
#include <cstdint>
#include <cstring>

// 2^k for an integral k in [-1022, 1023], from the bits of k + 1.5 * 2^52 (exact),
// whose mantissa ends in k: an integer add and shift. Converting k to an integer
// instead keeps the loop scalar below AVX-512, which first converts doubles to 64-bit
// integers in vectors.
static inline double crcx_exp2_integral(double k)
{
    const double shifted = k + 6755399441055744.0;
    std::uint64_t bits;
    std::memcpy(&bits, &shifted, sizeof bits);
    bits = (bits + 1023) << 52;
    double scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return scale;
}

static inline double crcx_exp_minus(double t)
{
    // past 746 every result is 0; k then stays within twice the halves' range
    const double x = -(t < 746.0 ? t : 746.0);
    const double k = std::floor(x * 1.4426950408889634 + 0.5);
    const double r = (x - k * 0.6931471803691238) - k * 1.9082149292705877e-10;
    // p = 1 + (r + r^2 tail), tail(r) = 1/2 + r/6 + ... + r^11/13! by Estrin's scheme:
    // shorter chains of dependent operations than Horner's, which the loop waits on
    const double r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
    const double a0 = 0.5 + r * (1.0 / 6.0), a1 = 1.0 / 24.0 + r * (1.0 / 120.0);
    const double a2 = 1.0 / 720.0 + r * (1.0 / 5040.0);
    const double a3 = 1.0 / 40320.0 + r * (1.0 / 362880.0);
    const double a4 = 1.0 / 3628800.0 + r * (1.0 / 39916800.0);
    const double a5 = 1.0 / 479001600.0 + r * (1.0 / 6227020800.0);
    const double tail = ((a0 + r2 * a1) + r4 * (a2 + r2 * a3)) + r8 * (a4 + r2 * a5);
    const double p = 1.0 + (r + r2 * tail);
    const double half = std::floor(k * 0.5);
    return p * crcx_exp2_integral(half) * crcx_exp2_integral(k - half);
}

#endif  // CRCX_CRC_EXP_H
