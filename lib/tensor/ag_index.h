/* ag_index.h: the shape and indexing op family of the tensor library: index_select, gather,
 * scatter, index_add, masked ops, cat/stack/split/unbind, flip, roll, tril/triu, diag,
 * diagonal, one_hot, pad, repeat and embedding. No gradients here (see ag_index_grad.h).
 *
 * Conventions are ag_tensor.h's: results are new references or NULL with ag_last_error();
 * dims are 1-based with negative counting from the end, and so are the values of index
 * tensors (int64 or int32): an index i picks element i of its dimension, 1 <= i <= size.
 * In-place forms end in _ and return 0 or -1. */
#ifndef AG_INDEX_H
#define AG_INDEX_H
#include "ag_tensor.h"

/* AG_FFI_BEGIN */
typedef enum { AG_SCATTER_REPLACE = 0, AG_SCATTER_ADD = 1, AG_SCATTER_MULTIPLY = 2 } ag_scatter_reduce;
typedef enum { AG_PAD_CONSTANT = 0, AG_PAD_REFLECT = 1, AG_PAD_REPLICATE = 2, AG_PAD_CIRCULAR = 3 } ag_pad_mode;

/* selecting by index tensors */
ag_tensor *agt_index_select(ag_tensor *a, int dim, ag_tensor *index);
ag_tensor *agt_gather(ag_tensor *a, int dim, ag_tensor *index);
/* self[.., index[i], ..] (reduce)= src[.., i, ..] along dim; src NULL means the number value */
int agt_scatter_(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double value, int reduce);
ag_tensor *agt_scatter(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double value, int reduce);
int agt_index_add_(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double alpha);
ag_tensor *agt_index_add(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double alpha);
ag_tensor *agt_embedding(ag_tensor *weight, ag_tensor *indices);
/* the gradient of embedding for the weight: rows of grad summed into [num_weights, D];
 * rows whose index is padding_idx (1-based; 0: none) are left out */
ag_tensor *agt_embedding_backward(ag_tensor *grad, ag_tensor *indices, int64_t num_weights,
                                  int64_t padding_idx, int scale_grad_by_freq);

/* masks (bool or uint8, broadcast against the tensor) */
int agt_masked_fill_(ag_tensor *a, ag_tensor *mask, double value);
ag_tensor *agt_masked_fill(ag_tensor *a, ag_tensor *mask, double value);
ag_tensor *agt_masked_select(ag_tensor *a, ag_tensor *mask);
ag_tensor *agt_masked_scatter(ag_tensor *a, ag_tensor *mask, ag_tensor *src);

/* joining and splitting */
ag_tensor *agt_cat(int n, ag_tensor **tensors, int dim);
ag_tensor *agt_stack(int n, ag_tensor **tensors, int dim);
/* views into a: fills outs[0..n-1] (new references); returns 0 or -1 */
int agt_split_with_sizes(ag_tensor *a, int dim, int n, const int64_t *sizes, ag_tensor **outs);
int agt_unbind(ag_tensor *a, int dim, ag_tensor **outs);   /* outs has room for size(dim) */

/* rearranging (copies) */
ag_tensor *agt_flip(ag_tensor *a, int ndims, const int64_t *dims);
ag_tensor *agt_roll(ag_tensor *a, int nshifts, const int64_t *shifts, int ndims, const int64_t *dims);
ag_tensor *agt_repeat(ag_tensor *a, int n, const int64_t *repeats);

/* triangles and diagonals: k > 0 is above the main diagonal, k < 0 below */
ag_tensor *agt_tril(ag_tensor *a, int64_t k, int upper);    /* upper: triu */
ag_tensor *agt_diag(ag_tensor *a, int64_t k);
ag_tensor *agt_diagonal(ag_tensor *a, int64_t offset, int dim1, int dim2);   /* a view */
/* zeros of shape sizes with g written on the diagonal (offset, dim1, dim2): diagonal's adjoint */
ag_tensor *agt_diagonal_backward(ag_tensor *g, int ndim, const int64_t *sizes, int64_t offset, int dim1, int dim2);

/* index tensor of classes 1..num_classes -> int64 [..., num_classes]; num_classes -1: the max */
ag_tensor *agt_one_hot(ag_tensor *index, int64_t num_classes);

/* pads[2k], pads[2k+1]: before and after of the k-th dim counted from the last (F.pad order);
 * constant mode takes negative pads (cropping), the others need 0 <= pad (< size for reflect) */
ag_tensor *agt_pad(ag_tensor *a, int npad, const int64_t *pads, int mode, double value);
/* AG_FFI_END */

/* For lib/autograd (not in the FFI): the 1-based source position of each output position of
 * a non-constant pad along one dim, as an int64 tensor of length before + size + after. */
ag_tensor *agt_pad_index(int64_t size, int64_t before, int64_t after, int mode);
/* Per-row factor of embedding's weight gradient: 0 for padding_idx rows, 1/count with
 * scale_grad_by_freq, else 1; shape indices.shape + [1], dtype `dtype`. */
ag_tensor *agt_embedding_row_scale(ag_tensor *indices, int64_t num_weights, int64_t padding_idx,
                                   int scale_grad_by_freq, int dtype);

#endif
