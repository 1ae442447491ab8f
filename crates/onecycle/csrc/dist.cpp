// Data-parallel collectives through torch.distributed's C++ engine (c10d): a TCP store for the
// rendezvous and a Gloo process group created and run by libtorch. The Gloo headers come from
// csrc/gloo_decl (declarations only, see its README); nothing Gloo-specific is compiled here.
// Each function returns NULL on success or a malloc'd error message the caller frees (oc_free).
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/autograd/custom_function.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <unordered_map>
#include <cstring>
#include <string>
#include <vector>

#include "nccl.h"

// libtorch 2.11.0 allocates ProcessGroupGloo with 0x1e8 bytes (see `split` in libtorch_cpu.so);
// the object is built by libtorch's constructor in memory sized from this header.
static_assert(sizeof(c10d::ProcessGroupGloo) == 0x1e8,
              "ProcessGroupGloo's layout differs from libtorch 2.11.0's");

namespace {
// Gloo for CPU tensors; NCCL, once a GPU rank asks for it, for CUDA tensors.
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> gloo;
  c10::intrusive_ptr<c10d::Backend> nccl;
  std::chrono::milliseconds timeout;

  c10d::Backend& backend(const at::Tensor& t) {
    if (t.is_cuda()) {
      TORCH_CHECK(nccl, "a CUDA tensor, but this process group has no NCCL backend");
      return *nccl;
    }
    return *gloo;
  }

  ~Group() {
    if (nccl) nccl->shutdown();
  }
};

template <typename F>
char* guard(F f) {
  try {
    f();
    return nullptr;
  } catch (const c10::Error& e) {
    return strdup(e.what_without_backtrace());
  } catch (const std::exception& e) {
    return strdup(e.what());
  } catch (...) {
    return strdup("unknown C++ exception");
  }
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

// In place, `t` becomes its sum over ranks; returns when done.
void all_reduce_sum(Group* g, at::Tensor& t) {
  c10d::AllreduceOptions opts;
  opts.timeout = g->timeout;
  std::vector<at::Tensor> one{t};
  g->backend(t).allreduce(one, opts)->wait(g->timeout);
}

// Consecutive runs of tensors with the same dtype and device, each run at most `bucket_bytes` (or one tensor).
std::vector<std::vector<at::Tensor>> buckets(at::Tensor** ts, size_t n, int64_t bucket_bytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor& t = *ts[i];
    int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    if (out.empty() || bytes + size > bucket_bytes ||
        !out.back()[0].options().type_equal(t.options())) {
      out.emplace_back();
      bytes = 0;
    }
    out.back().push_back(t);
    bytes += size;
  }
  return out;
}

at::Tensor flatten(const std::vector<at::Tensor>& bucket) {
  std::vector<at::Tensor> flat;
  flat.reserve(bucket.size());
  for (const auto& t : bucket) flat.push_back(t.reshape({-1}));
  return at::cat(flat);
}

void unflatten(const at::Tensor& flat, std::vector<at::Tensor>& bucket) {
  int64_t offset = 0;
  for (auto& t : bucket) {
    t.copy_(flat.narrow(0, offset, t.numel()).view(t.sizes()));
    offset += t.numel();
  }
}

// Runs `collective` on one flat buffer per bucket (all launched before the first wait, so Gloo's
// worker threads overlap them), then copies the results back into the tensors.
template <typename F>
void bucketed(Group* g, at::Tensor** ts, size_t n, int64_t bucket_bytes, double scale, F collective) {
  at::NoGradGuard no_grad;
  auto groups = buckets(ts, n, bucket_bytes);
  std::vector<at::Tensor> flats;
  std::vector<c10::intrusive_ptr<c10d::Work>> works;
  for (auto& bucket : groups) {
    at::Tensor flat = flatten(bucket);
    if (scale != 1.0) flat.mul_(scale);
    std::vector<at::Tensor> one{flat};
    works.push_back(collective(one));
    flats.push_back(flat);
  }
  for (size_t i = 0; i < works.size(); ++i) {
    works[i]->wait(g->timeout);
    unflatten(flats[i], groups[i]);
  }
}

