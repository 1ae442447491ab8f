//! Images for onecycle: CIFAR-10 binaries and image folders read into one in-memory `u8`
//! [`Dataset`] (or decoded on the fly), augmentation on raw pixels or on whole batches on the
//! device ([`DeviceImages`]), a prefetching loader that yields `tch` batches, [`ImageData`]
//! (training and validation loaders as the Learner's data, with progressive resizing and per-rank
//! shards), the CIFAR-sized models, the official CIFAR-10 download, an embedded lossless sample,
//! and a loader benchmark.

pub mod augment;
pub mod batch_augment;
pub mod bench;
pub mod cifar;
pub mod dataset;
pub mod download;
pub mod folder;
pub mod image_data;
pub mod loader;
pub mod models;
pub mod sample;
pub mod source;

pub use augment::{Augment, Normalize, Padding};
pub use batch_augment::{BatchAugment, DeviceImages, Flip};
pub use dataset::Dataset;
pub use image_data::{DataOptions, ImageData, SizePhase};
pub use loader::{Batch, Loader, LoaderOptions};
