// Declarations only (see ../README): enough of Gloo for torch's ProcessGroupGloo.hpp to parse.
// The real gloo::Context lives inside libtorch_cpu.so; onecycle only holds pointers to it.
#pragma once
#include <chrono>

namespace gloo {
class Context {
 public:
  void setTimeout(std::chrono::milliseconds timeout);
};
}  // namespace gloo
