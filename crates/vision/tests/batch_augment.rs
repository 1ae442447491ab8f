//! Batch augmentation on the device: each image is its reflect-padded self cropped at its own
//! shift, flipped exactly when its draw says so; alternating flips show every image both ways in
//! any two consecutive epochs; `DeviceImages` serves every item once an epoch, reproducibly and
//! from any resume point.

use onecycle::data::Data;
use tch::{Device, Kind, Tensor};
use vision::{BatchAugment, DeviceImages, Flip};

/// `n` distinct 1×6×6 images: image i holds i·100 + its pixel index.
fn images(n: i64) -> Tensor {
    let base = Tensor::arange(36, (Kind::Float, Device::Cpu)).view([1, 1, 6, 6]);
    let offsets = (Tensor::arange(n, (Kind::Float, Device::Cpu)) * 100.0).view([n, 1, 1, 1]);
    base + offsets
}

#[test]
fn each_image_is_its_padded_self_cropped_at_its_shift_then_flipped_if_drawn() {
    let augment = BatchAugment {
        translate: 2,
        flip: Flip::Random,
    };
    let x = images(64);
    let items: Vec<i64> = (100..164).collect();
    let out = augment.apply(&x, &items, 3, 7).unwrap();
    assert_eq!(out.size(), x.size());
    let padded = x.reflection_pad2d([2, 2, 2, 2]);
    let (mut shifted, mut flipped) = (0, 0);
    for (row, &item) in items.iter().enumerate() {
        let (dy, dx) = augment.shift(7, 3, item);
        assert!((-2..=2).contains(&dy) && (-2..=2).contains(&dx));
        shifted += usize::from((dy, dx) != (0, 0));
        let mut want = padded
            .get(row as i64)
            .narrow(1, 2 + dy, 6)
            .narrow(2, 2 + dx, 6);
        if augment.flipped(7, 3, item) {
            want = want.flip([2]);
            flipped += 1;
        }
        assert!(out.get(row as i64).equal(&want), "item {item}");
    }
    assert!(
        shifted > 48 && (16..=48).contains(&flipped),
        "{shifted} {flipped}"
    );
    // The draws depend on the item and the epoch, not on the batch it is in.
    let alone = augment
        .apply(&x.narrow(0, 5, 1), &items[5..6], 3, 7)
        .unwrap();
    assert!(alone.get(0).equal(&out.get(5)));
    let next = augment.apply(&x, &items, 4, 7).unwrap();
    assert!(!next.equal(&out));
    // Nothing to do leaves the images as they are, and the input is never written.
    let none = BatchAugment {
        translate: 0,
        flip: Flip::None,
    };
    assert!(none.apply(&x, &items, 0, 7).unwrap().equal(&x));
    assert!(x.equal(&images(64)));
    let too_far = BatchAugment {
        translate: 6,
        flip: Flip::None,
    };
    let err = too_far.apply(&x, &items, 0, 7).unwrap_err().to_string();
    assert!(err.contains("translation of 6 pixels"), "{err}");
}

#[test]
fn alternating_flips_show_every_image_both_ways_in_any_two_consecutive_epochs() {
    let augment = BatchAugment {
        translate: 0,
        flip: Flip::Alternating,
    };
    let first: Vec<bool> = (0..1000).map(|i| augment.flipped(1, 0, i)).collect();
    let share = first.iter().filter(|&&f| f).count();
    assert!((420..=580).contains(&share), "{share} of 1000 flipped");
    for epoch in 0..6 {
        for item in 0..1000 {
            assert_ne!(
                augment.flipped(1, epoch, item),
                augment.flipped(1, epoch + 1, item)
            );
        }
    }
    // Random flips repeat about half the time instead.
    let random = BatchAugment {
        flip: Flip::Random,
        ..augment
    };
    let same = (0..1000)
        .filter(|&i| random.flipped(1, 0, i) == random.flipped(1, 1, i))
        .count();
    assert!((420..=580).contains(&same), "{same}");
}

#[test]
fn device_images_serve_every_item_once_an_epoch_reproducibly_and_from_any_batch() {
    let n = 50;
    let labels = Tensor::arange(n, (Kind::Int64, Device::Cpu));
    let valid = (images(10), Tensor::arange(10, (Kind::Int64, Device::Cpu)));
    let augment = BatchAugment {
        translate: 1,
        flip: Flip::Alternating,
    };
    let data = DeviceImages::new(
        (images(n), labels),
        Some(valid),
        16,
        augment,
        5,
        Device::Cpu,
    )
    .unwrap();
    assert_eq!((data.train_batches(), data.train_items()), (4, 50));
    let epoch = |e: usize, skip: usize| -> Vec<(Tensor, Tensor)> {
        data.train_epoch(e, skip)
            .unwrap()
            .map(|b| b.map(|b| (b.inputs, b.targets)).unwrap())
            .collect()
    };
    let batches = epoch(2, 0);
    assert_eq!(batches.len(), 4);
    let mut seen: Vec<i64> = batches
        .iter()
        .flat_map(|(_, y)| Vec::<i64>::try_from(y).unwrap())
        .collect();
    assert_eq!(seen, data.order(2));
    seen.sort();
    assert_eq!(seen, (0..n).collect::<Vec<_>>());
    // Augmented: labels follow their images, which keep their values up to the shift and flip.
    for (x, y) in &batches {
        let y = Vec::<i64>::try_from(y).unwrap();
        let x = x.view([y.len() as i64, 36]);
        for (row, item) in y.iter().enumerate() {
            let v = Vec::<f32>::try_from(x.get(row as i64)).unwrap();
            let base = *item as f32 * 100.0;
            assert!(
                v.iter().all(|p| (base..base + 36.0).contains(p)),
                "item {item}"
            );
        }
    }
    assert_ne!(data.order(2), data.order(3));
    let again = epoch(2, 2);
    assert!(again[0].0.equal(&batches[2].0) && again[1].1.equal(&batches[3].1));
    let valid: Vec<i64> = data
        .valid()
        .unwrap()
        .flat_map(|b| Vec::<i64>::try_from(&b.unwrap().targets).unwrap())
        .collect();
    assert_eq!(valid, (0..10).collect::<Vec<_>>());
    assert_eq!(data.valid_batches(), 1);
}
