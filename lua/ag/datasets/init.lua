-- ag.datasets: ready-made datasets, loaded on first use: fashion_mnist{...}, text{...}.
return setmetatable({}, {__index = function(t, name)
  local ok, mod = pcall(require, 'ag.datasets.' .. tostring(name))
  if not ok then
    if tostring(mod):find("module 'ag.datasets." .. tostring(name) .. "' not found", 1, true) then return nil end
    error(mod, 2)
  end
  rawset(t, name, mod)
  return mod
end})
