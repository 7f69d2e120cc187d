-- nn/layers/rnn.lua: the recurrent layers RNN, LSTM and GRU (multi-layer, bidirectional,
-- batch_first, dropout between layers, initial states) and the cells RNNCell, LSTMCell
-- and GRUCell. Gate layouts, parameter names (weight_ih_l0, ...) and initialisation
-- (uniform in +-1/sqrt(hidden_size)) are PyTorch's, so state dicts carry over.
--   local h, c = cell(x, {h, c})             -- LSTMCell
--   local out, hc = lstm(x, {h0, c0})        -- hc = {h_n, c_n}
--   local out, h_n = gru(x, h0)
-- LSTMCell and LSTM step through the fused cell (ag.nn.functional_rnn's lstm_cell: two GEMMs
-- and one pointwise kernel, one autograd node per step). Setting `m.fused = false` on either
-- module takes the composite path (separate differentiable ops) instead; both give the same
-- values and gradients, and the fused cell supports double backward too.
local core = require 'ag.core'
local L = require 'ag.nn.layers.common'
local init = require 'ag.nn.init_weights'
local Module = L.Module
local FR = require 'ag.nn.functional_rnn'
local lstm_cell = FR.lstm_cell

local M = {}

local GATES = {RNN_TANH = 1, RNN_RELU = 1, LSTM = 4, GRU = 3}

-- x W^T + b through the fused functional when there is one
local function lin(x, w, b)
  local f = L.maybe('linear')
  if f then return f(x, w, b) end
  local y = x:matmul(w:t())
  if b then y = y + b end
  return y
end

local function chunk(t, n, size)
  local out = {}
  for i = 1, n do out[i] = t:narrow(-1, (i - 1) * size + 1, size) end
  return unpack(out)
end

-- one step of each kind: gi = x W_ih^T + b_ih (precomputed), h (and c) the state
local function step_rnn(mode, gi, h, w_hh, b_hh)
  local pre = gi + lin(h, w_hh, b_hh)
  if mode == 'RNN_RELU' then return pre:relu() end
  return pre:tanh()
end

local function step_lstm(gi, h, c, w_hh, b_hh, H)
  local gates = gi + lin(h, w_hh, b_hh)
  local i, f, g, o = chunk(gates, 4, H)
  local c2 = f:sigmoid() * c + i:sigmoid() * g:tanh()
  local h2 = o:sigmoid() * c2:tanh()
  return h2, c2
end

local function step_gru(gi, h, w_hh, b_hh, H)
  local gh = lin(h, w_hh, b_hh)
  local ir, iz, in_ = chunk(gi, 3, H)
  local hr, hz, hn = chunk(gh, 3, H)
  local r = (ir + hr):sigmoid()
  local z = (iz + hz):sigmoid()
  local n = (in_ + r * hn):tanh()
  return n + z * (h - n)
end

local function check_hidden(who, h, shape, what)
  if not core.is_tensor(h) then
    error(string.format("ag.nn.%s: %s must be a Tensor, got %s", who, what, core.typename(h)), 4)
  end
  local s = h.shape
  local ok = #s == #shape
  for i = 1, #shape do ok = ok and s[i] == shape[i] end
  if not ok then
    error(string.format("ag.nn.%s: expected %s of shape [%s], got [%s]", who, what, table.concat(shape, ', '),
                        table.concat(s, ', ')), 4)
  end
end

-- cells

