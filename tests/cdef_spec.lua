-- cdef_spec.lua: the FFI declarations (lua/ag/cdef.lua) cannot drift from the C headers.
-- tools/gen_cdef.lua regenerates them from the AG_FFI_BEGIN..AG_FFI_END blocks of
-- lib/*/ag_*.h; the build also runs it, so besides the working tree this checks the
-- committed files (a header committed without its regenerated cdef.lua fails here), and
-- that every function declared to the FFI is exported by the library that was loaded.
local ffi = require 'ffi'

local function run(cmd)
  local p = assert(io.popen(cmd, 'r'))
  local out = p:read('*a')
  local ok, _, code = p:close()
  return out, (ok == true or ok == 0) and 0 or (code or 1)
end

local function read(path)
  local f = assert(io.open(path, 'rb'))
  local s = f:read('*a')
  f:close()
  return s
end

local function sh_quote(s) return "'" .. s:gsub("'", "'\\''") .. "'" end

-- The first line where two texts differ, for a readable failure.
local function first_difference(a, b)
  local la, lb = {}, {}
  for l in (a .. '\n'):gmatch('(.-)\n') do la[#la + 1] = l end
  for l in (b .. '\n'):gmatch('(.-)\n') do lb[#lb + 1] = l end
  for i = 1, math.max(#la, #lb) do
    if la[i] ~= lb[i] then
      return string.format('line %d:\n  generated: %s\n  committed: %s', i, tostring(la[i]), tostring(lb[i]))
    end
  end
  return 'no line differs (trailing bytes)'
end

describe("the FFI declarations in lua/ag/cdef.lua", function()
  it("are exactly what tools/gen_cdef.lua makes from the headers in the working tree", function()
    local generated, rc = run('luajit tools/gen_cdef.lua . -')
    assert.are.equal(0, rc)
    assert.is_true(#generated > 0)
    local committed = read('lua/ag/cdef.lua')
    if generated ~= committed then
      error('lua/ag/cdef.lua is stale; run `luajit tools/gen_cdef.lua .` (or build) and commit it.\n' ..
            'first difference at ' .. first_difference(generated, committed))
    end
  end)

  it("are what gen_cdef makes from the headers of the last commit (HEAD)", function()
    local _, in_git = run('git rev-parse --verify -q HEAD >/dev/null 2>&1')
    if in_git ~= 0 then pending('not a git checkout') return end
    local files = run('git ls-tree -r --name-only HEAD -- lib tools/gen_cdef.lua')
    local tmp = os.tmpname()
    os.remove(tmp)
    assert.are.equal(0, select(2, run('mkdir -p ' .. sh_quote(tmp))))
    local copied = 0
    for path in files:gmatch('[^\n]+') do
      if path:match('^lib/[^/]+/ag_[^/]*%.h$') or path == 'tools/gen_cdef.lua' then
        local dir = path:match('^(.*)/[^/]*$')
        run('mkdir -p ' .. sh_quote(tmp .. '/' .. dir))
        local _, rc = run('git show ' .. sh_quote('HEAD:' .. path) .. ' > ' .. sh_quote(tmp .. '/' .. path))
        assert.are.equal(0, rc)
        copied = copied + 1
      end
    end
    local generated, rc = run('luajit ' .. sh_quote(tmp .. '/tools/gen_cdef.lua') .. ' ' .. sh_quote(tmp) .. ' -')
    run('rm -rf ' .. sh_quote(tmp))
    assert.are.equal(0, rc)
    assert.is_true(copied >= 3)
    local committed = run('git show HEAD:lua/ag/cdef.lua')
    if generated ~= committed then
      error('the committed lua/ag/cdef.lua does not match the committed headers; regenerate and commit it.\n' ..
            'first difference at ' .. first_difference(generated, committed))
    end
  end)

  it("parse, and every declared function is exported by libag", function()
    local text = require 'ag.cdef'
    local C = require 'ag.lib'   -- declares the text to the FFI and loads the library
    local names, missing = 0, {}
    for line in text:gmatch('[^\n]+') do
      if line:match('^[%a_]') and not line:match('^typedef') and not line:match('^enum')
         and not line:match('^struct') then
        local name = line:match('([%a_][%w_]*)%s*%(')
        if name then
          names = names + 1
          if not pcall(function() return C[name] end) then missing[#missing + 1] = name end
        end
      end
    end
    assert.is_true(names > 100)
    assert.are.same({}, missing)
    assert.are.equal(ffi.sizeof('ag_ref'), ffi.sizeof('void *'))
  end)

  it("refuse a library that is not the one the declarations describe", function()
    -- zlib stands in for a stale libag.so: the struct-size check cannot pass
    local cmd = "AG_LIBRARY=/lib/x86_64-linux-gnu/libz.so.1 luajit -e \"package.path='lua/?.lua;lua/?/init.lua;'" ..
                "..package.path; require 'ag'\" 2>&1"
    local p = io.popen(cmd)
    local out = p:read('*a')
    p:close()
    assert.truthy(out:find("was built from other headers than lua/ag/cdef.lua", 1, true), out)
  end)
end)
