//! Links libtorch (rpath) and compiles the small C++ shim of ATen calls that tch does not expose.
#[path = "../../build/torch.rs"]
mod torch;

fn main() {
    torch::emit_rpath();
    for file in ["csrc/ops.cpp", "csrc/amp.cpp", "csrc/guard.h"] {
        println!("cargo:rerun-if-changed={file}");
    }
    cc::Build::new()
        .cpp(true)
        .file("csrc/ops.cpp")
        .file("csrc/amp.cpp")
        .include(torch::include_dir())
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag_if_supported("-Wno-unused-parameter")
        .opt_level(2)
        .compile("onecycle_ops");
    // Data-parallel collectives through c10d (Gloo); csrc/gloo_decl stands in for Gloo's headers.
    println!("cargo:rerun-if-changed=csrc/dist.cpp");
    // NCCL (GPU) process group, constructed by libtorch_cuda.so found at run time (csrc/nccl.cpp).
    println!("cargo:rerun-if-changed=csrc/nccl.cpp");
    println!("cargo:rerun-if-changed=csrc/nccl.h");
    println!("cargo:rerun-if-changed=csrc/gloo_decl");
    cc::Build::new()
        .cpp(true)
        .file("csrc/dist.cpp")
        .file("csrc/nccl.cpp")
        .include(torch::include_dir())
        .include(torch::include_dir().join("torch/csrc/api/include"))
        .include("csrc/gloo_decl")
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag_if_supported("-Wno-unused-parameter")
        // libtorch's own TensorOptions.h falls through a switch case on purpose.
        .flag_if_supported("-Wno-implicit-fallthrough")
        .opt_level(2)
        .compile("onecycle_dist");
}
