-- tree.lua: turns a checkpoint object (a tensor, or nested Lua tables of tensors, numbers,
-- strings, booleans and 64-bit integer cdata) into a flat list of named tensors plus a list
-- of leaves [keys, kind, value], and back. Tensor names join the keys with '.'
-- ('fc1.weight', 'state.1.exp_avg'); the leaves keep each key's Lua type (number or string)
-- so that load rebuilds the very same nesting.
local ffi = require 'ffi'
local core = require 'ag.core'
local json = require 'ag.json'

local T = {}

local function key_str(k)
  if type(k) == 'number' then
    return k == math.floor(k) and string.format('%d', k) or string.format('%.17g', k)
  end
  return k
end

local function path_str(keys)
  local parts = {}
  for i, k in ipairs(keys) do parts[i] = key_str(k) end
  return #parts == 0 and '(root)' or "'" .. table.concat(parts, '.') .. "'"
end

local function number_str(v)
  if v ~= v then return 'nan' end
  if v == math.huge then return 'inf' end
  if v == -math.huge then return '-inf' end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format('%d', v) end
  return string.format('%.17g', v)
end

local function sorted_keys(t, keys)
  local nums, strs = {}, {}
  for k in pairs(t) do
    local ty = type(k)
    if ty == 'number' then
      if k ~= k or k == math.huge or k == -math.huge then
        error(string.format("ag.save: the table at %s has the key %s, which cannot be saved", path_str(keys), tostring(k)), 0)
      end
      nums[#nums + 1] = k
    elseif ty == 'string' then strs[#strs + 1] = k
    else
      error(string.format("ag.save: the table at %s has a %s key; keys must be numbers or strings",
                          path_str(keys), ty), 0)
    end
  end
  table.sort(nums); table.sort(strs)
  for _, s in ipairs(strs) do nums[#nums + 1] = s end
  return nums
end

-- flatten(obj) -> tensors {{name=, tensor=}...}, leaves (a JSON-ready list), plain
-- (flattened name -> string, for the non-tensor values)
function T.flatten(obj)
  local tensors, leaves, plain = {}, json.array(), {}
  local by_ptr, used = {}, {}
  local on_path = {}

  local function copy_keys(keys)
    local a = json.array()
    for i, k in ipairs(keys) do a[i] = k end
    return a
  end

  local function visit(v, keys)
    local name = 'tensor'
    if #keys > 0 then
      local p = {}
      for i, k in ipairs(keys) do p[i] = key_str(k) end
      name = table.concat(p, '.')
    end
    if core.is_tensor(v) then
      local addr = tostring(ffi.cast('intptr_t', v.p))
      local stored = by_ptr[addr]
      if not stored then
        stored = name
        local n = 1
        while used[stored] do n = n + 1; stored = name .. '~' .. n end
        used[stored] = true
        by_ptr[addr] = stored
        tensors[#tensors + 1] = {name = stored, tensor = v}
      end
      leaves[#leaves + 1] = json.array({copy_keys(keys), 'tensor', stored})
      return
    end
    local ty = type(v)
    if ty == 'table' then
      if on_path[v] then error(string.format("ag.save: the table at %s contains itself", path_str(keys)), 0) end
      local ks = sorted_keys(v, keys)
      if #ks == 0 then
        leaves[#leaves + 1] = json.array({copy_keys(keys), 'table'})
        return
      end
      on_path[v] = true
      for _, k in ipairs(ks) do
        keys[#keys + 1] = k
        visit(v[k], keys)
        keys[#keys] = nil
      end
      on_path[v] = nil
      return
    end
    local kind, value
    if ty == 'number' then kind, value = 'number', number_str(v)
    elseif ty == 'boolean' then kind, value = 'boolean', v
    elseif ty == 'string' then
      if json.utf8_error(v) then kind, value = 'bytes', (v:gsub('.', function(c) return string.format('%02x', c:byte()) end))
      else kind, value = 'string', v end
    elseif ty == 'cdata' and ffi.istype('int64_t', v) then kind, value = 'int64', tostring(v):gsub('LL$', '')
    elseif ty == 'cdata' and ffi.istype('uint64_t', v) then kind, value = 'uint64', tostring(v):gsub('ULL$', '')
    else
      error(string.format("ag.save: cannot save the %s at %s; checkpoints hold tensors, numbers, strings, " ..
                          "booleans and tables of them", ty, path_str(keys)), 0)
    end
    leaves[#leaves + 1] = json.array({copy_keys(keys), kind, value})
    if kind ~= 'bytes' then plain[name] = tostring(value) end
  end

  visit(obj, {})
  return tensors, leaves, plain
end

-- rebuilding ------------------------------------------------------------------------
local function bad(fmt, ...) error("ag.load: corrupt structure (ag.tree): " .. string.format(fmt, ...), 0) end

local function parse_int64(s, unsigned)
  if type(s) ~= 'string' then bad("a 64-bit integer must be given as a string") end
  local neg, digits = s:match('^(%-?)(%d+)$')
  if not digits or (unsigned and neg == '-') or #digits > 20 then bad("bad 64-bit integer %q", s) end
  local limit = unsigned and '18446744073709551615' or (neg == '-' and '9223372036854775808' or '9223372036854775807')
  if #digits == #limit and digits > limit or #digits > #limit then bad("64-bit integer %s out of range", s) end
  local r = unsigned and 0ULL or 0LL
  for i = 1, #digits do r = r * 10 + (digits:byte(i) - 48) end
  if neg == '-' then r = -r end
  return r
end

local function leaf_value(kind, value, tensors)
  if kind == 'tensor' then
    local t = type(value) == 'string' and tensors[value]
    if not t then bad("it refers to a tensor %s that the file does not hold", tostring(value)) end
    return t
  elseif kind == 'number' then
    local v = type(value) == 'string' and tonumber(value)
    if not v then bad("bad number %s", tostring(value)) end
    return v
  elseif kind == 'string' then
    if type(value) ~= 'string' then bad("a string leaf holds a %s", type(value)) end
    return value
  elseif kind == 'bytes' then
    if type(value) ~= 'string' or #value % 2 == 1 or value:find('[^%x]') then bad("bad hex string") end
    return (value:gsub('%x%x', function(h) return string.char(tonumber(h, 16)) end))
  elseif kind == 'boolean' then
    if type(value) ~= 'boolean' then bad("a boolean leaf holds a %s", type(value)) end
    return value
  elseif kind == 'int64' or kind == 'uint64' then
    return parse_int64(value, kind == 'uint64')
  elseif kind == 'table' then
    return {}
  end
  bad("unknown kind %s", tostring(kind))
end

-- rebuild(leaves, tensors by name) -> the object
function T.rebuild(leaves, tensors)
  if type(leaves) ~= 'table' or not json.is_array(leaves) then bad("expected a list of leaves") end
  local root, root_set = nil, false
  for i, leaf in ipairs(leaves) do
    if type(leaf) ~= 'table' or not json.is_array(leaf) or (#leaf ~= 3 and #leaf ~= 2) then bad("leaf %d is malformed", i) end
    local keys, kind = leaf[1], leaf[2]
    if type(keys) ~= 'table' or not json.is_array(keys) then bad("leaf %d has no key list", i) end
    local v = leaf_value(kind, leaf[3], tensors)
    if #keys == 0 then
      if root_set then bad("two values for the root") end
      root, root_set = v, true
    else
      if root_set and type(root) ~= 'table' then bad("the root is both a value and a table") end
      root = root or {}
      root_set = true
      local t = root
      for j, k in ipairs(keys) do
        if type(k) ~= 'string' and (type(k) ~= 'number' or k ~= k or k == math.huge or k == -math.huge) then
          bad("leaf %d has a key of type %s", i, type(k))
        end
        if j == #keys then
          if t[k] ~= nil then bad("two values for %s", path_str(keys)) end
          t[k] = v
        else
          local nxt = t[k]
          if nxt == nil then nxt = {}; t[k] = nxt
          elseif type(nxt) ~= 'table' then bad("%s is both a value and a table", path_str(keys)) end
          t = nxt
        end
      end
    end
  end
  if not root_set then return {} end
  return root
end

return T
