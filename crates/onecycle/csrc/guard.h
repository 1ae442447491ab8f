// The shim's error convention: each exported call returns NULL on success or a malloc'd copy of
// the C++ exception's message, which the Rust side frees with oc_free.
#pragma once
#include <cstdlib>
#include <cstring>
#include <exception>

namespace oc {
template <typename F>
char* guard(F f) {
  try {
    f();
    return nullptr;
  } catch (const std::exception& e) {
    return strdup(e.what());
  } catch (...) {
    return strdup("unknown C++ exception");
  }
}
}  // namespace oc