// Batch norm whose training statistics are those of the global batch (PyTorch's SyncBatchNorm):
// forward all-reduces each channel's count, sum and sum of squares (in double); backward
// all-reduces Σdy and Σdy·x̂. Every rank's gradients are those of its own loss, to be averaged
// by the gradient sync with weight `share` (its part of the global batch): the all-reduced
// sums are weighted by share and the input gradient divided by it, so that after the sync the
// update is exactly the one-process update on the whole batch.
struct SyncBatchNorm : public torch::autograd::Function<SyncBatchNorm> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x,
                            const at::Tensor& weight, const at::Tensor& bias, at::Tensor running_mean,
                            at::Tensor running_var, double momentum, double eps, int64_t group) {
    TORCH_CHECK(x.dim() >= 2, "batch norm needs input [N, C, ...], got ", x.sizes());
    auto* g = reinterpret_cast<Group*>(group);
    const int64_t channels = x.size(1);
    auto dims = reduced_dims(x);
    auto shape = channel_shape(x);
    at::Tensor xf = x.to(at::kFloat);
    auto [var, mean] = at::var_mean(xf, dims, /*correction=*/0, /*keepdim=*/false);
    const double n = static_cast<double>(x.numel() / std::max<int64_t>(channels, 1));
    at::Tensor m = mean.to(at::kDouble);
    at::Tensor stats = at::cat({m * n, (var.to(at::kDouble) + m * m) * n,
                                at::full({1}, n, m.options())});
    all_reduce_sum(g, stats);
    const double total = stats[2 * channels].item<double>();
    TORCH_CHECK(total > 0, "synchronised batch norm: the global batch is empty");
    at::Tensor global_mean = stats.narrow(0, 0, channels) / total;
    at::Tensor global_var =
        (stats.narrow(0, channels, channels) / total - global_mean * global_mean).clamp_min(0);
    at::Tensor invstd = (global_var + eps).rsqrt().to(at::kFloat);
    at::Tensor mean_f = global_mean.to(at::kFloat);
    {
      at::NoGradGuard no_grad;
      const double unbiased = total > 1 ? total / (total - 1) : 1.0;
      if (running_mean.defined()) {
        running_mean.mul_(1 - momentum).add_(mean_f.to(running_mean.options()), momentum);
      }
      if (running_var.defined()) {
        running_var.mul_(1 - momentum)
            .add_((global_var * unbiased).to(running_var.options()), momentum);
      }
    }
    at::Tensor xhat = (xf - mean_f.view(shape)) * invstd.view(shape);
    at::Tensor w = weight.defined() ? weight.to(at::kFloat) : at::ones({channels}, xf.options());
    at::Tensor y = xhat * w.view(shape);
    if (bias.defined()) y = y + bias.to(at::kFloat).view(shape);
    ctx->save_for_backward({xhat, w, invstd});
    ctx->saved_data["group"] = group;
    ctx->saved_data["total"] = total;
    ctx->saved_data["share"] = n / total;
    ctx->saved_data["kind"] = static_cast<int64_t>(x.scalar_type());
    ctx->saved_data["affine"] = weight.defined();
    return y.to(x.scalar_type());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &xhat = saved[0], &w = saved[1], &invstd = saved[2];
    auto* g = reinterpret_cast<Group*>(ctx->saved_data["group"].toInt());
    const double total = ctx->saved_data["total"].toDouble();
    const double share = ctx->saved_data["share"].toDouble();
    const auto kind = static_cast<at::ScalarType>(ctx->saved_data["kind"].toInt());
    const int64_t channels = xhat.size(1);
    auto dims = reduced_dims(xhat);
    auto shape = channel_shape(xhat);
    at::Tensor dy = grads[0].to(at::kFloat);
    at::Tensor sum_dy = dy.sum(dims);
    at::Tensor sum_dy_xhat = (dy * xhat).sum(dims);
    at::Tensor sums = at::cat({sum_dy, sum_dy_xhat}).to(at::kDouble) * share;
    all_reduce_sum(g, sums);
    at::Tensor mean_dy = (sums.narrow(0, 0, channels) / total).to(at::kFloat);
    at::Tensor mean_dy_xhat = (sums.narrow(0, channels, channels) / total).to(at::kFloat);
    at::Tensor dx = (w * invstd).view(shape) *
                    (dy - (mean_dy.view(shape) + xhat * mean_dy_xhat.view(shape)) / share);
    const bool affine = ctx->saved_data["affine"].toBool();
    return {dx.to(kind),      affine ? sum_dy_xhat : at::Tensor(), affine ? sum_dy : at::Tensor(),
            at::Tensor(),     at::Tensor(),
            at::Tensor(),     at::Tensor(),
            at::Tensor()};
  }

  // Every dimension but the channels (1).
  static std::vector<int64_t> reduced_dims(const at::Tensor& x) {
    std::vector<int64_t> dims{0};
    for (int64_t d = 2; d < x.dim(); ++d) dims.push_back(d);
    return dims;
  }

  // [1, C, 1, ...]: a per-channel vector broadcast against x.
  static std::vector<int64_t> channel_shape(const at::Tensor& x) {
    std::vector<int64_t> shape(x.dim(), 1);
    shape[1] = x.size(1);
    return shape;
  }
};

