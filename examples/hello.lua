-- hello.lua: a first look at ag. Tensors, broadcasting, matmul and a tiny backward pass.
-- After building (see README.md): luajit examples/hello.lua
-- The source tree's lua/ goes first on the path, so this runs without installing ag.
local root = ((arg and arg[0] or ''):match('^(.*)/[^/]*$') or '.') .. '/..'
package.path = root .. '/lua/?.lua;' .. root .. '/lua/?/init.lua;' .. package.path
local ag = require 'ag'

-- tensors from nested tables (float32 by default); dimensions and indices are 1-based
local a = ag.tensor({{1, 2, 3}, {4, 5, 6}})
print(a)
print('shape', table.concat(a.shape, 'x'), 'dtype', a.dtype, 'a[2][3] =', a[2][3]:item())

-- elementwise ops with numbers on either side, and broadcasting: [2,3] + [3]
print(2 * a + 1)
print(a + ag.tensor({10, 20, 30}))

-- reductions and matrix products (`*` is elementwise; matmul is a method)
print(a:sum(), a:sum(2), a:mean(1, true))
print(a:matmul(a:t()))
local m, i = a:max(2)
print('row maxima', m, 'at (1-based)', i)

-- autograd: y = sum((w x + b)^2), dy/dw by backward
local x = ag.tensor({1, 2, 3})
local w = ag.tensor({{0.5, -1, 2}, {1, 0, -0.5}}, {requires_grad = true})
local b = ag.zeros(2, {requires_grad = true})
local h = w:matmul(x) + b
local y = (h ^ 2):sum()
print(y)                         -- tensor(..., grad_fn=<SumBackward0>)
y:backward()
print(w.grad)                    -- 2 * h * x^T
print(b.grad)                    -- 2 * h
