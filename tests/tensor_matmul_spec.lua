-- tensor_matmul_spec.lua: matrix products with PyTorch's matmul rules (1-D.1-D, 2-D.2-D,
-- 1-D.2-D, 2-D.1-D, batched with broadcast batch dims), mm and bmm, in float32 and float64
-- (cblas) and int64 (a plain loop). Inputs are sin(0..n-1 + off) so every entry differs;
-- expected values are PyTorch 1.13's answers for the same inputs.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')

-- S(off, dtype, sizes...): sin(arange(n) + off) computed in float64, then cast
local function S(off, dtype, ...)
  local n = 1
  for _, s in ipairs({...}) do n = n * s end
  return (ag.arange(n):double() + off):sin():to(dtype):view(...)
end

local a = S(0, 'float32', 2, 3)
local b = S(10, 'float32', 3, 4)
local v = S(20, 'float32', 3)
local w = S(30, 'float32', 2)
local MM = {{0.15069657564163208, 0.6834813356399536, 0.5878764986991882, -0.04821925237774849},
            {-0.10632648319005966, -0.7769789695739746, -0.7332806587219238, -0.015407413244247437}}

describe("matmul", function()
  it("of two matrices is the matrix product", function()
    local r = a:matmul(b)
    assert.are.same({2, 4}, r.shape)
    assert.are.equal('float32', r.dtype)
    U.close(r, MM, 1e-6)
  end)

  it("of two vectors is the dot product, a 0-dim tensor", function()
    local r = v:matmul(v)
    assert.are.same({}, r.shape)
    U.close(r:item(), 1.5335400104522705, 1e-6)
  end)

  it("of a vector and a matrix treats the vector as a row, then drops it", function()
    local r = w:matmul(a)
    assert.are.same({3}, r.shape)
    U.close(r, {-0.057017795741558075, -0.5256232023239136, -0.5109730958938599}, 1e-6)
  end)

  it("of a matrix and a vector treats the vector as a column, then drops it", function()
    local r = a:matmul(v)
    assert.are.same({2}, r.shape)
    U.close(r, {0.6959729194641113, -0.4958604872226715}, 1e-6)
  end)

  it("of two 3-D tensors multiplies batch by batch", function()
    local A, B = S(0, 'float32', 2, 2, 3), S(7, 'float32', 2, 3, 2)
    U.close(A:matmul(B), {{{-0.5625027418136597, -0.9456823468208313}, {0.7397365570068359, 1.0658676624298096}},
                          {{-0.6413372755050659, -1.208935022354126}, {0.78077632188797, 1.3158529996871948}}}, 1e-6)
  end)

  it("broadcasts batch dims: [2,1,2,3] . [3,3,2] gives [2,3,2,2]", function()
    local P, Q = S(0, 'float32', 2, 1, 2, 3), S(5, 'float32', 3, 3, 2)
    local r = P:matmul(Q)
    assert.are.same({2, 3, 2, 2}, r.shape)
    U.close(r, {{{{0.9275734424591064, 0.3378392457962036}, {-1.027722954750061, -0.26650482416152954}},
                 {{0.9448634386062622, 0.5717775821685791}, {-1.0826789140701294, -0.5493378639221191}},
                 {{0.8868861198425293, 0.7601684331893921}, {-1.051389217376709, -0.7884108424186707}}},
                {{{1.1073025465011597, 0.189836323261261}, {-1.164719581604004, -0.10936826467514038}},
                 {{1.1988245248794556, 0.5159030556678772}, {-1.2909756898880005, -0.47214245796203613}},
                 {{1.1948487758636475, 0.8008731603622437}, {-1.3143935203552246, -0.7973060011863708}}}}, 1e-6)
  end)

  it("of a batch and a vector, and of a vector and a batch", function()
    local A = S(0, 'float32', 2, 2, 3)
    U.close(A:matmul(v), {{0.6959729194641113, -0.4958604872226715}, {0.28582337498664856, -0.0700654685497284}}, 1e-6)
    U.close(w:matmul(A), {{-0.057017795741558075, -0.5256232023239136, -0.5109730958938599},
                          {0.10955995321273804, -0.42931854724884033, -0.5734835863113403}}, 1e-6)
  end)

  it("is the same for transposed (non-contiguous) operands", function()
    local at = a:t():contiguous():t()
    local bt = b:t():contiguous():t()
    assert.is_false(at:is_contiguous())
    U.close(at:matmul(bt), MM, 1e-6)
    U.close(a:matmul(b:t():t()), MM, 1e-6)
    -- a narrowed operand with a row stride larger than its width
    local wide = ag.zeros(3, 6)
    wide:narrow(2, 2, 4):copy_(b)
    U.close(a:matmul(wide:narrow(2, 2, 4)), MM, 1e-6)
  end)

  it("computes float64 in double precision", function()
    local r = S(0, 'float64', 2, 3):matmul(S(10, 'float64', 3, 4))
    assert.are.equal('float64', r.dtype)
    U.close(r, {{0.15069657608612047, 0.6834813103519448, 0.5878764799157464, -0.04821927502369886},
                {-0.10632648132191522, -0.7769789806721145, -0.7332805884145253, -0.015407404865314174}}, 1e-14)
  end)

  it("multiplies int64 matrices exactly", function()
    local ia = ag.tensor({{1, 2, 3}, {4, 5, 6}}, {dtype = 'int64'})
    local ib = ag.tensor({{7, 8}, {9, 10}, {11, 12}}, {dtype = 'int64'})
    local r = ia:matmul(ib)
    assert.are.equal('int64', r.dtype)
    U.same(r, {{58, 64}, {139, 154}})
    -- beyond 2^53: 2^40 * 2^20 + 15, as torch gives 1152921504606846991
    local big = ag.tensor({2 ^ 40, 3}, {dtype = 'int64'}):matmul(ag.tensor({2 ^ 20, 5}, {dtype = 'int64'}))
    assert.are.equal('1152921504606846991', tostring(big):match('tensor%((%d+)%)'))
  end)

  it("gives zeros when the inner size is 0 and an empty result when an outer one is", function()
    U.same(ag.ones(2, 0):matmul(ag.ones(0, 3)), {{0, 0, 0}, {0, 0, 0}})
    assert.are.same({0, 3}, ag.ones(0, 2):matmul(ag.ones(2, 3)).shape)
    assert.are.same({2, 0}, ag.ones(2, 2):matmul(ag.ones(2, 0)).shape)
  end)

  it("is available as ag.matmul", function()
    U.close(ag.matmul(a, b), MM, 1e-6)
  end)
end)