// Gradient all-reduce overlapped with backward (what PyTorch DDP's Reducer does): a hook on each
// parameter copies its gradient into its bucket's flat buffer as soon as autograd computes it,
// and each full bucket's all-reduce starts at once, in bucket order (the same on every rank), while
// backward goes on. Buckets follow the order in which gradients became ready in the first step
// (rank 0's order, broadcast), the first bucket small so that communication starts early.
class Reducer {
 public:
  Reducer(Group* g, at::Tensor** params, size_t n, int64_t first_bucket_bytes, int64_t bucket_bytes)
      : g_(g), first_bucket_bytes_(first_bucket_bytes), bucket_bytes_(bucket_bytes) {
    for (size_t i = 0; i < n; ++i) {
      params_.push_back(*params[i]);
      index_[params[i]->unsafeGetTensorImpl()] = i;
    }
    std::vector<size_t> order(n);
    for (size_t i = 0; i < n; ++i) order[i] = n - 1 - i;  // until the first step shows the order
    build(order);
    for (size_t i = 0; i < n; ++i) {
      hooks_.push_back(params_[i].register_hook([this, i](const at::Tensor& grad) { ready(i, grad); }));
    }
  }

  ~Reducer() {
    for (size_t i = 0; i < params_.size(); ++i) params_[i].remove_hook(hooks_[i]);
  }

  // Arms the hooks for the next backward; every gradient will be weighted by `share`.
  void prepare(double share) {
    std::lock_guard<std::mutex> lock(mu_);
    share_ = share;
    armed_ = true;
    next_ = 0;
    seen_.clear();
    std::fill(done_.begin(), done_.end(), false);
    for (auto& b : buckets_) {
      b.pending = b.members.size();
      b.work.reset();
    }
  }

  // After backward: starts what is left (gradients that never came count as zero), waits for
  // every bucket and writes the weighted sums into `grads` (the gradients of `params`).
  void finish(at::Tensor** params, at::Tensor** grads, size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    TORCH_CHECK(armed_, "gradient sync without a prepared step");
    armed_ = false;
    at::NoGradGuard no_grad;
    for (size_t i = 0; i < params_.size(); ++i) {
      if (!done_[i]) {
        slot(i).zero_();
        mark(i);
      }
    }
    for (auto& b : buckets_) b.work->wait(g_->timeout);
    for (size_t k = 0; k < n; ++k) {
      auto it = index_.find(params[k]->unsafeGetTensorImpl());
      TORCH_CHECK(it != index_.end(), "gradient sync: a parameter the reducer does not know");
      grads[k]->copy_(slot(it->second).view(grads[k]->sizes()));
    }
    if (!rebuilt_) {
      rebuilt_ = true;
      for (size_t i = 0; i < params_.size(); ++i) {
        if (std::find(seen_.begin(), seen_.end(), i) == seen_.end()) seen_.push_back(i);
      }
      at::Tensor order = at::tensor(std::vector<int64_t>(seen_.begin(), seen_.end()), at::kLong);
      c10d::BroadcastOptions opts;
      opts.timeout = g_->timeout;
      std::vector<at::Tensor> one{order};
      g_->backend(order).broadcast(one, opts)->wait(g_->timeout);
      auto* o = order.data_ptr<int64_t>();
      build(std::vector<size_t>(o, o + order.numel()));
    }
  }

