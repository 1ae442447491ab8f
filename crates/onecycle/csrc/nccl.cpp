// c10d::ProcessGroupNCCL built without CUDA, NCCL or cuBLAS headers. Its header pulls in CUDA's
// and NCCL's, which our build machines lack, so this file never sees the class: it calls the two
// constructors that libtorch_cuda.so exports, found at run time with dlsym, in memory sized and
// aligned as libtorch 2.11.0 sizes it, and handles the result as the c10d::Backend it derives from.
//
// Facts about libtorch 2.11.0 (x86-64, torch 2.11.0+cu130 wheel, NCCL 2.28); re-derive them with
// `scripts/nccl_layout.sh --compile` on a full `pip install torch==<new>` before changing torch:
// - `class ProcessGroupNCCL : public Backend` and `struct Options : Backend::Options`: single,
//   non-virtual inheritance, so the base subobject sits at offset 0 and a pointer to either class
//   is a pointer to its base (the --compile probe prints both offsets: 0).
// - libtorch allocates ProcessGroupNCCL with 0x458 bytes and Options with 0xf8 bytes; their
//   deleting destructors free them with the plain sized `operator delete(void*, size_t)` (so
//   alignment ≤ __STDCPP_DEFAULT_NEW_ALIGNMENT__: the probe prints alignof 8 for both), which is
//   what intrusive_ptr calls when the last reference goes.
// - Options::create is inline (c10::make_intrusive<Options>(bool)); the exported symbols are the
//   complete-object constructors named below.
#include "nccl.h"

#include <torch/headeronly/version.h>

#include <dlfcn.h>

#include <new>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <utility>

static_assert(TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR == 11 && TORCH_VERSION_PATCH == 0,
              "the ProcessGroupNCCL sizes and symbols in nccl.cpp are libtorch 2.11.0's: re-derive "
              "them with scripts/nccl_layout.sh");
static_assert(alignof(c10d::Backend) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__ &&
                  alignof(c10d::Backend::Options) <= __STDCPP_DEFAULT_NEW_ALIGNMENT__,
              "plain operator new no longer aligns these classes");
// The constructor takes intrusive_ptr<ProcessGroupNCCL::Options> by value; the call below passes
// intrusive_ptr<Backend::Options>. Both are the same class template holding one pointer, not
// trivially copyable, so the Itanium C++ ABI passes either as the address of a caller-owned
// temporary that the caller destroys after the call: identical at the machine level, and the
// pointer inside is the same address (base at offset 0). The callee may move from it; destroying
// it then (or dropping the last reference) calls Options' virtual destructor, in libtorch.
static_assert(sizeof(c10::intrusive_ptr<c10d::Backend::Options>) == sizeof(void*) &&
                  !std::is_trivially_copyable_v<c10::intrusive_ptr<c10d::Backend::Options>>,
              "intrusive_ptr is no longer one non-trivial pointer");

namespace {
constexpr size_t kGroupBytes = 0x458;
constexpr size_t kOptionsBytes = 0xf8;

// c10d::ProcessGroupNCCL::Options::Options(bool is_high_priority_stream)
constexpr const char* kOptionsCtor = "_ZN4c10d16ProcessGroupNCCL7OptionsC1Eb";
// c10d::ProcessGroupNCCL::ProcessGroupNCCL(c10::intrusive_ptr<c10d::Store>, int rank, int size,
//                                          c10::intrusive_ptr<c10d::ProcessGroupNCCL::Options>)
constexpr const char* kGroupCtor =
    "_ZN4c10d16ProcessGroupNCCLC1EN3c1013intrusive_ptrINS_5StoreENS1_6detail34intrusive_target_"
    "default_null_typeIS3_EEEEiiNS2_INS0_7OptionsENS5_IS8_EEEE";

// A constructor is called as a function whose first argument is `this`, returning nothing.
using OptionsCtor = void (*)(void* self, bool is_high_priority_stream);
using GroupCtor = void (*)(void* self, c10::intrusive_ptr<c10d::Store> store, int rank, int size,
                           c10::intrusive_ptr<c10d::Backend::Options> options);

struct Ctors {
  OptionsCtor options;
  GroupCtor group;
};

// Both constructors, from the libtorch_cuda.so already in the process (found by its soname, so
// whether it was loaded RTLD_GLOBAL or not does not matter). The handle is never closed.
Ctors find_ctors() {
  void* lib = dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_NOLOAD);
  if (lib == nullptr) {
    throw std::runtime_error(
        "the NCCL backend needs libtorch_cuda.so with NCCL, which is not loaded in this process "
        "(load it first with onecycle::device::load_cuda(); a GPU run needs the full "
        "`pip install torch==2.11.0`)");
  }
  auto find = [&](const char* name, const char* what) {
    void* sym = dlsym(lib, name);
    if (sym == nullptr) {
      throw std::runtime_error(std::string("libtorch_cuda.so has no ") + what +
                               " (a torch built without NCCL, or not torch 2.11.0)");
    }
    return sym;
  };
  return Ctors{
      reinterpret_cast<OptionsCtor>(find(kOptionsCtor, "c10d::ProcessGroupNCCL::Options(bool)")),
      reinterpret_cast<GroupCtor>(find(kGroupCtor, "c10d::ProcessGroupNCCL constructor")),
  };
}

// `new T(args...)` for a T known only by its size and constructor: the memory is freed if the
// constructor throws (its own unwinding has already destroyed what it built).
template <typename Ctor, typename... Args>
void* construct(size_t bytes, Ctor ctor, Args&&... args) {
  void* mem = ::operator new(bytes);
  try {
    ctor(mem, std::forward<Args>(args)...);
  } catch (...) {
    ::operator delete(mem, bytes);
    throw;
  }
  return mem;
}
}  // namespace

c10::intrusive_ptr<c10d::Backend> oc_make_nccl_backend(const c10::intrusive_ptr<c10d::Store>& store,
                                                       int rank, int world,
                                                       std::chrono::milliseconds timeout) {
  Ctors ctors = find_ctors();
  // What torch.distributed sets for its default NCCL group: normal-priority streams, the timeout,
  // the group named "0".
  auto* options_mem = construct(kOptionsBytes, ctors.options, false);
  auto options = c10::intrusive_ptr<c10d::Backend::Options>::unsafe_steal_from_new(
      static_cast<c10d::Backend::Options*>(options_mem));
  options->timeout = timeout;
  options->group_name = "0";
  auto* group_mem = construct(kGroupBytes, ctors.group, store, rank, world, options);
  return c10::intrusive_ptr<c10d::Backend>::unsafe_steal_from_new(
      static_cast<c10d::Backend*>(group_mem));
}
