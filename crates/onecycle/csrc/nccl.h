// c10d's NCCL process group (GPU data parallel), created without CUDA or NCCL headers: see nccl.cpp.
#pragma once

#include <torch/csrc/distributed/c10d/Backend.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>

#include <chrono>

// A c10d::ProcessGroupNCCL for `rank` of `world`, rendezvousing through `store` (as
// torch.distributed does: rank 0 puts the NCCL unique id there; give it a PrefixStore if the same
// store also serves other groups), with `timeout` for its collectives. It is constructed by
// libtorch_cuda.so, which must already be loaded (onecycle::device::load_cuda()); throws
// std::runtime_error if it is not, and rethrows libtorch's own error (a c10::Error) otherwise,
// e.g. "ProcessGroupNCCL is only supported with GPUs, no GPUs found!".
// Communicators are created lazily on the device of the first collective's tensors; to fix the
// device up front call setBoundDeviceId (and eagerConnectSingleDevice) on the result. Call its
// shutdown() before the last reference goes, as destroy_process_group() does (else libtorch warns).
c10::intrusive_ptr<c10d::Backend> oc_make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                       int rank, int world,
                                                       std::chrono::milliseconds timeout);
