-- linalg_spec.lua: the math family's linear algebra: outer, addmm, baddbmm, trace, einsum
-- (one, two and three operands, ellipsis, repeated subscripts, implicit output,
-- broadcasting) and ag.linalg.inv/det/solve/cholesky (LAPACKE): values and gradients of
-- sum(y * w), w = 1, 2, 3, ... over y, against PyTorch 1.13's answers; PyTorch's node
-- names; float64 gradcheck and gradgradcheck; float32; singular inputs and malformed
-- einsum equations raise clear errors.
local ag = require 'ag'
local U = dofile('tests/tensor_util.lua')
local gradcheck, gradgradcheck = ag.autograd.gradcheck, ag.autograd.gradgradcheck

local function leaf(t) return ag.tensor(t, {dtype = 'float64', requires_grad = true}) end
local function randn(...) return ag.randn(...):double():requires_grad_() end
-- the gradients of sum(f(...) * w), w = 1, 2, ... in the output's shape
local function grads(f, ...)
  local ins = {...}
  local y = f(...)
  local w = ag.arange(1, y:numel() + 1):double():view(y.shape)
  return y, {ag.autograd.grad((y * w):sum(), ins)}
end
local function node(y) return tostring(y.grad_fn):match('<(.-)>') end

local A = {{4.0, 1.0, -2.0}, {1.0, 3.0, 0.5}, {-2.0, 0.5, 5.0}}     -- symmetric positive-definite
local N = {{1.0, 2.0, 0.5}, {-1.0, 0.5, 3.0}, {2.0, -1.5, 1.0}}     -- general, det 19.25

