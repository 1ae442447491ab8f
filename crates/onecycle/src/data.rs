//! What the Learner trains on: batches of `(inputs, targets)` tensors from any source. Image
//! loaders implement [`Data`] in the `vision` crate; [`TensorData`] serves in-memory tensors
//! (tabular data, sequences, tests).

use std::ops::Range;

use anyhow::{bail, Result};
use tch::Tensor;

use crate::rng::{Rng, GOLDEN};

/// One mini-batch: model inputs and the targets its loss compares outputs with.
#[derive(Debug)]
pub struct Batch {
    pub inputs: Tensor,
    pub targets: Tensor,
}

impl Batch {
    /// Number of items (the first dimension of `inputs`).
    pub fn len(&self) -> usize {
        self.inputs.size().first().copied().unwrap_or(0) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A stream of batches, possibly failing (a corrupt file, a worker error). It owns what it
/// needs (shared data, worker threads), so the Learner can train while iterating.
pub type Batches = Box<dyn Iterator<Item = Result<Batch>>>;

/// Training and validation batches. The training order of an epoch must depend only on the
/// epoch number (and the source's seed), so that resuming at `(epoch, batch)` replays exactly.
pub trait Data {
    /// Batches in one training epoch.
    fn train_batches(&self) -> usize;
    /// Items in one training epoch (for images/s).
    fn train_items(&self) -> usize;
    /// Training batches of `epoch`, starting at batch `skip` (0 for a whole epoch).
    fn train_epoch(&self, epoch: usize, skip: usize) -> Result<Batches>;
    /// Validation batches, always in the same order, without augmentation.
    fn valid(&self) -> Result<Batches>;
    /// Batches in one validation pass (0 when there is no validation set).
    fn valid_batches(&self) -> usize;
    /// A data-parallel rank's rows of every validation batch, batches too small to give it one
    /// left out. Override to load only those rows.
    fn valid_share(&self, shard: Shard) -> Result<Batches> {
        Ok(shard.share(self.valid()?))
    }
}

/// In-memory tensors split into batches; shuffled per epoch from `seed` when `shuffle` is set.
pub struct TensorData {
    pub train: (Tensor, Tensor),
    pub valid: Option<(Tensor, Tensor)>,
    pub batch_size: usize,
    pub shuffle: bool,
    pub seed: u64,
}

impl TensorData {
    fn rows(t: &Tensor) -> usize {
        t.size()[0] as usize
    }

    /// The permutation of training rows for `epoch`: a Fisher–Yates shuffle driven by
    /// SplitMix64, so the order is the same on every machine and thread count.
    pub fn order(&self, epoch: usize) -> Vec<i64> {
        let n = Self::rows(&self.train.0);
        let mut idx: Vec<i64> = (0..n as i64).collect();
        if self.shuffle {
            let mut rng = Rng::from_state(self.seed ^ (epoch as u64).wrapping_mul(GOLDEN));
            for i in (1..n).rev() {
                let j = (rng.next_u64() % (i as u64 + 1)) as usize;
                idx.swap(i, j);
            }
        }
        idx
    }

    fn batches(&self, x: &Tensor, y: &Tensor, order: Vec<i64>, skip: usize) -> Batches {
        let bs = self.batch_size.max(1);
        let (x, y) = (x.shallow_clone(), y.shallow_clone());
        let chunks: Vec<Vec<i64>> = order.chunks(bs).skip(skip).map(<[i64]>::to_vec).collect();
        Box::new(chunks.into_iter().map(move |rows| {
            let index = Tensor::from_slice(&rows);
            Ok(Batch {
                inputs: x.f_index_select(0, &index)?,
                targets: y.f_index_select(0, &index)?,
            })
        }))
    }
}

impl Data for TensorData {
    fn train_batches(&self) -> usize {
        Self::rows(&self.train.0).div_ceil(self.batch_size.max(1))
    }

    fn train_items(&self) -> usize {
        Self::rows(&self.train.0)
    }

    fn train_epoch(&self, epoch: usize, skip: usize) -> Result<Batches> {
        Ok(self.batches(&self.train.0, &self.train.1, self.order(epoch), skip))
    }

    fn valid(&self) -> Result<Batches> {
        match &self.valid {
            Some((x, y)) => {
                let order = (0..Self::rows(x) as i64).collect();
                Ok(self.batches(x, y, order, 0))
            }
            None => Ok(Box::new(std::iter::empty())),
        }
    }

    fn valid_batches(&self) -> usize {
        self.valid
            .as_ref()
            .map_or(0, |(x, _)| Self::rows(x).div_ceil(self.batch_size.max(1)))
    }
}

/// This process's part of every global batch: rank `rank` of `world` takes a contiguous run of
/// rows, the runs differing in length by at most one, so the ranks' batches together are the
/// global batch, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub rank: usize,
    pub world: usize,
}

impl Shard {
    /// The rows of a global batch of `n` items that this rank trains on.
    pub fn range(&self, n: usize) -> Range<usize> {
        n * self.rank / self.world..n * (self.rank + 1) / self.world
    }