 private:
  struct Bucket {
    std::vector<size_t> members;
    at::Tensor flat;
    size_t pending = 0;
    c10::intrusive_ptr<c10d::Work> work;
  };

  void build(const std::vector<size_t>& order) {
    buckets_.clear();
    bucket_of_.assign(params_.size(), 0);
    offset_of_.assign(params_.size(), 0);
    done_.assign(params_.size(), false);
    int64_t bytes = 0, cap = first_bucket_bytes_;
    for (size_t i : order) {
      const at::Tensor& p = params_[i];
      int64_t size = p.numel() * static_cast<int64_t>(p.element_size());
      bool fits = !buckets_.empty() && bytes + size <= cap &&
                  params_[buckets_.back().members[0]].options().type_equal(p.options());
      if (!fits) {
        if (!buckets_.empty()) cap = bucket_bytes_;
        buckets_.emplace_back();
        bytes = 0;
      }
      buckets_.back().members.push_back(i);
      bytes += size;
    }
    for (size_t b = 0; b < buckets_.size(); ++b) {
      int64_t numel = 0;
      for (size_t i : buckets_[b].members) {
        bucket_of_[i] = b;
        offset_of_[i] = numel;
        numel += params_[i].numel();
      }
      buckets_[b].flat = at::zeros({numel}, params_[buckets_[b].members[0]].options());
      buckets_[b].pending = buckets_[b].members.size();
    }
  }

  at::Tensor slot(size_t i) {
    return buckets_[bucket_of_[i]].flat.narrow(0, offset_of_[i], params_[i].numel());
  }

  void ready(size_t i, const at::Tensor& grad) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!armed_ || done_[i]) return;
    at::NoGradGuard no_grad;
    slot(i).copy_(grad.reshape({-1}));
    seen_.push_back(i);
    mark(i);
  }

  // Counts parameter i in; starts every bucket that is complete and next in order.
  void mark(size_t i) {
    done_[i] = true;
    --buckets_[bucket_of_[i]].pending;
    while (next_ < buckets_.size() && buckets_[next_].pending == 0) {
      Bucket& b = buckets_[next_++];
      if (share_ != 1.0) b.flat.mul_(share_);
      c10d::AllreduceOptions opts;
      opts.timeout = g_->timeout;
      std::vector<at::Tensor> one{b.flat};
      b.work = g_->backend(b.flat).allreduce(one, opts);
    }
  }

  Group* g_;
  int64_t first_bucket_bytes_, bucket_bytes_;
  std::vector<at::Tensor> params_;
  std::vector<unsigned> hooks_;
  std::unordered_map<const c10::TensorImpl*, size_t> index_;
  std::vector<Bucket> buckets_;
  std::vector<size_t> bucket_of_;
  std::vector<int64_t> offset_of_;
  std::vector<bool> done_;
  std::vector<size_t> seen_;  // parameters in the order their gradients came, this step
  size_t next_ = 0;           // the next bucket to start
  double share_ = 1.0;
  bool armed_ = false, rebuilt_ = false;
  std::mutex mu_;
};
}  // namespace

extern "C" {
// Joins the group `rank` of `world` through a TCP store at host:port (rank 0 serves it), waiting
// at most `timeout_ms` for the others; collectives also time out after `timeout_ms`.
char* oc_dist_new(const char* host, uint16_t port, int rank, int world, int64_t timeout_ms, void** out) {
  return guard([&] {
    auto timeout = std::chrono::milliseconds(timeout_ms);
    c10d::TCPStoreOptions so;
    so.port = port;
    so.isServer = rank == 0;
    so.numWorkers = static_cast<size_t>(world);
    so.waitWorkers = true;
    so.timeout = timeout;
    auto store = c10::make_intrusive<c10d::TCPStore>(std::string(host), so);
    auto options = c10d::ProcessGroupGloo::Options::create_default(timeout);
    if (is_loopback(host)) {
      options->devices = {c10d::ProcessGroupGloo::createDeviceForHostname(host)};
    }
    auto pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, options);
    auto* g = new Group{store, pg, nullptr, timeout};
    *out = g;
  });
}

