//! Build script of crates that only link libtorch: see `torch.rs`.
#[path = "torch.rs"]
mod torch;

fn main() {
    torch::emit_rpath();
}
