-- ag-scm-1.rockspec: builds the C library (lib/tensor, lib/autograd) with CMake and
-- installs libag.so into the tree's C module dir (LIBDIR) and lua/ag into its Lua dir
-- (LUADIR), where `require 'ag'` finds them: lua/ag/lib.lua looks libag up on
-- package.cpath. ag runs on LuaJIT, so use the 5.1 tree:
--   luarocks --lua-version=5.1 make rockspecs/ag-scm-1.rockspec            (system)
--   luarocks --lua-version=5.1 make --tree=DIR rockspecs/ag-scm-1.rockspec (DIR)
-- `luarocks make` builds the checkout it runs in; source.url is only for `luarocks build`.
rockspec_format = "3.0"
package = "ag"
version = "scm-1"
source = {
  url = "git+file:///work/main",
  branch = "main",
}
description = {
  summary = "Tensors and reverse-mode autograd for LuaJIT, in C",
  detailed = [[
ag is a deep-learning framework for LuaJIT in the Torch7 tradition with PyTorch's
autograd semantics: strided tensors, kernels and the tape engine are in C (OpenBLAS
for GEMM, OpenMP for large kernels); a thin FFI layer makes them Lua objects.]],
  labels = {"deep-learning", "autograd", "tensor", "luajit"},
  license = "not chosen yet",   -- the project has no LICENSE file so far
}
dependencies = {
  "lua >= 5.1, < 5.2",
}
-- CMake finds LuaJIT, OpenMP and OpenBLAS (cblas) itself; on Debian:
-- apt-get install luajit libluajit-5.1-dev libopenblas-dev cmake build-essential
build = {
  type = "cmake",
  variables = {
    CMAKE_BUILD_TYPE = "Release",
    CMAKE_INSTALL_PREFIX = "$(PREFIX)",
    LUADIR = "$(LUADIR)",
    LIBDIR = "$(LIBDIR)",
  },
}
