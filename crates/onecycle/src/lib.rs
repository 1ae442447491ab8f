//! onecycle: Leslie Smith's disciplined approach to training on libtorch: the LR range test, the
//! 1cycle policy with cyclical momentum, and the plots that make those decisions visible.
pub mod ops;
pub mod plot;

pub use schedule;
