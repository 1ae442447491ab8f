// Data-parallel collectives through torch.distributed's C++ engine (c10d): a TCP store for the
// rendezvous and a Gloo process group created and run by libtorch. The Gloo headers come from
// csrc/gloo_decl (declarations only, see its README); nothing Gloo-specific is compiled here.
// Each function returns NULL on success or a malloc'd error message the caller frees (oc_free).
#define USE_C10D_GLOO 1
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

// libtorch 2.11.0 allocates ProcessGroupGloo with 0x1e8 bytes (see `split` in libtorch_cpu.so);
// the object is built by libtorch's constructor in memory sized from this header.
static_assert(sizeof(c10d::ProcessGroupGloo) == 0x1e8,
              "ProcessGroupGloo's layout differs from libtorch 2.11.0's");

namespace {
struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::Backend> backend;
  std::chrono::milliseconds timeout;
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

// Consecutive runs of tensors with the same dtype, each run at most `bucket_bytes` (or one tensor).
std::vector<std::vector<at::Tensor>> buckets(at::Tensor** ts, size_t n, int64_t bucket_bytes) {
  std::vector<std::vector<at::Tensor>> out;
  int64_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    const at::Tensor& t = *ts[i];
    int64_t size = t.numel() * static_cast<int64_t>(t.element_size());
    if (out.empty() || bytes + size > bucket_bytes || out.back()[0].scalar_type() != t.scalar_type()) {
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
    auto* g = new Group{store, pg, timeout};
    *out = g;
  });
}

// In place, every tensor becomes the sum over ranks of `scale` times its value there.
char* oc_dist_all_reduce(void* group, at::Tensor** ts, size_t n, double scale, int64_t bucket_bytes) {
  auto* g = static_cast<Group*>(group);
  return guard([&] {
    c10d::AllreduceOptions opts;
    opts.timeout = g->timeout;
    bucketed(g, ts, n, bucket_bytes, scale,
             [&](std::vector<at::Tensor>& one) { return g->backend->allreduce(one, opts); });
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
             [&](std::vector<at::Tensor>& one) { return g->backend->broadcast(one, opts); });
  });
}

char* oc_dist_barrier(void* group) {
  auto* g = static_cast<Group*>(group);
  return guard([&] {
    c10d::BarrierOptions opts;
    opts.timeout = g->timeout;
    g->backend->barrier(opts)->wait(g->timeout);
  });
}

void oc_dist_free(void* group) { delete static_cast<Group*>(group); }
}