describe("outer, addmm, baddbmm and trace", function()
  it("outer is the product of a column and a row (MulBackward0, as PyTorch)", function()
    local y, g = grads(ag.outer, leaf({1, 2, -3}), leaf({0.5, -1}))
    U.close(y, {{0.5, -1.0}, {1.0, -2.0}, {-1.5, 3.0}})
    U.close(g[1], {-1.5, -2.5, -3.5}); U.close(g[2], {-8, -8})
    assert.are.equal('MulBackward0', node(y))
    U.close(ag.tensor({1, 2}):ger(ag.tensor({3})), {{3}, {6}})
  end)

  it("addmm = beta * input + alpha * m1 @ m2, input broadcast (PyTorch's values and gradients)", function()
    local y, g = grads(function(i, a, b) return ag.addmm(i, a, b, {beta = 0.5, alpha = 2}) end,
                       leaf({1, -2, 3}), leaf({{1, 2}, {3, 4}}), leaf({{0.5, -1, 2}, {1.5, 0, -0.5}}))
    U.close(y, {{7.5, -3.0, 3.5}, {15.5, -7.0, 9.5}}, 1e-14)
    assert.are.equal('AddmmBackward0', node(y))
    U.close(g[1], {2.5, 3.5, 4.5}, 1e-14)
    U.close(g[2], {{9, 0}, {18, 6}}, 1e-14)
    U.close(g[3], {{26, 34, 42}, {36, 48, 60}}, 1e-14)
    -- beta = 0 ignores the input, even NaN; the method form
    local nan = ag.full({2, 2}, 0 / 0)
    U.close(nan:addmm(ag.eye(2), ag.ones(2, 2), {beta = 0}), {{1, 1}, {1, 1}})
  end)

  it("addmm with alpha 1 (the fused path: input written first, the GEMM adds onto it)", function()
    -- every broadcastable input shape, beta 1 and 0.5, against beta * input + m1 @ m2
    local a, b = ag.tensor({{1, 2}, {3, 4}, {-1, 0.5}}), ag.tensor({{0.5, -1}, {1.5, 2}})
    local prod = {{3.5, 3}, {7.5, 5}, {0.25, 2}}
    for _, c in ipairs({{ag.tensor({10, 20}), function(i, j) return ({10, 20})[j] end},
                        {ag.tensor({{10, 20}}), function(i, j) return ({10, 20})[j] end},
                        {ag.tensor({{1}, {2}, {3}}), function(i) return i end},
                        {ag.tensor({{1, 2}, {3, 4}, {5, 6}}), function(i, j) return 2 * (i - 1) + j end},
                        {ag.tensor(7), function() return 7 end}}) do
      for _, beta in ipairs({1, 0.5}) do
        local want = {}
        for i = 1, 3 do
          want[i] = {}
          for j = 1, 2 do want[i][j] = beta * c[2](i, j) + prod[i][j] end
        end
        U.close(ag.addmm(c[1], a, b, {beta = beta}), want, 1e-6)
      end
    end
    -- non-contiguous operands, float64 gradcheck through the fused path
    assert.is_true(gradcheck(function(i, x, y) return ag.addmm(i, x:t(), y) end, {randn(3), randn(4, 2), randn(4, 3)}))
    assert.is_true(gradcheck(function(i, x, y) return ag.addmm(i, x, y, {beta = 0.5}) end, {randn(2, 1), randn(2, 4), randn(4, 3)}))
    -- F.linear takes it for a 2-D or 3-D input: same values and grads as matmul + add
    local F = require 'ag.nn.functional'
    local x, w, bias = randn(2, 3, 4):requires_grad_(), randn(5, 4):requires_grad_(), randn(5):requires_grad_()
    local y = F.linear(x, w, bias)
    assert.are.same({2, 3, 5}, y.shape)
    local ref = x:detach():matmul(w:detach():t()) + bias:detach()
    U.close(y:detach(), ref:totable(), 1e-12)
    assert.are.equal('AddmmBackward0', node(F.linear(x:select(1, 1), w, bias)))
    assert.is_true(gradcheck(function(xx, ww, bb) return F.linear(xx, ww, bb) end, {x, w, bias}))
  end)

  it("baddbmm = beta * input + alpha * b1 @ b2, batched (PyTorch's values and gradients)", function()
    local y, g = grads(function(i, a, b) return ag.baddbmm(i, a, b, {beta = -1, alpha = 0.5}) end,
                       leaf({{1, -2}}), leaf({{{1, 2}}, {{-1, 0.5}}}), leaf({{{0.5, -1}, {1.5, 0}}, {{2, 1}, {-1, 3}}}))
    U.close(y, {{{0.75, 1.5}}, {{-2.25, 2.25}}}, 1e-14)
    assert.are.equal('BaddbmmBackward0', node(y))
    U.close(g[1], {{-4, -6}}, 1e-14)
    U.close(g[2], {{{-0.75, 0.75}}, {{5.0, 4.5}}}, 1e-14)
    U.close(g[3], {{{0.5, 1.0}, {1.0, 2.0}}, {{-1.5, -2.0}, {0.75, 1.0}}}, 1e-14)
  end)

  it("trace sums the main diagonal of any matrix (TraceBackward0), int64 for integers", function()
    local y, g = grads(ag.trace, leaf({{1, 2, 3}, {4, 5, 6}}))
    U.close(y, 6)
    U.close(g[1], {{1, 0, 0}, {0, 1, 0}})
    assert.are.equal('TraceBackward0', node(y))
    local t = ag.tensor({{1, 2}, {3, 4}}, {dtype = 'int32'}):trace()
    assert.are.equal('int64', t.dtype)
    U.same(t, 5)
    U.same(ag.zeros(0, 3):trace(), 0)
  end)

  it("pass gradcheck and gradgradcheck (transposed and broadcast operands)", function()
    local cases = {
      {function(a, b) return ag.outer(a, b) end, function() return {randn(3), randn(2)} end},
      {function(i, a, b) return ag.addmm(i, a:t(), b, {beta = 0.3, alpha = -1.2}) end, function() return {randn(2, 1), randn(4, 2), randn(4, 3)} end},
      {function(i, a, b) return ag.baddbmm(i, a, b, 2, 0.5) end, function() return {randn(3), randn(2, 2, 4), randn(2, 4, 3)} end},
      {function(a) return ag.trace(a) end, function() return {randn(3, 4)} end},
    }
    for _, c in ipairs(cases) do
      assert.is_true(gradcheck(c[1], c[2]()))
      assert.is_true(gradgradcheck(c[1], c[2]()))
    end
  end)

  it("raise clear errors", function()
    U.raises(function() ag.outer(ag.ones(2, 2), ag.ones(2)) end, 'ag.outer: expected two 1-D tensors')
    U.raises(function() ag.addmm(ag.ones(2), ag.ones(2, 3), ag.ones(2, 3)) end, 'ag.addmm: mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)')
    U.raises(function() ag.addmm(ag.ones(3, 3), ag.ones(2, 3), ag.ones(3, 2)) end, 'ag.addmm: input of shape [3, 3] cannot be broadcast to the product\'s shape [2, 2]')
    U.raises(function() ag.addmm(ag.ones(2), ag.ones(2, 2):double(), ag.ones(2, 2)) end, 'ag.addmm: expected all operands to have the same dtype')
    U.raises(function() ag.baddbmm(ag.ones(1), ag.ones(2, 2), ag.ones(2, 2)) end, 'ag.baddbmm: batch1 and batch2 must be 3-D')
    U.raises(function() ag.trace(ag.ones(2, 2, 2)) end, 'ag.trace: expected a matrix')
    U.raises(function() ag.addmm(ag.ones(2), ag.ones(2, 2), ag.ones(2, 2), 'x') end, 'ag.addmm: beta and alpha must be numbers')
  end)
end)

