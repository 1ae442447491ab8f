//! Build-script helpers shared by every crate that links libtorch (included with `#[path]`).

use std::path::PathBuf;

/// Embeds the libtorch directory that torch-sys linked against as an rpath, so binaries, tests
/// and examples run without LD_LIBRARY_PATH. `$ORIGIN/libtorch/lib` lets a copied binary use a
/// libtorch placed beside it; LD_LIBRARY_PATH=<other torch>/lib still wins (RUNPATH semantics).
pub fn emit_rpath() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Some(dir) = lib_dir() {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", dir.display());
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/libtorch/lib");
}

/// The `lib` directory of the libtorch that torch-sys found (it exports it to dependants).
pub fn lib_dir() -> Option<PathBuf> {
    std::env::var_os("DEP_TCH_LIBTORCH_LIB").map(PathBuf::from)
}

/// libtorch's C++ header directory, beside its `lib` directory.
#[allow(dead_code)]
pub fn include_dir() -> PathBuf {
    let lib = lib_dir().expect("torch-sys did not report its libtorch directory");
    lib.parent()
        .expect("libtorch lib dir has a parent")
        .join("include")
}
