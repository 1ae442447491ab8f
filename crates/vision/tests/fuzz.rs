//! Fuzzing the image readers: CIFAR-10 binary files and image-folder files (PNG and JPEG), each
//! from a valid file with random bytes replaced, inserted or cut. Every input must give images
//! or an error naming the file, never a panic. A short run here;
//! `ONECYCLE_FUZZ_CASES=100000 cargo test -p vision --test fuzz` runs a long one.

#[path = "../../../tests/fuzz_support.rs"]
mod fuzz;

use std::path::PathBuf;

use image::{Rgb, RgbImage};
use proptest::prelude::*;
use vision::{cifar, folder, Dataset};

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vision-fuzz-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Three CIFAR-10 records.
fn cifar_bytes() -> Vec<u8> {
    let pixels: Vec<u8> = (0..3 * 3072).map(|i| (i * 7 % 251) as u8).collect();
    let classes = (0..10).map(|c| format!("class{c}")).collect();
    let set = Dataset::new(pixels, vec![1, 5, 9], classes, (3, 32, 32)).unwrap();
    cifar::encode_records(&set)
}

/// A small picture as PNG (`png`) or JPEG.
fn picture(png: bool) -> Vec<u8> {
    let img = RgbImage::from_fn(12, 9, |x, y| Rgb([(x * 20) as u8, (y * 25) as u8, 99]));
    let mut out = std::io::Cursor::new(Vec::new());
    let format = if png {
        image::ImageFormat::Png
    } else {
        image::ImageFormat::Jpeg
    };
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

proptest! {
    #![proptest_config(fuzz::config(32))]

    #[test]
    fn cifar_files_never_panic(e in fuzz::edits(8)) {
        let path = dir("cifar").join("data_batch_1.bin");
        std::fs::write(&path, fuzz::mutate(cifar_bytes(), &e, None)).unwrap();
        if let Err(err) = cifar::read_file(&path) {
            prop_assert!(err.to_string().contains("data_batch_1.bin"), "{}", err);
        }
    }

    #[test]
    fn image_files_never_panic(png in any::<bool>(), e in fuzz::edits(8)) {
        let root = dir("folder");
        for class in ["a", "b"] {
            std::fs::create_dir_all(root.join(class)).unwrap();
            std::fs::write(root.join(class).join("ok.png"), picture(true)).unwrap();
        }
        let name = if png { "x.png" } else { "x.jpg" };
        std::fs::write(root.join("a").join(name), fuzz::mutate(picture(png), &e, None)).unwrap();
        let files = folder::list(&root).unwrap();
        for i in 0..files.len() {
            if let Err(err) = files.decode(i) {
                prop_assert!(err.to_string().contains(name), "{}", err);
            }
        }
        let _ = folder::load(&root, Some((8, 8)));
    }
}
