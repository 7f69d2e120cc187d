-- ops/linalg.lua: the math op family's linear algebra: outer, addmm, baddbmm, trace,
-- einsum, and ag.linalg.{inv, det, solve, cholesky, vector_norm} (LAPACKE in C). einsum
-- is lowered to differentiable views, sums and bmm, so its gradient comes for free.
local core = require 'ag.core'
local tensor = require 'ag.tensor'
local reduce = require 'ag.ops.reduce'

local C, check, wrap, retry = core.C, core.check, core.wrap, core.retry
local is_tensor, is_options, typename = core.is_tensor, core.is_options, core.typename
local M = tensor.methods
local E = {}

function E.outer(a, b)
  check(a, 'outer', 1); check(b, 'outer', 2)
  if a.ndim ~= 1 or b.ndim ~= 1 then
    error(string.format("ag.outer: expected two 1-D tensors, but got %dD and %dD tensors", a.ndim, b.ndim), 2)
  end
  return M.mul(M.unsqueeze(a, 2), M.unsqueeze(b, 1))
end
E.ger = E.outer

-- beta and alpha: {beta =, alpha =} or positional numbers
local function beta_alpha(op, beta, alpha)
  if type(beta) == 'table' and is_options(beta) then beta, alpha = beta.beta, beta.alpha end
  beta, alpha = beta == nil and 1 or beta, alpha == nil and 1 or alpha
  if type(beta) ~= 'number' or type(alpha) ~= 'number' then
    error(string.format("ag.%s: beta and alpha must be numbers, got %s and %s", op, typename(beta), typename(alpha)), 3)
  end
  return beta, alpha
end

local function addmm_like(f, op)
  return function(input, a, b, beta, alpha)
    local pi, pa, pb = check(input, op, 1), check(a, op, 2), check(b, op, 3)
    local be, al = beta_alpha(op, beta, alpha)
    local r = f(pi, pa, pb, be, al)
    if r == nil then r = retry(f, pi, pa, pb, be, al) end
    return wrap(r)
  end
end
E.addmm = addmm_like(C.aga_addmm, 'addmm')
E.baddbmm = addmm_like(C.aga_baddbmm, 'baddbmm')

function E.trace(a) return wrap(C.aga_trace(check(a, 'trace'))) end

-- ---------------------------------------------------------------- linalg
local linalg = {}
linalg.inv = core.unary_op(C.aga_linalg_inv, 'linalg.inv')
linalg.det = core.unary_op(C.aga_linalg_det, 'linalg.det')
function linalg.solve(a, b)
  local pa, pb = check(a, 'linalg.solve', 1), check(b, 'linalg.solve', 2)
  local r = C.aga_linalg_solve(pa, pb)
  if r == nil then r = retry(C.aga_linalg_solve, pa, pb) end
  return wrap(r)
end
function linalg.cholesky(a, upper)
  local p = check(a, 'linalg.cholesky')
  if type(upper) == 'table' then upper = upper.upper end
  return wrap(C.aga_linalg_cholesky(p, upper and 1 or 0))
end
linalg.vector_norm = reduce.vector_norm
E.linalg = linalg
E.inverse, E.det = linalg.inv, linalg.det

-- ---------------------------------------------------------------- einsum
local function fail(msg, ...) error("ag.einsum: " .. string.format(msg, ...), 4) end