describe("einsum", function()
  local a, b = ag.randn(2, 3):double(), ag.randn(3, 4):double()
  local bt = ag.randn(5, 2, 3):double()

  it("matches matmul, bmm, dot, outer, transpose, trace, diagonal and sums", function()
    U.close(ag.einsum('ij,jk->ik', a, b), a:matmul(b):totable(), 1e-12)
    U.close(ag.einsum('ij,jk', {a, b}), a:matmul(b):totable(), 1e-12)   -- implicit output, operands as a table
    U.close(ag.einsum('bij,bjk->bik', bt, ag.randn(5, 3, 2):double():mul(0):add(1)), bt:matmul(ag.ones(5, 3, 2):double()):totable(), 1e-12)
    local v, w = ag.tensor({1, 2, 3}):double(), ag.tensor({4, -5, 6}):double()
    U.close(ag.einsum('i,i->', v, w), 12)
    U.close(ag.einsum('i,j->ij', v, w), ag.outer(v, w):totable())
    U.close(ag.einsum('ij->ji', a), a:t():totable(), 0)
    U.close(ag.einsum('ji', a), a:t():totable(), 0)              -- implicit: alphabetical order
    local sq = ag.tensor({{1, 2, 3}, {4, 5, 6}, {7, 8, 9}}):double()
    U.close(ag.einsum('ii->i', sq), {1, 5, 9})
    U.close(ag.einsum('ii', sq), 15)
    U.close(ag.einsum('ij->', sq), 45)
    U.close(ag.einsum('ij->j', sq), {12, 15, 18})
    U.close(ag.einsum('ij,ij->i', sq, sq), {14, 77, 194})
    U.close(ag.einsum(' i j , j k -> i k ', a, b), a:matmul(b):totable(), 1e-12)   -- spaces ignored
  end)

  it("handles three operands, ellipsis and broadcasting as PyTorch", function()
    local x, y, z = leaf({{1, 2}, {3, -1}}), leaf({{{0.5, -1, 2}, {1.5, 0, -0.5}}, {{2, 1, 0}, {-1, 3, 1}}}), leaf({{1, -1, 0.5}, {2, 0, 1}})
    local r, g = grads(function(p, q, s) return ag.einsum('bn,anm,bm->ba', p, q, s) end, x, y, z)
    U.close(r, {{5.0, -6.0}, {6.5, 13.0}}, 1e-14)
    U.close(g[1], {{4.5, -5.75}, {25.0, 3.5}}, 1e-14)
    U.close(g[2], {{{19.0, -1.0, 9.5}, {-4.0, -2.0, -2.0}}, {{26.0, -2.0, 13.0}, {-4.0, -4.0, -2.0}}}, 1e-14)
    U.close(g[3], {{3.5, 13.0, 5.0}, {28.0, -9.0, 15.5}}, 1e-14)
    local e = ag.tensor({{{1, 2}, {3, 4}}, {{-1, 0.5}, {2, -2}}}):double()
    local m = ag.tensor({{0.5, 1}, {-1, 2}}):double()
    U.close(ag.einsum('...ij,jk->...ki', e, m), {{{-1.5, -2.5}, {5.0, 11.0}}, {{-1.0, 3.0}, {0.0, -2.0}}})
    U.close(ag.einsum('...ii->...', e), {5, -3})
    U.close(ag.einsum('bij,bjk', e, m:view(1, 2, 2)), {{-2.5, 5.0}, {0.5, 9.0}})   -- b broadcast, then summed
    assert.are.same({2, 4}, ag.einsum('ij,jk->ik', ag.ones(2, 1), ag.ones(3, 4)).shape)  -- size-1 subscript broadcasts
    U.close(ag.einsum('ij,jk->ik', ag.ones(2, 1), ag.ones(3, 4)), {{3, 3, 3, 3}, {3, 3, 3, 3}})
  end)

  it("passes gradcheck and gradgradcheck", function()
    local cases = {
      {'ij,jk->ik', {3, 4}, {4, 2}}, {'bij,bjk->bik', {2, 2, 3}, {2, 3, 2}}, {'i,i->', {4}, {4}},
      {'ii->i', {3, 3}}, {'ij->ji', {2, 3}}, {'...ij,...jk->...ik', {2, 2, 3}, {3, 2}},
      {'bhqd,bhkd->bhqk', {1, 2, 3, 2}, {1, 2, 2, 2}}, {'ij,ij->', {2, 3}, {2, 3}},
    }
    for _, c in ipairs(cases) do
      local ins = {}
      for k = 2, #c do ins[#ins + 1] = randn(unpack(c[k])) end
      local f = function(...) return ag.einsum(c[1], ...) end
      assert.is_true(gradcheck(f, ins), c[1])
      assert.is_true(gradgradcheck(f, ins), c[1])
    end
  end)

  it("reports equations that do not parse, naming the problem", function()
    local m = ag.ones(2, 2)
    U.raises(function() ag.einsum('ij,jk->ik', m) end, 'ag.einsum:', 'subscripts for 2 operands but 1 operand were given')
    U.raises(function() ag.einsum('ij->ik', m) end, "ag.einsum: output subscript 'k' does not appear in any input")
    U.raises(function() ag.einsum('ijk->i', m) end, 'ag.einsum: operand 1 has 2 dimensions but its subscripts "ijk" name 3')
    U.raises(function() ag.einsum('i1->i', m) end, 'ag.einsum: invalid subscript "1"')
    U.raises(function() ag.einsum('ij->ii', m) end, "ag.einsum: subscript 'i' appears more than once in the output")
    U.raises(function() ag.einsum('ij-ji', m) end, 'ag.einsum: the equation "ij-ji" is malformed')
    U.raises(function() ag.einsum('ij->j->i', m) end, "more than one '->'")
    U.raises(function() ag.einsum('i..j->ij', m) end, "a '.' that is not part of an ellipsis")
    U.raises(function() ag.einsum('...i...->i', m) end, 'more than one ellipsis')
    U.raises(function() ag.einsum('ij,jk->ik', ag.ones(2, 3), ag.ones(4, 2)) end,
             "ag.einsum: subscript 'j' has size 4 in operand 2, which does not match size 3 in operand 1")
    U.raises(function() ag.einsum('ii->i', ag.ones(2, 3)) end, "subscript 'i' is repeated in operand 1 for dimensions of different sizes")
    U.raises(function() ag.einsum(m, m) end, 'ag.einsum: expected the equation string as argument 1')
    U.raises(function() ag.einsum('ij') end, 'ag.einsum: expected at least one operand')
  end)
end)

