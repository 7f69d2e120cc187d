-- matmul.lua: 1024x1024 float32 matmul throughput in GFLOP/s (2*n^3 flops per product):
-- ag's `A:mm(B)` (allocating its result, as torch.mm does) against a direct cblas_sgemm
-- call through the FFI into a preallocated C, on the same data, in the same process. ag keeps
-- OpenBLAS single-threaded and splits the product over its own OpenMP threads
-- (lib/tensor/gemm.c); the direct call gets OpenBLAS's own pool with as many threads
-- (openblas_set_num_threads around it), so the ratio is ag against plain multithreaded
-- BLAS. The two are interleaved rep by rep so machine noise hits both alike.
-- Target (issue 2): ag/cblas >= 0.97.
package.path = (arg[0]:match('^(.*)/') or '.') .. '/?.lua;' .. package.path
local U = require 'bench_util'
local ffi = require 'ffi'
local ag = U.ag()
local C = require 'ag.lib'

ffi.cdef [[
void cblas_sgemm(int order, int transa, int transb, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc);
void openblas_set_num_threads(int n);
]]
local blas = ffi.load('openblas')
local RowMajor, NoTrans = 101, 111

local n, iters = 1024, tonumber(os.getenv('BENCH_MM_ITERS')) or 10
local A, B, Out = ag.randn(n, n), ag.randn(n, n), ag.zeros(n, n)
local pa = ffi.cast('const float *', C.agt_data_ptr(A.p))
local pb = ffi.cast('const float *', C.agt_data_ptr(B.p))
local pc = ffi.cast('float *', C.agt_data_ptr(Out.p))

-- the collect at the end frees ag's results into its caching allocator, so each rep reuses
-- warm buffers (steady state); the cost of first-touch pages is in overhead.lua
local function run_ag() for _ = 1, iters do local c = A:mm(B) end collectgarbage() end
local function run_blas()
  blas.openblas_set_num_threads(ag.get_num_threads())
  for _ = 1, iters do blas.cblas_sgemm(RowMajor, NoTrans, NoTrans, n, n, n, 1, pa, n, pb, n, 0, pc, n) end
  blas.openblas_set_num_threads(1)
end
run_ag(); run_blas()                     -- warm up: thread pool, pages, caches

local best_ag, best_blas = math.huge, math.huge
for _ = 1, U.reps do
  best_ag = math.min(best_ag, U.time(1, run_ag))
  best_blas = math.min(best_blas, U.time(1, run_blas))
end
local flops = 2 * n ^ 3 * iters
local check = (A:mm(B) - Out):abs():max():item()
U.note('matmul %d: ag %.1f GFLOP/s, cblas_sgemm %.1f GFLOP/s, ag/cblas %.3f (max |diff| %.2g), %d threads',
       n, flops / best_ag / 1e9, flops / best_blas / 1e9, best_blas / best_ag, check, ag.get_num_threads())
U.result('mm_gflops', flops / best_ag / 1e9)
U.result('mm_gflops_cblas', flops / best_blas / 1e9)
U.result('mm_cblas_ratio', best_blas / best_ag)
