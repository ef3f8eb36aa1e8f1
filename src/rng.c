/* rng.c: xoshiro256** (Blackman & Vigna) seeded by splitmix64, plus the
 * draws the trainer needs. Deterministic across platforms: integer arithmetic
 * only, except the normal draw, which uses libm log/cos/sqrt in double. */
#include "pt_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void pt_rng_seed(pt_rng *r, uint64_t seed, pt_stream stream)
{
    /* Mixing the stream id through splitmix64 gives unrelated sequences for
     * (seed, stream) pairs that differ in either. */
    uint64_t x = seed ^ (0xD1B54A32D192ED03ull * (uint64_t)stream);
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

uint64_t pt_rng_u64(pt_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double pt_rng_uniform(pt_rng *r)
{
    return (double)(pt_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t pt_rng_below(pt_rng *r, uint64_t n)
{
    /* Rejection on the top of the range keeps every value equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = pt_rng_u64(r);
    while (x >= limit);
    return x % n;
}

double pt_rng_normal(pt_rng *r)
{
    double u1 = 1.0 - pt_rng_uniform(r); /* (0, 1]: log is finite */
    double u2 = pt_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

void pt_rng_shuffle(pt_rng *r, int *a, int n)
{
    for (int i = n - 1; i > 0; i--) {
        int j = (int)pt_rng_below(r, (uint64_t)i + 1);
        int t = a[i];
        a[i] = a[j];
        a[j] = t;
    }
}