describe("mm", function()
  it("multiplies two matrices", function()
    U.close(a:mm(b), MM, 1e-6)
    U.close(ag.mm(a, b), MM, 1e-6)
  end)

  it("multiplies a matrix by its transpose", function()
    local m = ag.tensor({{1, 2, 3}, {4, 5, 6}})
    U.same(m:mm(m:t()), {{14, 32}, {32, 77}})
    U.same(m:t():mm(m), {{17, 22, 27}, {22, 29, 36}, {27, 36, 45}})
  end)
end)

describe("bmm", function()
  it("multiplies matching batches", function()
    local A, B = S(0, 'float32', 2, 2, 3), S(7, 'float32', 2, 3, 2)
    U.close(A:bmm(B), A:matmul(B):totable(), 1e-7)
    U.close(ag.bmm(A, B)[2], {{-0.6413372755050659, -1.208935022354126}, {0.78077632188797, 1.3158529996871948}}, 1e-6)
  end)

  it("accepts expanded and transposed batches", function()
    local A = ag.tensor({{1, 2}, {3, 4}}):expand(3, 2, 2)
    local B = ag.eye(2):expand(3, 2, 2)
    U.same(A:bmm(B), {{{1, 2}, {3, 4}}, {{1, 2}, {3, 4}}, {{1, 2}, {3, 4}}})
    U.same(A:bmm(A:transpose(2, 3))[3], {{5, 11}, {11, 25}})
  end)
end)

describe("float32 products with a short left operand (A W^T and A B, gemm_small.c)", function()
  it("agree with float64 for row counts up to and past 128 (blocks of 64), odd widths, and with a bias", function()
    ag.manual_seed(21)
    for _, m in ipairs({1, 5, 16, 17, 32, 33, 48, 50, 64, 65, 100, 128, 129}) do
      for _, nk in ipairs({{7, 3}, {37, 130}, {1024, 128}}) do
        local n, k = nk[1], nk[2]
        local a, w, b = ag.randn(m, k), ag.randn(n, k), ag.randn(n)
        local want = a:double():mm(w:double():t())
        local scale = want:abs():max():item()
        local got = a:mm(w:t())
        assert.are.same({m, n}, got.shape)
        local err = (got:double() - want):abs():max():item()
        assert.is_true(err <= 1e-5 * scale, string.format('m=%d n=%d k=%d: error %g', m, n, k, err))
        -- the fused bias path accumulates onto the bias (beta = 1)
        local lin = ag.addmm(b, a, w:t())
        local err2 = (lin:double() - (want + b:double())):abs():max():item()
        assert.is_true(err2 <= 1e-5 * (scale + 1), string.format('addmm m=%d n=%d k=%d: error %g', m, n, k, err2))
        -- A B with B's rows contiguous (B = w^T made contiguous), and a row-sliced B
        local bt = w:t():contiguous()
        -- addmm's bias as a [n] or a [1, n] row (with A B too), with beta ~= 1, and as a
        -- strided row
        for _, case in ipairs({{b, bt, 1}, {b:view(1, n), w:t(), 1}, {b, w:t(), 0.5}}) do
          local r = ag.addmm(case[1], a, case[2], {beta = case[3]})
          local e = (r:double() - (want + b:double() * case[3])):abs():max():item()
          assert.is_true(e <= 1e-5 * (scale + 1), string.format('addmm bias m=%d n=%d: error %g', m, n, e))
        end
        local wideb = ag.randn(2 * n):view(n, 2):select(2, 1)
        local r5 = ag.addmm(wideb, a, w:t())
        local e5 = (r5:double() - (want + wideb:double())):abs():max():item()
        assert.is_true(e5 <= 1e-5 * (scale + 1), 'addmm with a strided bias')
        local err3 = (a:mm(bt):double() - want):abs():max():item()
        assert.is_true(err3 <= 1e-5 * scale, string.format('A B m=%d n=%d k=%d: error %g', m, n, k, err3))
        local wide = ag.randn(k, n + 5)
        local part = wide:narrow(2, 3, n)
        local err4 = (a:mm(part):double() - a:double():mm(part:double())):abs():max():item()
        assert.is_true(err4 <= 1e-5 * (a:double():mm(part:double()):abs():max():item()), 'A B, strided rows')
      end
    end
  end)
end)
