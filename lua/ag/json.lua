-- json.lua: a small strict JSON encoder and decoder (RFC 8259), for safetensors headers.
-- The decoder treats its input as untrusted: no trailing commas, no leading zeros, no
-- control characters in strings, no duplicate keys, bounded nesting, nothing after the
-- value; every violation is an error naming the byte offset. Arrays decode to Lua lists
-- marked with json.array's metatable so they encode back as arrays (also when empty).
local bit = require 'bit'

local json = {}

local array_mt = {__name = 'json.array'}
function json.array(t) return setmetatable(t or {}, array_mt) end
function json.is_array(t) return getmetatable(t) == array_mt end
json.null = setmetatable({}, {__name = 'json.null', __tostring = function() return 'null' end})

local MAX_DEPTH = 64

-- encoding --------------------------------------------------------------------------
local escapes = {['"'] = '\\"', ['\\'] = '\\\\', ['\b'] = '\\b', ['\f'] = '\\f', ['\n'] = '\\n',
                 ['\r'] = '\\r', ['\t'] = '\\t'}
local function encode_string(s)
  if json.utf8_error(s) then error(string.format("json.encode: string %q is not valid UTF-8", s:sub(1, 40)), 0) end
  return '"' .. s:gsub('[%c"\\]', function(c)
    return escapes[c] or string.format('\\u%04x', c:byte())
  end) .. '"'
end

local function encode_number(v)
  if v ~= v or v == math.huge or v == -math.huge then
    error("json.encode: cannot encode " .. tostring(v) .. " (JSON has no NaN or infinity)", 0)
  end
  if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return string.format('%d', v) end
  return string.format('%.17g', v)
end

