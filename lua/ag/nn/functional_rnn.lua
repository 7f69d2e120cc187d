-- nn/functional_rnn.lua: the fused recurrent cells, meant to be merged into ag.F.
--   local h2, c2 = F.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)   -- biases may be nil
-- x [B, I] (or unbatched [I]), h and c [B, H] ([H]), w_ih [4H, I], w_hh [4H, H],
-- b_ih and b_hh [4H]; PyTorch's gate order i, f, g, o. One C op (two cblas GEMMs and one
-- fused pointwise kernel, lib/tensor/rnn_cell.c) recording one node, LstmCellBackward,
-- whose backward is one fused kernel plus the GEMMs (lib/autograd/rnn_grad.c); under
-- create_graph that backward is written with differentiable ops, so double backward works.
-- F.lstm_cell_composite(...) computes the same cell from ~12 separate differentiable ops
-- (the reference the fused cell is tested against).
local ffi = require 'ffi'
local core = require 'ag.core'

local C, wrap, check = core.C, core.wrap, core.check
local is_tensor, typename = core.is_tensor, core.typename

local M = {}
local outs = ffi.new('ag_tensor *[2]')

local function opt(t, name, pos)
  if t == nil then return nil end
  if not is_tensor(t) then
    error(string.format("ag.F.lstm_cell: %s (argument %d) must be a Tensor or nil, got %s", name, pos, typename(t)), 3)
  end
  return t.p
end

local function arg(t, name, pos)
  if not is_tensor(t) then
    error(string.format("ag.F.lstm_cell: %s (argument %d) must be a Tensor, got %s", name, pos, typename(t)), 3)
  end
  return t.p
end

function M.lstm_cell(x, h, c, w_ih, w_hh, b_ih, b_hh)
  local px, ph, pc = arg(x, 'x', 1), arg(h, 'h', 2), arg(c, 'c', 3)
  local pwi, pwh = arg(w_ih, 'w_ih', 4), arg(w_hh, 'w_hh', 5)
  local pbi, pbh = opt(b_ih, 'b_ih', 6), opt(b_hh, 'b_hh', 7)
  local unbatched = x.ndim == 1
  if unbatched then
    if h.ndim ~= 1 or c.ndim ~= 1 then
      error(string.format("ag.F.lstm_cell: for an unbatched x of shape [%d], h and c must be 1-D, got [%s] and [%s]",
                          x.shape[1], table.concat(h.shape, ', '), table.concat(c.shape, ', ')), 2)
    end
    local h2, c2 = M.lstm_cell(x:unsqueeze(1), h:unsqueeze(1), c:unsqueeze(1), w_ih, w_hh, b_ih, b_hh)
    return h2:squeeze(1), c2:squeeze(1)
  end
  if C.aga_lstm_cell(px, ph, pc, pwi, pwh, pbi, pbh, outs) ~= 0 then
    error(ffi.string(C.ag_last_error()), 2)
  end
  local h2, c2 = wrap(outs[0]), wrap(outs[1])
  return h2, c2
end

function M.lstm_cell_composite(x, h, c, w_ih, w_hh, b_ih, b_hh)
  local gates = x:matmul(w_ih:t()) + h:matmul(w_hh:t())
  if b_ih ~= nil then gates = gates + b_ih end
  if b_hh ~= nil then gates = gates + b_hh end
  local H = w_hh.shape[2]
  local d = gates.ndim
  local i, f = gates:narrow(d, 1, H):sigmoid(), gates:narrow(d, H + 1, H):sigmoid()
  local g, o = gates:narrow(d, 2 * H + 1, H):tanh(), gates:narrow(d, 3 * H + 1, H):sigmoid()
  local c2 = f * c + i * g
  return o * c2:tanh(), c2
end

return M
