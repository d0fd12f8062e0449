/* vexp: exp(x) for float loops the compiler can vectorize (libm's expf is a
 * call it cannot), for the exponentials of softmax, cross-entropy and SiLU.
 *
 * Range reduction x = n·ln2 + r (|r| <= ln2/2, ln2 split in two parts so
 * n·ln2 is exact), a degree-6 polynomial for exp(r) (Cephes' expf
 * coefficients), and 2ⁿ put into the exponent bits. Within 2 ulp of exp
 * where the result is a normal float; below 2⁻¹²⁶ (x < -87.3) it is 0, and
 * from x = 88.38 on inf (a little early: exp(88.72) still fits a float).
 * NaN stays NaN; exp(-inf) is NaN here, not 0 (callers pass finite values;
 * |x| must stay below 1e9). No table and no float branch, so
 * "#pragma omp simd" loops vectorize it.
 *
 * Not here: double precision, correctly rounded results. */
#ifndef FT_NN_VEXP_H
#define FT_NN_VEXP_H

#include <stdint.h>
#include <string.h>

static inline float ft_vexp(float x)
{
    /* n = round(x / ln2) by the 1.5·2²³ trick; r = x − n·ln2 */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;

    /* exp(r) ≈ 1 + r + r²·p(r) */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    float y = p * r * r + r + 1.0f;

    /* 2ⁿ from the exponent bits: 0 below the normal range, inf above */
    int32_t e = (int32_t)n + 127;
    int32_t bits = e < 1 ? 0 : e > 254 ? 0x7f800000 : e << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return y * scale + (x - x);   /* + 0, or NaN for NaN */
}

#endif
