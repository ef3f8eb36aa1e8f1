/* pt_model.h: a multilayer perceptron as one flat parameter buffer with a
 * view per layer, its initialisation, and the model.bin file format.
 * It allocates only when created; nothing here runs per step.
 *
 * Layout in memory (why: the kernels vectorise over a layer's outputs):
 * layer l maps in -> out; its outputs are padded to outp = round_up(out, 16)
 * lanes. Its weights are stored transposed, wt[k * outp + o] = W[o][k]
 * (k < in, o < outp), followed by its biases b[o] (o < outp). Padding lanes
 * hold zeros and receive zero gradients, so they stay zero under every
 * optimiser. The flat buffer is the concatenation of the layers, so zeroing,
 * reducing, updating and checksumming are single loops over n_params floats.
 *
 * model.bin (little-endian), version 1:
 *   char magic[8] = "PTRMODEL"; u32 version = 1; u32 n_layers (weight layers);
 *   u32 sizes[n_layers + 1] (input, hidden..., output); u32 activation
 *   (pt_act_kind); u32 output (pt_out_kind);
 *   then for each layer: W as out x in float32, row-major (W[o][k], the math
 *   convention, no padding), then b as out float32;
 *   u32 crc32 (zlib) of every preceding byte. */
#ifndef PT_MODEL_H
#define PT_MODEL_H

#include <stddef.h>

#include "pt_common.h"
#include "pt_config.h"
#include "pt_rng.h"

#define PT_LANES 16 /* floats per 64-byte vector: outputs are padded to this */
#define PT_MAX_LAYERS (PT_MAX_HIDDEN + 1)

typedef struct pt_layer {
    int in, out, outp;   /* outp = out rounded up to PT_LANES */
    size_t off_w, off_b; /* offsets of wt and b in the flat buffer */
} pt_layer;

typedef struct pt_model {
    int n_layers;                    /* weight layers: hidden layers + output layer */
    pt_layer layer[PT_MAX_LAYERS];
    pt_act_kind act;                 /* hidden activation */
    pt_out_kind out;                 /* output non-linearity and its loss */
    size_t n_params;                 /* floats in the flat buffer, padding included */
    size_t n_real;                   /* parameters a user would count (no padding) */
    float *params;                   /* 64-byte aligned */
} pt_model;

/* sizes[0] = inputs, sizes[1..n_layers-1] = hidden widths, sizes[n_layers] = outputs. */
int pt_model_create(pt_model *m, int n_layers, const int *sizes, pt_act_kind act, pt_out_kind out,
                    pt_err *err);
void pt_model_free(pt_model *m);

/* Weights drawn per the init kind (normal: N(0, scale^2); xavier: N(0, 2/(in+out));
 * he: N(0, 2/in)), biases zero, padding zero. */
void pt_model_init(pt_model *m, pt_init_kind init, double scale, pt_rng *rng);

/* W[o][k] and b[o] of layer l, whatever the internal layout. */
static inline float *pt_model_w(const pt_model *m, int l, int o, int k)
{
    const pt_layer *L = &m->layer[l];
    return m->params + L->off_w + (size_t)k * (size_t)L->outp + (size_t)o;
}
static inline float *pt_model_b(const pt_model *m, int l, int o)
{
    return m->params + m->layer[l].off_b + (size_t)o;
}

/* Atomic write (temporary file + rename). */
int pt_model_save(const pt_model *m, const char *path, pt_err *err);
/* Creates m from the file; checks magic, version, sizes, length and crc. */
int pt_model_load(pt_model *m, const char *path, pt_err *err);

#endif
