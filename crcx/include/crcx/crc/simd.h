// CRCX_SIMD, put before a loop over vector lanes: `omp simd` where OpenMP is on, which
// makes the compiler vectorise that loop rather than another; nothing in a build
// without OpenMP, where the loops stay correct and the pragma would be unknown.
#ifndef CRCX_CRC_SIMD_H
#define CRCX_CRC_SIMD_H

#if defined(_OPENMP)
#define CRCX_SIMD _Pragma("omp simd")
#else
#define CRCX_SIMD
#endif

#endif  // CRCX_CRC_SIMD_H
