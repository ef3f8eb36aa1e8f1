/* pt_rng.h: explicit, seeded random streams. Each purpose (init, split,
 * shuffle, ...) draws from its own stream derived from the config's seed, so
 * changing how one purpose uses randomness never shifts another's numbers.
 * Generator: xoshiro256**, seeded through splitmix64. No global state. */
#ifndef PT_RNG_H
#define PT_RNG_H

#include <stdint.h>

typedef enum { PT_STREAM_INIT = 1, PT_STREAM_SPLIT, PT_STREAM_SHUFFLE, PT_STREAM_SWEEP } pt_stream;

typedef struct pt_rng {
    uint64_t s[4];
} pt_rng;

void pt_rng_seed(pt_rng *r, uint64_t seed, pt_stream stream);
uint64_t pt_rng_u64(pt_rng *r);
double pt_rng_uniform(pt_rng *r);                 /* [0, 1) with 53 random bits */
uint64_t pt_rng_below(pt_rng *r, uint64_t n);     /* uniform in [0, n), unbiased; n > 0 */
double pt_rng_normal(pt_rng *r);                  /* standard normal (Box-Muller, no cached spare) */
void pt_rng_shuffle(pt_rng *r, int *a, int n);    /* Fisher-Yates */

#endif