-- One operand's subscripts: a list of labels (letters, or '.k' for the k-th ellipsis dim
-- counted from the end), given the operand's rank.
local function parse_term(term, pos, rank)
  local labels, ell = {}, nil
  local i = 1
  while i <= #term do
    local c = term:sub(i, i)
    if c == '.' then
      if term:sub(i, i + 2) ~= '...' then fail("operand %d's subscripts %q have a '.' that is not part of an ellipsis '...'", pos, term) end
      if ell then fail("operand %d's subscripts %q have more than one ellipsis", pos, term) end
      ell = #labels + 1
      labels[#labels + 1] = '...'
      i = i + 3
    elseif c:match('%a') then
      labels[#labels + 1] = c
      i = i + 1
    else
      fail("invalid subscript %q in operand %d's subscripts %q; use letters a-z, A-Z and '...'", c, pos, term)
    end
  end
  local nl = #labels - (ell and 1 or 0)
  if (ell and rank < nl) or (not ell and rank ~= nl) then
    fail("operand %d has %d dimensions but its subscripts %q name %d%s", pos, rank, term, nl,
         ell and ' (plus an ellipsis)' or '')
  end
  local out = {}
  for _, l in ipairs(labels) do
    if l == '...' then
      local ne = rank - nl
      for k = ne, 1, -1 do out[#out + 1] = '.' .. k end
    else out[#out + 1] = l end
  end
  return out, ell and (rank - nl) or nil
end

local function index_of(list, v) for i, x in ipairs(list) do if x == v then return i end end end

-- Take diagonals of repeated labels in one operand: x * eye over the two dims, summed over
-- the second. Returns x, labels (now unique).
local function diagonals(x, labels, pos)
  local i = 1
  while i <= #labels do
    local j = nil
    for k = i + 1, #labels do if labels[k] == labels[i] then j = k; break end end
    if j then
      local n = x.shape[i]
      if x.shape[j] ~= n then
        fail("subscript '%s' is repeated in operand %d for dimensions of different sizes %d and %d", labels[i], pos, n, x.shape[j])
      end
      local shape = {}
      for d = 1, #labels do shape[d] = (d == i or d == j) and n or 1 end
      local eye = M.reshape(require('ag.creation').eye(n, {dtype = x.dtype}), shape)
      x = M.sum(M.mul(x, eye), j)
      table.remove(labels, j)
    else
      i = i + 1
    end
  end
  return x, labels
end

local function sum_labels(x, labels, keep)
  local dims, rest = {}, {}
  for d, l in ipairs(labels) do
    if keep(l) then rest[#rest + 1] = l else dims[#dims + 1] = d end
  end
  if #dims > 0 then x = M.sum(x, dims) end
  return x, rest
end

local function permute_to(x, labels, order)
  local perm, identity = {}, true
  for k, l in ipairs(order) do
    perm[k] = index_of(labels, l)
    if perm[k] ~= k then identity = false end
  end
  if identity or #perm < 2 then return x end
  return M.permute(x, perm)
end

-- a * b contracted over the shared labels not needed later (bmm), keeping the others
local function contract(a, la, b, lb, needed, sizes)
  local batch, left, con, right = {}, {}, {}, {}
  for _, l in ipairs(la) do
    if index_of(lb, l) then
      if needed(l) then batch[#batch + 1] = l else con[#con + 1] = l end
    else left[#left + 1] = l end
  end
  for _, l in ipairs(lb) do if not index_of(la, l) then right[#right + 1] = l end end
  local function prod(list) local p = 1 for _, l in ipairs(list) do p = p * sizes[l] end return p end
  local function shape_of(lists)
    local s = {}
    for _, list in ipairs(lists) do for _, l in ipairs(list) do s[#s + 1] = sizes[l] end end
    return s
  end
  local function prepare(x, lx, order, flat)
    x = permute_to(x, lx, order)
    local want = shape_of({order})
    local shape = x.shape
    for d = 1, #want do
      if shape[d] ~= want[d] then x = M.expand(x, want); break end
    end
    return M.reshape(x, flat)
  end
  local B, L, K, R = prod(batch), prod(left), prod(con), prod(right)
  local ao, bo = {}, {}
  for _, list in ipairs({batch, left, con}) do for _, l in ipairs(list) do ao[#ao + 1] = l end end
  for _, list in ipairs({batch, con, right}) do for _, l in ipairs(list) do bo[#bo + 1] = l end end
  local am = prepare(a, la, ao, {B, L, K})
  local bm = prepare(b, lb, bo, {B, K, R})
  local out = M.reshape(M.bmm(am, bm), shape_of({batch, left, right}))
  local lo = {}
  for _, list in ipairs({batch, left, right}) do for _, l in ipairs(list) do lo[#lo + 1] = l end end
  return out, lo
end

function E.einsum(equation, ...)
  if type(equation) ~= 'string' then
    error("ag.einsum: expected the equation string as argument 1, got " .. typename(equation), 2)
  end
  local ops = {...}
  if #ops == 1 and type(ops[1]) == 'table' and not is_tensor(ops[1]) then ops = ops[1] end
  if #ops == 0 then error("ag.einsum: expected at least one operand after the equation", 2) end
  for i, x in ipairs(ops) do check(x, 'einsum', i + 1) end
  local eq = equation:gsub('%s', '')
  local lhs, rhs = eq:match('^(.-)%->(.*)$')
  if not lhs then
    if eq:find('->', 1, true) or eq:find('-', 1, true) or eq:find('>', 1, true) then
      fail("the equation %q is malformed: write 'inputs->output', e.g. 'ij,jk->ik'", equation)
    end
    lhs = eq
  elseif rhs:find('->', 1, true) or rhs:find('-', 1, true) then
    fail("the equation %q has more than one '->'", equation)
  end
  local terms = {}
  for t in (lhs .. ','):gmatch('([^,]*),') do terms[#terms + 1] = t end
  if #terms ~= #ops then
    fail("the equation %q has subscripts for %d operand%s but %d operand%s were given", equation, #terms,
         #terms == 1 and '' or 's', #ops, #ops == 1 and '' or 's')
  end
  -- labels and sizes
  local labels, sizes, ell_rank, counts, first_op = {}, {}, 0, {}, {}
  for i, t in ipairs(terms) do
    local ls, ne = parse_term(t, i, ops[i].ndim)
    if ne and ne > ell_rank then ell_rank = ne end
    labels[i] = ls
    local shape = ops[i].shape
    local own = {}   -- a subscript repeated within this operand must have one size
    for d, l in ipairs(ls) do
      local s = shape[d]
      if own[l] and own[l] ~= s then
        fail("subscript '%s' is repeated in operand %d for dimensions of different sizes %d and %d", l, i, own[l], s)
      end
      own[l] = s
      if sizes[l] == nil or sizes[l] == 1 then
        sizes[l] = sizes[l] == nil and s or (s ~= 1 and s or 1)
        first_op[l] = first_op[l] or i
      elseif s ~= 1 and s ~= sizes[l] then
        fail("subscript '%s' has size %d in operand %d, which does not match size %d in operand %d",
             l:sub(1, 1) == '.' and '...' or l, s, i, sizes[l], first_op[l])
      end
      counts[l] = (counts[l] or 0) + 1
    end
  end
  -- the output's labels
  local out = {}
  if rhs then
    local seen = {}
    local i = 1
    while i <= #rhs do
      local c = rhs:sub(i, i)
      if rhs:sub(i, i + 2) == '...' then
        if seen['...'] then fail("the output subscripts %q have more than one ellipsis", rhs) end
        seen['...'] = true
        for k = ell_rank, 1, -1 do out[#out + 1] = '.' .. k end
        i = i + 3
      elseif c:match('%a') then
        if seen[c] then fail("subscript '%s' appears more than once in the output %q", c, rhs) end
        if not counts[c] then fail("output subscript '%s' does not appear in any input's subscripts", c) end
        seen[c] = true
        out[#out + 1] = c
        i = i + 1
      else
        fail("invalid subscript %q in the output subscripts %q; use letters a-z, A-Z and '...'", c, rhs)
      end
    end
  else
    for k = ell_rank, 1, -1 do out[#out + 1] = '.' .. k end
    local once = {}
    for l, n in pairs(counts) do if n == 1 and l:sub(1, 1) ~= '.' then once[#once + 1] = l end end
    table.sort(once)
    for _, l in ipairs(once) do out[#out + 1] = l end
  end
  -- reduce operand by operand, left to right
  local xs, ls = {}, {}
  for i, x in ipairs(ops) do xs[i], ls[i] = diagonals(x, labels[i], i) end
  local function needed_after(i, cur)   -- labels used by the output or operands after i
    local need = {}
    for _, l in ipairs(out) do need[l] = true end
    for j = i + 1, #ops do for _, l in ipairs(ls[j]) do need[l] = true end end
    if cur then for _, l in ipairs(cur) do need[l] = true end end
    return need
  end
  local need = needed_after(1, nil)
  local r, lr = sum_labels(xs[1], ls[1], function(l) return need[l] end)
  for i = 2, #ops do
    local need_b = needed_after(i, lr)
    local b, lb = sum_labels(xs[i], ls[i], function(l) return need_b[l] end)
    local need_r = needed_after(i, nil)
    r, lr = contract(r, lr, b, lb, function(l) return need_r[l] end, sizes)
  end
  local keep = {}
  for _, l in ipairs(out) do keep[l] = true end
  r, lr = sum_labels(r, lr, function(l) return keep[l] end)
  -- a size-1 operand label broadcast against nothing keeps size 1; expand to the output's sizes
  r = permute_to(r, lr, out)
  local want, differs = {}, false
  for d, l in ipairs(out) do want[d] = sizes[l]; if r.shape[d] ~= sizes[l] then differs = true end end
  if differs then r = M.expand(r, want) end
  return r
end

for _, name in ipairs({'outer', 'ger', 'addmm', 'baddbmm', 'trace', 'inverse', 'det'}) do M[name] = E[name] end
M.cholesky = function(a, upper) return linalg.cholesky(a, upper) end
return E