describe("ag.linalg", function()
  it("inv: values and gradient -A^-T g A^-T (LinalgInvExBackward0), float32 too", function()
    local y, g = grads(ag.linalg.inv, leaf(N))
    U.close(y, {{0.25974025974025977, -0.14285714285714288, 0.29870129870129875}, {0.3636363636363636, 0, -0.18181818181818185},
                {0.025974025974025983, 0.2857142857142857, 0.12987012987012989}}, 1e-14)
    U.close(g[1], {{-1.083150615618148, -0.10861865407319934, -1.1914319446786978}, {-0.8367346938775511, -0.2857142857142855, -0.8979591836734693},
                   {-0.31185697419463665, 0.002361275088547886, -0.3467701130038792}}, 1e-12)
    assert.are.equal('LinalgInvExBackward0', node(y))
    local f32 = ag.tensor(N):inverse()
    assert.are.equal('float32', f32.dtype)
    U.close(f32:matmul(ag.tensor(N)), {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, 1e-6)
    U.close(ag.linalg.inv(ag.tensor({N, A}):double())[2]:matmul(ag.tensor(A):double()), {{1, 0, 0}, {0, 1, 0}, {0, 0, 1}}, 1e-12)
  end)

  it("det: values, batches, and gradient g det A^-T (LinalgDetBackward0)", function()
    local y, g = grads(ag.linalg.det, leaf({N, A}))
    U.close(y, {19.25, 40}, 1e-13)
    U.close(g[1], {{{5, 7, 0.5}, {-2.75, 0, 5.5}, {5.75, -3.5, 2.5}}, {{29.5, -12, 13}, {-12, 32, -8}, {13, -8, 22}}}, 1e-12)
    assert.are.equal('LinalgDetBackward0', node(y))
    U.close(ag.tensor(N):det(), 19.25, 1e-6)
    U.close(ag.linalg.det(ag.zeros(0, 0):double()), 1)
    U.close(ag.linalg.det(ag.tensor({{0, 1}, {1, 0}}):double()), -1)   -- a row swap flips the sign
  end)

  it("det of a singular matrix is 0, and its gradient is the cofactor matrix", function()
    local s = leaf({{1, 2, 3}, {2, 4, 6}, {1, 0, 1}})
    local d = ag.linalg.det(s)
    U.close(d, 0, 1e-14)
    d:backward()
    -- cofactors by hand: C_ij = (-1)^(i+j) det(minor_ij); rank 2, so not all zero
    U.close(s.grad, {{4, 4, -4}, {-2, -2, 2}, {0, 0, 0}}, 1e-12)
    assert.is_true(gradcheck(ag.linalg.det, {leaf({{1, 2, 3}, {2, 4, 6}, {1, 0, 1}})}))
    local s2 = leaf({{1, 2, 3}, {2, 4, 6}, {1, 0, 1}})   -- under create_graph too (first order there)
    U.close(ag.autograd.grad(ag.linalg.det(s2), s2, {create_graph = true}), {{4, 4, -4}, {-2, -2, 2}, {0, 0, 0}}, 1e-12)
  end)

  it("solve: A X = B for a matrix B, a vector b and broadcast batches (LinalgSolveExBackward0)", function()
    local y, g = grads(ag.linalg.solve, leaf(N), leaf({{1, 2}, {0.5, -1}, {3, 0}}))
    U.close(y, {{1.0844155844155847, 0.6623376623376624}, {-0.181818181818182, 0.7272727272727272}, {0.5584415584415585, -0.23376623376623373}}, 1e-13)
    U.close(g[1], {{-3.016191600607186, -1.2798110979929156, -0.32889188733344604}, {-2.3404452690166977, -0.8051948051948047, -0.38404452690166996},
                   {-0.8666722887502112, -0.3990554899645808, -0.07303086523865752}}, 1e-12)
    U.close(g[2], {{1.4805194805194806, 2.1298701298701297}, {1.2857142857142856, 1.4285714285714284}, {0.4025974025974027, 0.6493506493506495}}, 1e-12)
    assert.are.equal('LinalgSolveExBackward0', node(y))
    y, g = grads(ag.linalg.solve, leaf(N), leaf({1, -2, 0.5}))
    U.close(y, {0.6948051948051949, 0.2727272727272727, -0.4805194805194805}, 1e-13)
    U.close(g[2], {1.0649350649350648, 0.7142857142857142, 0.3246753246753247}, 1e-12)
    y, g = grads(ag.linalg.solve, leaf({N, A}), leaf({1, -2, 0.5}))
    U.close(y, {{0.6948051948051949, 0.2727272727272727, -0.4805194805194805}, {0.75, -1.0, 0.5}}, 1e-13)
    U.close(g[1][2], {{-1.275, 1.7, -0.85}, {-0.6, 0.8, -0.4}, {-1.35, 1.8, -0.9}}, 1e-12)
    U.close(g[2], {2.764935064935065, 1.5142857142857142, 2.1246753246753247}, 1e-12)
    local bb = ag.randn(4, 3, 2):double()
    U.close(ag.tensor(N):double():matmul(ag.linalg.solve(ag.tensor(N):double(), bb)), bb:totable(), 1e-12)
  end)

  it("cholesky: the lower factor, or the upper with upper = true (LinalgCholeskyExBackward0)", function()
    local y, g = grads(ag.linalg.cholesky, leaf(A))
    U.close(y, {{2, 0, 0}, {0.5, 1.6583123951777, 0}, {-1, 0.6030226891555273, 1.9069251784911847}}, 1e-14)
    U.close(g[1], {{1.13536606510324, 1.5413684348193404, 2.541416347616151}, {1.5413684348193406, 0.9424751133247904, 1.5539744263010757},
                   {2.5414163476161513, 1.5539744263010757, 2.359819908382841}}, 1e-12)
    assert.are.equal('LinalgCholeskyExBackward0', node(y))
    y, g = grads(function(m) return ag.linalg.cholesky(m, {upper = true}) end, leaf(A))
    U.close(y, {{2, 0.5, -1}, {0, 1.6583123951777, 0.6030226891555273}, {0, 0, 1.9069251784911847}}, 1e-14)
    U.close(g[1], {{0.9248267985092934, 0.6850368457728924, 1.6921720199050332}, {0.6850368457728924, 1.1617560911995275, 0.9509517371455485},
                   {1.6921720199050334, 0.9509517371455485, 2.359819908382841}}, 1e-12)
    local l = ag.tensor(A):cholesky()
    U.close(l:matmul(l:t()), A, 1e-6)
  end)

  it("inv, det, solve and cholesky pass gradcheck and gradgradcheck (batched too)", function()
    local function wc(...) return (ag.randn(...):double() + ag.eye(3):double() * 4):requires_grad_() end
    local function spd(m) local s = (m + m:transpose(-2, -1)) * 0.5 return ag.linalg.cholesky(s) end
    local cases = {
      {ag.linalg.inv, function() return {wc(3, 3)} end}, {ag.linalg.inv, function() return {wc(2, 3, 3)} end},
      {ag.linalg.det, function() return {wc(3, 3)} end}, {ag.linalg.det, function() return {wc(2, 3, 3)} end},
      {ag.linalg.solve, function() return {wc(3, 3), randn(3, 2)} end},
      {ag.linalg.solve, function() return {wc(2, 3, 3), randn(3)} end},
      {ag.linalg.solve, function() return {wc(3, 3), randn(2, 3, 1)} end},
      {spd, function() return {wc(3, 3)} end},
      {function(m) return ag.linalg.cholesky((m + m:t()) * 0.5, true) end, function() return {wc(3, 3)} end},
    }
    for i, c in ipairs(cases) do
      assert.is_true(gradcheck(c[1], c[2]()), 'case ' .. i)
      assert.is_true(gradgradcheck(c[1], c[2]()), 'case ' .. i)
    end
  end)

  it("raise clear errors for singular, non-square, non-float and non-positive-definite input", function()
    local sing = ag.tensor({{1, 2}, {2, 4}}):double()
    U.raises(function() ag.linalg.inv(sing) end, 'ag.linalg.inv: the matrix is singular', 'diagonal element 2')
    U.raises(function() ag.linalg.inv(ag.tensor({{{1, 0}, {0, 1}}, {{1, 2}, {2, 4}}}):double()) end,
             'ag.linalg.inv: the matrix is singular (batch element 2')
    U.raises(function() ag.linalg.solve(sing, ag.ones(2):double()) end, 'ag.linalg.solve: the matrix A is singular')
    U.raises(function() ag.linalg.cholesky(ag.tensor({{1, 2}, {2, 1}}):double()) end,
             'ag.linalg.cholesky: the factorization could not be completed because the input is not positive-definite',
             'leading minor of order 2')
    U.raises(function() ag.linalg.inv(ag.ones(2, 3)) end, 'ag.linalg.inv: A must be batches of square matrices, but they are 2 by 3')
    U.raises(function() ag.linalg.det(ag.ones(3)) end, 'ag.linalg.det: the input tensor A must have at least 2 dimensions')
    U.raises(function() ag.linalg.inv(ag.eye(2, {dtype = 'int64'})) end, 'ag.linalg.inv: expected a floating-point tensor', 'int64')
    U.raises(function() ag.linalg.solve(ag.eye(2):double(), ag.ones(3):double()) end, 'ag.linalg.solve: incompatible shapes of A and B')
    U.raises(function() ag.linalg.solve(ag.eye(2):double(), ag.ones(2)) end, 'ag.linalg.solve: expected A and B to have the same dtype')
  end)
end)
