/* pt_data.h: IDX files (plain or gzip) and the in-memory dataset.
 * Images stay uint8, stored once; float conversion happens per shard in the
 * training step (through pt_input_map), so memory stays near the raw size.
 * Splits are index lists into the one copy, never copies of the data. */
#ifndef PT_DATA_H
#define PT_DATA_H

#include <stdint.h>

#include "pt_common.h"
#include "pt_config.h"

/* IDX element type codes (the third header byte). */
enum { PT_IDX_U8 = 0x08, PT_IDX_I8 = 0x09, PT_IDX_I16 = 0x0B, PT_IDX_I32 = 0x0C,
       PT_IDX_F32 = 0x0D, PT_IDX_F64 = 0x0E };

#define PT_IDX_MAX_DIMS 4
/* Largest payload accepted, so a corrupt header cannot ask for absurd memory. */
#define PT_IDX_MAX_BYTES ((uint64_t)1 << 32)

typedef struct pt_idx {
    int type;                         /* PT_IDX_* */
    int ndim;
    uint32_t dims[PT_IDX_MAX_DIMS];   /* dims[0] = number of items */
    uint64_t n_bytes;                 /* payload size */
    uint32_t crc32;                   /* zlib crc32 of the decompressed file, header included */
    uint8_t *data;                    /* payload, host order for multi-byte types */
} pt_idx;

/* Read and fully validate an IDX file; gzip is detected by its magic bytes,
 * not by the file name. Errors name the path, the byte offset and what was
 * expected (magic, type, dimensions, exact length). */
int pt_idx_read(const char *path, pt_idx *out, pt_err *err);
void pt_idx_free(pt_idx *idx);

typedef struct pt_dataset {
    int n;              /* samples */
    int dim;            /* features per sample (784 for MNIST) */
    int rows, cols;     /* image shape, for pictures (cols = dim, rows = 1 when 1-D) */
    int n_classes;      /* 1 + largest label; at least 2 */
    uint8_t *x;         /* n * dim, row-major */
    uint8_t *y;         /* n */
    uint32_t crc_images, crc_labels;
} pt_dataset;

/* Load an images file (u8, 2-D or 3-D) and a labels file (u8, 1-D) and check
 * that they agree in count. */
int pt_dataset_load(pt_dataset *ds, const char *images_path, const char *labels_path, pt_err *err);
void pt_dataset_free(pt_dataset *ds);

/* How a uint8 feature becomes a float: v * scale + shift. An affine map
 * (not a table) so the per-shard conversion is a few vector instructions.
 * scale: mean 0, std 255 (v / 255); standardize: mean and population std of
 * every pixel of the listed training samples (raw 0..255 units). */
typedef struct pt_input_map {
    float scale, shift;   /* scale = 1/std, shift = -mean/std */
    double mean, std;
} pt_input_map;

void pt_input_map_fit(pt_prep_kind kind, const pt_dataset *ds, const int *idx, int n,
                      pt_input_map *map);

#endif
