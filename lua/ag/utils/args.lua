-- utils/args.lua: a small command-line parser for example scripts: --name value,
-- --name=value and --flag, with defaults, types from the defaults, and --help.
local Args = {}

-- spec = {{'epochs', 10, 'number of epochs'}, {'model', 'mlp', 'mlp or cnn'}, ...}
function Args.parse(argv, spec, usage)
  local opts, byname = {}, {}
  for _, s in ipairs(spec) do opts[s[1]] = s[2]; byname[s[1]] = s end
  local function help()
    local lines = {usage or 'options:'}
    for _, s in ipairs(spec) do
      lines[#lines + 1] = string.format('  --%-14s %s (default: %s)', s[1]:gsub('_', '-'), s[3] or '', tostring(s[2]))
    end
    return table.concat(lines, '\n')
  end
  local i = 1
  while i <= #argv do
    local a = argv[i]
    if a == '--help' or a == '-h' then return nil, help() end
    local name, value = a:match('^%-%-([%w%-_]+)=(.*)$')
    if not name then name = a:match('^%-%-([%w%-_]+)$') end
    if not name then return nil, 'unexpected argument: ' .. a .. '\n' .. help() end
    name = name:gsub('%-', '_')
    local s = byname[name]
    if not s then return nil, 'unknown option --' .. name .. '\n' .. help() end
    if value == nil then
      if type(s[2]) == 'boolean' then value = 'true'
      else i = i + 1; value = argv[i] end
    end
    if value == nil then return nil, 'option --' .. name .. ' needs a value' end
    if type(s[2]) == 'number' then
      local v = tonumber(value)
      if not v then return nil, string.format('option --%s expects a number, got %s', name, value) end
      opts[name] = v
    elseif type(s[2]) == 'boolean' then
      opts[name] = value == 'true' or value == '1' or value == 'yes'
    else
      opts[name] = value
    end
    i = i + 1
  end
  return opts
end

return Args
