/* ag_index_grad.h: the differentiable forms of the shape and indexing ops (ag_index.h).
 * Each aga_X runs agt_X and, when grad mode is on and a floating input requires grad,
 * records a node named as PyTorch names it (IndexSelectBackward0, CatBackward0, ...).
 * Their backward formulas (index_grad.c) are written with these same ops, so gradients of
 * gradients work: gather and scatter_add, index_select and index_add, masked_select and
 * masked_scatter, embedding and its weight gradient, diagonal and its adjoint are each
 * other's backward. Arguments are the agt_ forms' (1-based dims and index values). */
#ifndef AG_INDEX_GRAD_H
#define AG_INDEX_GRAD_H
#include "ag_autograd.h"
#include "ag_index.h"

/* AG_FFI_BEGIN */
ag_tensor *aga_index_select(ag_tensor *a, int dim, ag_tensor *index);
ag_tensor *aga_gather(ag_tensor *a, int dim, ag_tensor *index);
ag_tensor *aga_scatter(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double value, int reduce);
int aga_scatter_(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double value, int reduce);
ag_tensor *aga_index_add(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double alpha);
int aga_index_add_(ag_tensor *a, int dim, ag_tensor *index, ag_tensor *src, double alpha);
/* padding_idx: 1-based row whose gradient stays zero (negative counts from the end; 0: none) */
ag_tensor *aga_embedding(ag_tensor *weight, ag_tensor *indices, int64_t padding_idx, int scale_grad_by_freq);
ag_tensor *aga_embedding_backward(ag_tensor *grad, ag_tensor *indices, int64_t num_weights,
                                  int64_t padding_idx, int scale_grad_by_freq);
ag_tensor *aga_masked_fill(ag_tensor *a, ag_tensor *mask, double value);
int aga_masked_fill_(ag_tensor *a, ag_tensor *mask, double value);
ag_tensor *aga_masked_select(ag_tensor *a, ag_tensor *mask);
ag_tensor *aga_masked_scatter(ag_tensor *a, ag_tensor *mask, ag_tensor *src);
ag_tensor *aga_cat(int n, ag_tensor **tensors, int dim);
ag_tensor *aga_stack(int n, ag_tensor **tensors, int dim);
/* uniform: the sizes are split(size)'s (all equal but a shorter last), named SplitBackward0 */
int aga_split_with_sizes(ag_tensor *a, int dim, int n, const int64_t *sizes, ag_tensor **outs, int uniform);
int aga_unbind(ag_tensor *a, int dim, ag_tensor **outs);
ag_tensor *aga_flip(ag_tensor *a, int ndims, const int64_t *dims);
ag_tensor *aga_roll(ag_tensor *a, int nshifts, const int64_t *shifts, int ndims, const int64_t *dims);
ag_tensor *aga_repeat(ag_tensor *a, int n, const int64_t *repeats);
ag_tensor *aga_tril(ag_tensor *a, int64_t k, int upper);
ag_tensor *aga_diag(ag_tensor *a, int64_t k);
ag_tensor *aga_diagonal(ag_tensor *a, int64_t offset, int dim1, int dim2);
ag_tensor *aga_diagonal_backward(ag_tensor *g, int ndim, const int64_t *sizes, int64_t offset, int dim1, int dim2);
ag_tensor *aga_pad(ag_tensor *a, int npad, const int64_t *pads, int mode, double value);
/* t[spec] = src: writes src into `view` (a region of contiguous t) and gives t a CopySlices
 * history (slice_assign.c) */
int aga_slice_assign_(ag_tensor *t, ag_tensor *view, ag_tensor *src);
/* AG_FFI_END */

#endif
