/*
 * The x86-64 instruction-set level of this CPU (the psABI's x86-64-v2, -v3, -v4), for
 * crcx/_runtime/isa.py, which loads the hot modules built for the best level the CPU
 * runs. Each level's features are asked one by one (GCC and Clang know them all), with
 * the OS's support of the wider registers, which __builtin_cpu_supports includes.
 */
#ifndef CRCX_ISA_H
#define CRCX_ISA_H

/* 1 (x86-64) to 4 (x86-64-v4); 0 where the CPU is not x86-64 or the compiler cannot
   tell. */
static inline int crcx_isa_level(void)
{
#if (defined(__GNUC__) || defined(__clang__)) && defined(__x86_64__)
    __builtin_cpu_init();
    if (!(__builtin_cpu_supports("ssse3") && __builtin_cpu_supports("sse4.1")
          && __builtin_cpu_supports("sse4.2") && __builtin_cpu_supports("popcnt")))
        return 1;
    if (!(__builtin_cpu_supports("avx") && __builtin_cpu_supports("avx2")
          && __builtin_cpu_supports("fma") && __builtin_cpu_supports("bmi")
          && __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("lzcnt")
          && __builtin_cpu_supports("movbe") && __builtin_cpu_supports("f16c")))
        return 2;
    if (!(__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw")
          && __builtin_cpu_supports("avx512cd") && __builtin_cpu_supports("avx512dq")
          && __builtin_cpu_supports("avx512vl")))
        return 3;
    return 4;
#else
    return 0;
#endif
}

#endif /* CRCX_ISA_H */
