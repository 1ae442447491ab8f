//! Image data for onecycle: CIFAR-10 binaries and image folders read into one in-memory `u8`
//! [`Dataset`], augmentation on raw pixels, a prefetching loader that yields `tch` batches, the
//! official CIFAR-10 download, an embedded lossless sample, and a loader benchmark.

pub mod augment;
pub mod bench;
pub mod cifar;
pub mod dataset;
pub mod download;
pub mod experiment;
pub mod folder;
pub mod loader;
pub mod models;
pub mod presets;
pub mod rng;
pub mod sample;
pub mod source;
pub mod train;

pub use augment::{Augment, Normalize, Padding};
pub use dataset::Dataset;
pub use loader::{Batch, Loader, LoaderOptions};
