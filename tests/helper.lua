-- helper.lua: loaded once by busted (see .busted) before any spec file, so every spec
-- shares one copy of ag: the FFI types and their metatables are process-wide.
package.path = 'lua/?.lua;lua/?/init.lua;' .. package.path
require 'ag'