// Adds an NCCL backend for CUDA tensors on GPU `device` of this rank (every rank calls it);
// libtorch_cuda.so must be loaded. A second call changes nothing.
char* oc_dist_use_nccl(void* group, int device) {
  auto* g = static_cast<Group*>(group);
  return guard([&] {
    if (g->nccl) return;
    auto store = c10::make_intrusive<c10d::PrefixStore>("nccl/", g->store);
    g->nccl = oc_make_nccl_backend(store, g->gloo->getRank(), g->gloo->getSize(), g->timeout);
    g->nccl->setBoundDeviceId(at::Device(at::kCUDA, static_cast<c10::DeviceIndex>(device)));
  });
}

// In place, every tensor becomes the sum over ranks of `scale` times its value there.
char* oc_dist_all_reduce(void* group, at::Tensor** ts, size_t n, double scale, int64_t bucket_bytes) {
  auto* g = static_cast<Group*>(group);
  return guard([&] {
    c10d::AllreduceOptions opts;
    opts.timeout = g->timeout;
    bucketed(g, ts, n, bucket_bytes, scale,
             [&](std::vector<at::Tensor>& one) { return g->backend(one[0]).allreduce(one, opts); });
  });
}

// In place, every tensor takes its value on rank `root`.
char* oc_dist_broadcast(void* group, at::Tensor** ts, size_t n, int root, int64_t bucket_bytes) {
  auto* g = static_cast<Group*>(group);
  return guard([&] {
    c10d::BroadcastOptions opts;
    opts.rootRank = root;
    opts.timeout = g->timeout;
    bucketed(g, ts, n, bucket_bytes, 1.0,
             [&](std::vector<at::Tensor>& one) { return g->backend(one[0]).broadcast(one, opts); });
  });
}

char* oc_dist_barrier(void* group) {
  auto* g = static_cast<Group*>(group);
  return guard([&] {
    c10d::BarrierOptions opts;
    opts.timeout = g->timeout;
    g->gloo->barrier(opts)->wait(g->timeout);
  });
}

void oc_dist_free(void* group) { delete static_cast<Group*>(group); }

// Batch norm over the global batch (training mode); the result is a new tensor in *out.
char* oc_dist_sync_batch_norm(void* group, const at::Tensor* x, const at::Tensor* weight,
                              const at::Tensor* bias, at::Tensor* running_mean,
                              at::Tensor* running_var, double momentum, double eps, at::Tensor** out) {
  return guard([&] {
    auto opt = [](const at::Tensor* t) { return t ? *t : at::Tensor(); };
    *out = new at::Tensor(SyncBatchNorm::apply(*x, opt(weight), opt(bias), opt(running_mean),
                                               opt(running_var), momentum, eps,
                                               reinterpret_cast<int64_t>(group)));
  });
}

// A reducer for the gradients of `params` (see Reducer); *out owns it until oc_dist_reducer_free.
char* oc_dist_reducer_new(void* group, at::Tensor** params, size_t n, int64_t first_bucket_bytes,
                          int64_t bucket_bytes, void** out) {
  return guard([&] {
    *out = new Reducer(static_cast<Group*>(group), params, n, first_bucket_bytes, bucket_bytes);
  });
}

char* oc_dist_reducer_prepare(void* reducer, double share) {
  return guard([&] { static_cast<Reducer*>(reducer)->prepare(share); });
}

char* oc_dist_reducer_finish(void* reducer, at::Tensor** params, at::Tensor** grads, size_t n) {
  return guard([&] { static_cast<Reducer*>(reducer)->finish(params, grads, n); });
}

void oc_dist_reducer_free(void* reducer) { delete static_cast<Reducer*>(reducer); }
}