    /// This rank's rows of `batch`; an error when it would get none.
    pub fn batch(&self, batch: Batch) -> Result<Batch> {
        let n = batch.len();
        let rows = self.range(n);
        if rows.is_empty() {
            bail!(
                "a batch of {n} items cannot give each of {} ranks at least one (rank {} gets none): use a larger batch or fewer ranks",
                self.world,
                self.rank
            );
        }
        let (start, len) = (rows.start as i64, rows.len() as i64);
        Ok(Batch {
            inputs: batch.inputs.f_narrow(0, start, len)?,
            targets: batch.targets.f_narrow(0, start, len)?,
        })
    }

    /// `batches` with every batch cut to this rank's rows.
    pub fn batches(self, batches: Batches) -> Batches {
        Box::new(batches.map(move |b| b.and_then(|b| self.batch(b))))
    }

    /// Like [`Shard::batches`], but a batch too small to give this rank a row is left out
    /// instead of being an error (for validation, whose sums are added up over ranks).
    pub fn share(self, batches: Batches) -> Batches {
        Box::new(batches.filter_map(move |b| match b {
            Ok(b) if self.range(b.len()).is_empty() => None,
            b => Some(b.and_then(|b| self.batch(b))),
        }))
    }
}

/// Any [`Data`] with its training batches sharded: each rank reads the whole global batch (the
/// same on every rank, augmentation included) and keeps its rows. Validation data is whole here;
/// a data-parallel strategy makes validation evaluate shares of it
/// (the strategy's `valid_shard`).
pub struct Sharded<D: Data> {
    pub inner: D,
    pub shard: Shard,
}

impl<D: Data> Data for Sharded<D> {
    fn train_batches(&self) -> usize {
        self.inner.train_batches()
    }
    fn train_items(&self) -> usize {
        self.shard.range(self.inner.train_items()).len()
    }
    fn train_epoch(&self, epoch: usize, skip: usize) -> Result<Batches> {
        Ok(self.shard.batches(self.inner.train_epoch(epoch, skip)?))
    }
    fn valid(&self) -> Result<Batches> {
        self.inner.valid()
    }
    fn valid_share(&self, shard: Shard) -> Result<Batches> {
        self.inner.valid_share(shard)
    }
    fn valid_batches(&self) -> usize {
        self.inner.valid_batches()
    }
}

#[cfg(test)]
mod tests {
    use tch::{Device, Kind};

    use super::*;

    #[test]
    fn shards_partition_every_batch_in_order_with_sizes_within_one() {
        for world in 1..5 {
            for n in world..40 {
                let ranges: Vec<Range<usize>> = (0..world)
                    .map(|rank| Shard { rank, world }.range(n))
                    .collect();
                assert_eq!(ranges[0].start, 0);
                assert_eq!(ranges[world - 1].end, n);
                for pair in ranges.windows(2) {
                    assert_eq!(pair[0].end, pair[1].start, "n {n}, world {world}");
                }
                let (min, max) = (
                    ranges.iter().map(|r| r.len()).min().unwrap(),
                    ranges.iter().map(|r| r.len()).max().unwrap(),
                );
                assert!(min >= 1 && max - min <= 1, "n {n}, world {world}");
            }
        }
    }

    #[test]
    fn a_shard_keeps_its_rows_and_refuses_an_empty_share() {
        let batch = || Batch {
            inputs: Tensor::arange(5, (Kind::Float, Device::Cpu)).view([5, 1]),
            targets: Tensor::arange(5, (Kind::Int64, Device::Cpu)),
        };
        let second = Shard { rank: 1, world: 2 }.batch(batch()).unwrap();
        assert_eq!(Vec::<i64>::try_from(&second.targets).unwrap(), [2, 3, 4]);
        let err = Shard { rank: 0, world: 6 }.batch(batch()).unwrap_err();
        assert!(
            err.to_string().contains("cannot give each of 6 ranks"),
            "{err}"
        );
    }
}
