//! Checks against the CIFAR-10 copy in `../shared/data/cifar10` (the repository's sibling
//! folder, present on every developer machine and in CI). A missing copy fails loudly.

use std::path::PathBuf;

use vision::cifar::{self, Split};
use vision::sample;

fn shared_cifar10() -> PathBuf {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/cifar10"
    ));
    assert!(
        dir.join("data_batch_1.bin").is_file(),
        "CIFAR-10 test data not found at {}: these tests need ../shared/data/cifar10 beside the repository",
        dir.display()
    );
    dir
}

#[test]
fn full_cifar10_has_the_published_sizes_labels_and_class_balance() {
    let dir = shared_cifar10();
    let train = cifar::load(&dir, Split::Train).unwrap();
    assert_eq!(train.len(), 50_000);
    assert_eq!(train.shape(), (3, 32, 32));
    assert_eq!(train.classes(), cifar::CLASSES.map(String::from));
    assert_eq!(train.label(0), 6, "first training image is a frog");
    assert_eq!(train.class_counts(), vec![5000; 10]);
    drop(train);
    let test = cifar::load(&dir, Split::Test).unwrap();
    assert_eq!(test.len(), 10_000);
    assert_eq!(test.label(0), 3, "first test image is a cat");
    assert_eq!(test.class_counts(), vec![1000; 10]);
}

#[test]
fn embedded_sample_equals_records_0_to_3999_byte_for_byte() {
    let batch = cifar::read_file(&shared_cifar10().join("data_batch_1.bin")).unwrap();
    let originals = batch.slice(0..sample::RECORDS);
    let embedded = sample::cifar10_sample_all();
    assert_eq!(embedded.labels(), originals.labels());
    assert!(embedded.pixels() == originals.pixels(), "pixels differ");
    let (train, valid) = sample::cifar10_sample();
    assert_eq!(train, originals.slice(0..sample::TRAIN));
    assert_eq!(valid, originals.slice(sample::TRAIN..sample::RECORDS));
}

/// Rewrites `assets/` from the shared copy: `cargo test -p vision --test shared_data -- --ignored`.
#[test]
#[ignore]
fn regenerate_embedded_sample() {
    let batch = cifar::read_file(&shared_cifar10().join("data_batch_1.bin")).unwrap();
    let (png, labels) = sample::encode(&batch.slice(0..sample::RECORDS)).unwrap();
    let assets = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/assets"));
    std::fs::write(assets.join("cifar10_sample.png.bin"), &png).unwrap();
    std::fs::write(assets.join("cifar10_sample_labels.bin"), &labels).unwrap();
    println!("cifar10_sample.png.bin: {} bytes", png.len());
}