local function define_cell(name, mode)
  local cls = Module:extend(name)
  M[name] = cls
  local names = {'input_size', 'hidden_size', 'bias'}
  if mode == 'RNN' then names[#names + 1] = 'nonlinearity' end
  names[#names + 1] = 'dtype'
  names[#names + 1] = 'device'
  function cls:init(...)
    local a = L.args(name, names, {bias = true, nonlinearity = 'tanh'}, ...)
    self.input_size = L.positive_int(name, 'input_size', a.input_size)
    self.hidden_size = L.positive_int(name, 'hidden_size', a.hidden_size)
    self.bias_enabled = a.bias and true or false
    if mode == 'RNN' then
      if a.nonlinearity ~= 'tanh' and a.nonlinearity ~= 'relu' then
        error(string.format("ag.nn.%s: unknown nonlinearity '%s'; use 'tanh' or 'relu'", name,
                            tostring(a.nonlinearity)), 3)
      end
      self.nonlinearity = a.nonlinearity
    end
    local G = mode == 'RNN' and 1 or GATES[mode]
    self.weight_ih = L.param(a.dtype, G * self.hidden_size, self.input_size)
    self.weight_hh = L.param(a.dtype, G * self.hidden_size, self.hidden_size)
    if a.bias then
      self.bias_ih = L.param(a.dtype, G * self.hidden_size)
      self.bias_hh = L.param(a.dtype, G * self.hidden_size)
    end
    self:reset_parameters()
  end
  function cls:reset_parameters()
    local stdv = 1 / math.sqrt(self.hidden_size)
    for _, p in ipairs(self:parameters()) do init.uniform_(p, -stdv, stdv) end
  end
  -- a state argument: zeros when nil, an unbatched one lifted, else checked against (B, H);
  -- plain checks, no closure or table per call (this runs once per time step)
  local function state(t, what, x, B, H, batched)
    if t == nil then return L.ag().zeros(B, H, {dtype = x.dtype}) end
    if not batched and core.is_tensor(t) and t.ndim == 1 then t = t:unsqueeze(1) end
    if not (core.is_tensor(t) and t.ndim == 2 and t.p.sizes[0] == B and t.p.sizes[1] == H) then
      check_hidden(name, t, {B, H}, what)
    end
    return t
  end
  function cls:forward(x, hx)
    L.check_input(name, x)
    local nd = x.ndim
    if nd ~= 1 and nd ~= 2 or x.p.sizes[nd - 1] ~= self.input_size then
      error(string.format("ag.nn.%s: expected input of shape [batch, %d] or [%d], got [%s]", name,
                          self.input_size, self.input_size, table.concat(x.shape, ', ')), 2)
    end
    local batched = nd == 2
    if not batched then x = x:unsqueeze(1) end
    local B, H = tonumber(x.p.sizes[0]), self.hidden_size
    if mode == 'LSTM' then
      if hx ~= nil and (type(hx) ~= 'table' or #hx ~= 2) then
        error(string.format("ag.nn.%s: the state must be a table {h, c}, got %s", name, core.typename(hx)), 2)
      end
      local h = state(hx and hx[1], 'h', x, B, H, batched)
      local c = state(hx and hx[2], 'c', x, B, H, batched)
      local h2, c2
      if self.fused ~= false then
        h2, c2 = lstm_cell(x, h, c, self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh)
      else
        h2, c2 = step_lstm(lin(x, self.weight_ih, self.bias_ih), h, c, self.weight_hh, self.bias_hh, H)
      end
      if not batched then return h2:squeeze(1), c2:squeeze(1) end
      return h2, c2
    end
    local gi = lin(x, self.weight_ih, self.bias_ih)
    local h = state(hx, 'hx', x, B, H, batched)
    local h2
    if mode == 'GRU' then h2 = step_gru(gi, h, self.weight_hh, self.bias_hh, H)
    else h2 = step_rnn(self.nonlinearity == 'relu' and 'RNN_RELU' or 'RNN_TANH', gi, h, self.weight_hh,
                       self.bias_hh) end
    if not batched then return h2:squeeze(1) end
    return h2
  end
  function cls:extra_repr()
    local s = string.format('%d, %d', self.input_size, self.hidden_size)
    if not self.bias_enabled then s = s .. ', bias=false' end
    if self.nonlinearity and self.nonlinearity ~= 'tanh' then s = s .. ', nonlinearity=' .. self.nonlinearity end
    return s
  end
end
define_cell('RNNCell', 'RNN')
define_cell('LSTMCell', 'LSTM')
define_cell('GRUCell', 'GRU')

-- layers

local function define_rnn(name, base_mode)
  local cls = Module:extend(name)
  M[name] = cls
  local names = {'input_size', 'hidden_size', 'num_layers'}
  if base_mode == 'RNN' then names[#names + 1] = 'nonlinearity' end
  for _, k in ipairs({'bias', 'batch_first', 'dropout', 'bidirectional', 'dtype', 'device'}) do
    names[#names + 1] = k
  end
  function cls:init(...)
    local a = L.args(name, names, {num_layers = 1, nonlinearity = 'tanh', bias = true, batch_first = false,
                                   dropout = 0, bidirectional = false}, ...)
    self.input_size = L.positive_int(name, 'input_size', a.input_size)
    self.hidden_size = L.positive_int(name, 'hidden_size', a.hidden_size)
    self.num_layers = L.positive_int(name, 'num_layers', a.num_layers)
    self.bias_enabled = a.bias and true or false
    self.batch_first = a.batch_first and true or false
    self.dropout = L.probability(name, a.dropout)
    self.bidirectional = a.bidirectional and true or false
    if base_mode == 'RNN' then
      if a.nonlinearity ~= 'tanh' and a.nonlinearity ~= 'relu' then
        error(string.format("ag.nn.%s: unknown nonlinearity '%s'; use 'tanh' or 'relu'", name,
                            tostring(a.nonlinearity)), 3)
      end
      self.nonlinearity = a.nonlinearity
      self.mode = a.nonlinearity == 'relu' and 'RNN_RELU' or 'RNN_TANH'
    else
      self.mode = base_mode
    end
    local G, H = GATES[self.mode], self.hidden_size
    local D = self.bidirectional and 2 or 1
    for layer = 0, self.num_layers - 1 do
      for dir = 0, D - 1 do
        local sfx = '_l' .. layer .. (dir == 1 and '_reverse' or '')
        local in_size = layer == 0 and self.input_size or H * D
        self:register_parameter('weight_ih' .. sfx, L.param(a.dtype, G * H, in_size))
        self:register_parameter('weight_hh' .. sfx, L.param(a.dtype, G * H, H))
        if a.bias then
          self:register_parameter('bias_ih' .. sfx, L.param(a.dtype, G * H))
          self:register_parameter('bias_hh' .. sfx, L.param(a.dtype, G * H))
        end
      end
    end
    self:reset_parameters()
  end
  function cls:reset_parameters()
    local stdv = 1 / math.sqrt(self.hidden_size)
    for _, p in ipairs(self:parameters()) do init.uniform_(p, -stdv, stdv) end
  end

  -- input [T, B, F] (or [B, T, F] with batch_first, or unbatched [T, F]); returns the
  -- output [T, B, D*H] and h_n [layers*D, B, H] (LSTM: {h_n, c_n})
  function cls:forward(input, hx)
    L.check_input(name, input)
    local ag = L.ag()
    local stack = L.fn('stack', name)
    if input.ndim ~= 2 and input.ndim ~= 3 then
      error(string.format("ag.nn.%s: expected a 3D (batched) or 2D (unbatched) input, got shape [%s]", name,
                          table.concat(input.shape, ', ')), 2)
    end
    if input.shape[input.ndim] ~= self.input_size then
      error(string.format("ag.nn.%s: input.size(-1) must be equal to input_size. Expected %d, got %d", name,
                          self.input_size, input.shape[input.ndim]), 2)
    end
    local batched = input.ndim == 3
    local x = input
    if not batched then x = x:unsqueeze(2)
    elseif self.batch_first then x = x:transpose(1, 2) end
    local T, B = x.shape[1], x.shape[2]
    local H, D, NL = self.hidden_size, self.bidirectional and 2 or 1, self.num_layers
    local is_lstm = self.mode == 'LSTM'
    local h0, c0
    local function prep(t, what)
      if t == nil then return ag.zeros(NL * D, B, H, {dtype = x.dtype}) end
      if not batched and core.is_tensor(t) and t.ndim == 2 then t = t:unsqueeze(2) end
      check_hidden(name, t, {NL * D, B, H}, what)
      return t
    end
    if is_lstm then
      if hx ~= nil and (type(hx) ~= 'table' or #hx ~= 2) then
        error(string.format("ag.nn.%s: the initial state must be a table {h_0, c_0}, got %s", name,
                            core.typename(hx)), 2)
      end
      h0, c0 = prep(hx and hx[1], 'h_0'), prep(hx and hx[2], 'c_0')
    else
      h0 = prep(hx, 'h_0')
    end
    local G = GATES[self.mode]
    local hn, cn = {}, {}
    local layer_input = x
    for layer = 0, NL - 1 do
      local dir_outputs = {}
      for dir = 0, D - 1 do
        local sfx = '_l' .. layer .. (dir == 1 and '_reverse' or '')
        local w_ih, w_hh = self['weight_ih' .. sfx], self['weight_hh' .. sfx]
        local b_ih, b_hh = self['bias_ih' .. sfx], self['bias_hh' .. sfx]
        local F_in = layer_input.shape[3]
        local fused = is_lstm and self.fused ~= false
        local gi_all = not fused and lin(layer_input:reshape(T * B, F_in), w_ih, b_ih):view(T, B, G * H) or nil
        local idx = layer * D + dir + 1
        local h = h0:select(1, idx)
        local c = is_lstm and c0:select(1, idx) or nil
        local outs = {}
        local first, last, inc = 1, T, 1
        if dir == 1 then first, last, inc = T, 1, -1 end
        for t = first, last, inc do
          if fused then h, c = lstm_cell(layer_input:select(1, t), h, c, w_ih, w_hh, b_ih, b_hh)
          elseif is_lstm then h, c = step_lstm(gi_all:select(1, t), h, c, w_hh, b_hh, H)
          elseif self.mode == 'GRU' then h = step_gru(gi_all:select(1, t), h, w_hh, b_hh, H)
          else h = step_rnn(self.mode, gi_all:select(1, t), h, w_hh, b_hh) end
          outs[t] = h
        end
        dir_outputs[dir + 1] = stack(outs, 1)
        hn[idx] = h
        if is_lstm then cn[idx] = c end
      end
      layer_input = D == 2 and L.fn('cat', name)(dir_outputs, 3) or dir_outputs[1]
      if self.dropout > 0 and self.training and layer < NL - 1 then
        layer_input = L.fn('dropout', name)(layer_input, self.dropout, true)
      end
    end
    local out = layer_input
    local h_n = stack(hn, 1)
    local c_n = is_lstm and stack(cn, 1) or nil
    if not batched then
      out = out:squeeze(2)
      h_n = h_n:squeeze(2)
      if c_n then c_n = c_n:squeeze(2) end
    elseif self.batch_first then
      out = out:transpose(1, 2)
    end
    if is_lstm then return out, {h_n, c_n} end
    return out, h_n
  end

  function cls:extra_repr()
    local s = string.format('%d, %d', self.input_size, self.hidden_size)
    if self.num_layers ~= 1 then s = s .. ', num_layers=' .. self.num_layers end
    if not self.bias_enabled then s = s .. ', bias=false' end
    if self.batch_first then s = s .. ', batch_first=true' end
    if self.dropout ~= 0 then s = s .. ', dropout=' .. self.dropout end
    if self.bidirectional then s = s .. ', bidirectional=true' end
    return s
  end
end
define_rnn('RNN', 'RNN')
define_rnn('LSTM', 'LSTM')
define_rnn('GRU', 'GRU')

return M
