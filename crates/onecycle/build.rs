//! Links libtorch (rpath) and compiles the small C++ shim of ATen calls that tch does not expose.
#[path = "../../build/torch.rs"]
mod torch;

fn main() {
    torch::emit_rpath();
    println!("cargo:rerun-if-changed=csrc/ops.cpp");
    cc::Build::new()
        .cpp(true)
        .file("csrc/ops.cpp")
        .include(torch::include_dir())
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        .flag_if_supported("-Wno-unused-parameter")
        .opt_level(2)
        .compile("onecycle_ops");
}
