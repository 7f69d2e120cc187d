/* pin.c: keeps libag (and with it libgomp and OpenBLAS) mapped until the process exits.
 * LuaJIT unloads an ffi.load'ed library when its state closes, while OpenMP's worker threads
 * may still be spinning in libgomp (OMP_WAIT_POLICY=active): unmapping that code under them
 * crashed the process at exit. Re-opening ourselves with RTLD_NODELETE makes dlclose a no-op. */
#define _GNU_SOURCE
#include <dlfcn.h>

__attribute__((constructor)) static void pin_library(void) {
  Dl_info info;
  if (dladdr((void *)pin_library, &info) && info.dli_fname)
    dlopen(info.dli_fname, RTLD_NOW | RTLD_NODELETE | RTLD_NOLOAD);
}
