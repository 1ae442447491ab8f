// Declarations only (see ../../README): ProcessGroupGloo.hpp holds these types through pointers.
#pragma once

namespace gloo {
namespace transport {
class Device;
class UnboundBuffer;
}  // namespace transport
}  // namespace gloo
