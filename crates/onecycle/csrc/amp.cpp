// Mixed precision and device calls that tch 0.24 does not expose: autocast for any device type
// (tch's covers CUDA only), GradScaler's fused unscale-and-check, pinning host memory without the
// deprecated device argument, and whether libtorch's CUDA backend is active. Same error
// convention as ops.cpp (guard.h).
#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <ATen/detail/CUDAHooksInterface.h>

#include <typeinfo>

#include "guard.h"

using oc::guard;

extern "C" {
// Reads the autocast state of `device_type` (at::DeviceType: 0 CPU, 1 CUDA) and the
// thread's cache flag, so that a guard can restore them.
char* oc_autocast_state(int device_type, bool* enabled, int* dtype, bool* cache) {
  return guard([&] {
    auto dt = static_cast<at::DeviceType>(device_type);
    *enabled = at::autocast::is_autocast_enabled(dt);
    *dtype = static_cast<int>(at::autocast::get_autocast_dtype(dt));
    *cache = at::autocast::is_autocast_cache_enabled();
  });
}
// Enters an autocast region, as torch.autocast.__enter__ does: enable, set the low-precision
// dtype (an at::ScalarType), count the nesting, keep the weight-cast cache on.
char* oc_autocast_enter(int device_type, int dtype) {
  return guard([&] {
    auto dt = static_cast<at::DeviceType>(device_type);
    at::autocast::set_autocast_enabled(dt, true);
    at::autocast::set_autocast_dtype(dt, static_cast<at::ScalarType>(dtype));
    at::autocast::increment_nesting();
    at::autocast::set_autocast_cache_enabled(true);
  });
}
// Leaves the region (torch.autocast.__exit__): the outermost exit drops the cached weight
// casts; the previous state is put back.
char* oc_autocast_exit(int device_type, bool enabled, int dtype, bool cache) {
  return guard([&] {
    auto dt = static_cast<at::DeviceType>(device_type);
    if (at::autocast::decrement_nesting() == 0) {
      at::autocast::clear_cache();
    }
    at::autocast::set_autocast_enabled(dt, enabled);
    at::autocast::set_autocast_dtype(dt, static_cast<at::ScalarType>(dtype));
    at::autocast::set_autocast_cache_enabled(cache);
  });
}
// grads[i] *= inv_scale for all n gradients; found_inf becomes 1 if any value is inf or NaN
// (torch.amp.GradScaler.unscale_: one fused kernel per device).
char* oc_amp_unscale_(at::Tensor** grads, int n, at::Tensor* found_inf, const at::Tensor* inv_scale) {
  return guard([&] {
    std::vector<at::Tensor> list;
    list.reserve(n);
    for (int i = 0; i < n; i++) list.push_back(*grads[i]);
    at::_amp_foreach_non_finite_check_and_unscale_(list, *found_inf, *inv_scale);
  });
}
// Whether libtorch_cuda.so has registered its CUDA hooks (*registered) and whether libtorch uses
// them (*active): libtorch picks its hooks once, at its first CUDA query, so hooks registered
// after that query stay unused and CUDA looks absent.
char* oc_cuda_hooks(bool* registered, bool* active) {
  return guard([&] {
    *registered = at::CUDAHooksRegistry()->Has("CUDAHooks");
    const at::CUDAHooksInterface& hooks = at::detail::getCUDAHooks();
    *active = typeid(hooks) != typeid(at::CUDAHooksInterface);
  });
}
// A copy of `t` in page-locked host memory, for asynchronous copies to the GPU.
char* oc_pin_memory(at::Tensor** out, const at::Tensor* t) {
  return guard([&] { *out = new at::Tensor(t->pin_memory()); });
}
}