local encode_value
local function encode_table(t, depth, out)
  if depth > MAX_DEPTH then error("json.encode: nesting deeper than " .. MAX_DEPTH, 0) end
  local n = #t
  if getmetatable(t) == array_mt or n > 0 then
    local count = 0
    for _ in pairs(t) do count = count + 1 end
    if count ~= n then error("json.encode: a table mixes list and string keys", 0) end
    out[#out + 1] = '['
    for i = 1, n do
      if i > 1 then out[#out + 1] = ',' end
      encode_value(t[i], depth + 1, out)
    end
    out[#out + 1] = ']'
    return
  end
  local keys = {}
  for k in pairs(t) do
    if type(k) ~= 'string' then error("json.encode: object keys must be strings, got " .. type(k), 0) end
    keys[#keys + 1] = k
  end
  table.sort(keys)   -- deterministic output
  out[#out + 1] = '{'
  for i, k in ipairs(keys) do
    if i > 1 then out[#out + 1] = ',' end
    out[#out + 1] = encode_string(k)
    out[#out + 1] = ':'
    encode_value(t[k], depth + 1, out)
  end
  out[#out + 1] = '}'
end

function encode_value(v, depth, out)
  local ty = type(v)
  if v == json.null then out[#out + 1] = 'null'
  elseif ty == 'string' then out[#out + 1] = encode_string(v)
  elseif ty == 'number' then out[#out + 1] = encode_number(v)
  elseif ty == 'boolean' then out[#out + 1] = v and 'true' or 'false'
  elseif ty == 'table' then encode_table(v, depth, out)
  else error("json.encode: cannot encode a " .. ty, 0) end
end

function json.encode(v)
  local out = {}
  encode_value(v, 0, out)
  return table.concat(out)
end

-- decoding --------------------------------------------------------------------------
local function fail(s, pos, what)
  error(string.format("invalid JSON at byte %d: %s", pos, what), 0)
end

local function skip_ws(s, pos)
  return s:find('[^ \t\r\n]', pos) or #s + 1
end

local function utf8_char(cp)
  if cp < 0x80 then return string.char(cp) end
  if cp < 0x800 then return string.char(0xC0 + bit.rshift(cp, 6), 0x80 + bit.band(cp, 0x3F)) end
  if cp < 0x10000 then
    return string.char(0xE0 + bit.rshift(cp, 12), 0x80 + bit.band(bit.rshift(cp, 6), 0x3F), 0x80 + bit.band(cp, 0x3F))
  end
  return string.char(0xF0 + bit.rshift(cp, 18), 0x80 + bit.band(bit.rshift(cp, 12), 0x3F),
                     0x80 + bit.band(bit.rshift(cp, 6), 0x3F), 0x80 + bit.band(cp, 0x3F))
end

local simple = {['"'] = '"', ['\\'] = '\\', ['/'] = '/', b = '\b', f = '\f', n = '\n', r = '\r', t = '\t'}

local function decode_string(s, pos)   -- pos at the opening quote
  local parts = {}
  local i = pos + 1
  while true do
    local j = s:find('["\\%z\1-\31]', i)
    if not j then fail(s, pos, "unterminated string") end
    parts[#parts + 1] = s:sub(i, j - 1)
    local c = s:sub(j, j)
    if c == '"' then return table.concat(parts), j + 1 end
    if c ~= '\\' then fail(s, j, "control character in a string") end
    local e = s:sub(j + 1, j + 1)
    if simple[e] then
      parts[#parts + 1] = simple[e]
      i = j + 2
    elseif e == 'u' then
      local hex = s:match('^%x%x%x%x', j + 2)
      if not hex then fail(s, j, "bad \\u escape") end
      local cp = tonumber(hex, 16)
      i = j + 6
      if cp >= 0xD800 and cp <= 0xDBFF then
        local lo = s:match('^\\u(%x%x%x%x)', i)
        lo = lo and tonumber(lo, 16)
        if not lo or lo < 0xDC00 or lo > 0xDFFF then fail(s, j, "unpaired surrogate in \\u escape") end
        cp = 0x10000 + (cp - 0xD800) * 0x400 + (lo - 0xDC00)
        i = i + 6
      elseif cp >= 0xDC00 and cp <= 0xDFFF then
        fail(s, j, "unpaired surrogate in \\u escape")
      end
      parts[#parts + 1] = utf8_char(cp)
    else
      fail(s, j, "bad escape \\" .. e)
    end
  end
end

local decode_value
local function decode_array(s, pos, depth)
  local out = json.array()
  pos = skip_ws(s, pos + 1)
  if s:sub(pos, pos) == ']' then return out, pos + 1 end
  while true do
    local v
    v, pos = decode_value(s, pos, depth + 1)
    out[#out + 1] = v
    pos = skip_ws(s, pos)
    local c = s:sub(pos, pos)
    if c == ']' then return out, pos + 1 end
    if c ~= ',' then fail(s, pos, "expected ',' or ']' in an array") end
    pos = skip_ws(s, pos + 1)
  end
end

local function decode_object(s, pos, depth)
  local out = {}
  pos = skip_ws(s, pos + 1)
  if s:sub(pos, pos) == '}' then return out, pos + 1 end
  while true do
    if s:sub(pos, pos) ~= '"' then fail(s, pos, "expected a string key") end
    local k
    k, pos = decode_string(s, pos)
    if out[k] ~= nil then fail(s, pos, string.format("duplicate key %q", k)) end
    pos = skip_ws(s, pos)
    if s:sub(pos, pos) ~= ':' then fail(s, pos, "expected ':' after a key") end
    local v
    v, pos = decode_value(s, skip_ws(s, pos + 1), depth + 1)
    out[k] = v
    pos = skip_ws(s, pos)
    local c = s:sub(pos, pos)
    if c == '}' then return out, pos + 1 end
    if c ~= ',' then fail(s, pos, "expected ',' or '}' in an object") end
    pos = skip_ws(s, pos + 1)
  end
end

function decode_value(s, pos, depth)
  if depth > MAX_DEPTH then fail(s, pos, "nesting deeper than " .. MAX_DEPTH) end
  local c = s:sub(pos, pos)
  if c == '{' then return decode_object(s, pos, depth) end
  if c == '[' then return decode_array(s, pos, depth) end
  if c == '"' then return decode_string(s, pos) end
  if s:sub(pos, pos + 3) == 'true' then return true, pos + 4 end
  if s:sub(pos, pos + 4) == 'false' then return false, pos + 5 end
  if s:sub(pos, pos + 3) == 'null' then return json.null, pos + 4 end
  local num = s:match('^-?%d+%.?%d*[eE]?[-+]?%d*', pos)
  if num and num ~= '' then
    -- the exact grammar: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?
    local int, frac, exp = num:match('^(-?%d+)(%.?%d*)([eE]?[-+]?%d*)$')
    local ok = int and (int:match('^-?0$') or int:match('^-?[1-9]%d*$'))
         and (frac == '' or frac:match('^%.%d+$')) and (exp == '' or exp:match('^[eE][-+]?%d+$'))
    if not ok then fail(s, pos, "malformed number " .. num) end
    return tonumber(num), pos + #num
  end
  if c == '' then fail(s, pos, "unexpected end of input") end
  fail(s, pos, string.format("unexpected character %q", c))
end

-- the byte offset of the first invalid UTF-8 sequence in s, or nil when s is valid
function json.utf8_error(s)
  local i, n = 1, #s
  while true do
    i = s:find('[\128-\255]', i)
    if not i then return nil end
    local c = s:byte(i)
    local len, min
    if c >= 0xC2 and c <= 0xDF then len, min = 2, 0x80
    elseif c >= 0xE0 and c <= 0xEF then len, min = 3, 0x800
    elseif c >= 0xF0 and c <= 0xF4 then len, min = 4, 0x10000
    else return i end
    if i + len - 1 > n then return i end
    local cp = bit.band(c, bit.rshift(0x7F, len))
    for k = 1, len - 1 do
      local b = s:byte(i + k)
      if b < 0x80 or b > 0xBF then return i end
      cp = cp * 64 + (b - 0x80)
    end
    if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return i end
    i = i + len
  end
end

function json.decode(s)
  if type(s) ~= 'string' then error("json.decode: expected a string", 2) end
  local bad = json.utf8_error(s)
  if bad then fail(s, bad, "invalid UTF-8") end
  local v, pos = decode_value(s, skip_ws(s, 1), 0)
  pos = skip_ws(s, pos)
  if pos <= #s then fail(s, pos, "unexpected data after the value") end
  return v
end

return json
