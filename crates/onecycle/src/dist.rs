//! Data-parallel training through torch.distributed's C++ engine (c10d): processes meet through
//! a TCP store (`tcp://HOST:PORT`, served by rank 0) and form a Gloo process group; every step,
//! each rank trains on its shard of the global batch and the gradients are averaged with bucketed
//! all-reduces. CUDA tensors go through an NCCL group made by libtorch_cuda.so at run time
//! (`csrc/nccl.cpp`), each rank on its own GPU ([`local_gpu`]). The C++ side is `csrc/dist.cpp`.

use std::ffi::{c_char, c_void, CStr, CString};
use std::rc::Rc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use tch::{nn, Device, Kind, Tensor};
use torch_sys::C_tensor;

use crate::data::Shard;
use crate::interrupt;
use crate::strategy::Strategy;

extern "C" {
    fn oc_dist_new(
        host: *const c_char,
        port: u16,
        rank: i32,
        world: i32,
        timeout_ms: i64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    fn oc_dist_all_reduce(
        group: *mut c_void,
        ts: *const *mut C_tensor,
        n: usize,
        scale: f64,
        bucket_bytes: i64,
    ) -> *mut c_char;
    fn oc_dist_broadcast(
        group: *mut c_void,
        ts: *const *mut C_tensor,
        n: usize,
        root: i32,
        bucket_bytes: i64,
    ) -> *mut c_char;
    fn oc_dist_barrier(group: *mut c_void) -> *mut c_char;
    fn oc_dist_free(group: *mut c_void);
    fn oc_dist_use_nccl(group: *mut c_void, device: i32) -> *mut c_char;
    #[allow(clippy::too_many_arguments)]
    fn oc_dist_sync_batch_norm(
        group: *mut c_void,
        x: *const C_tensor,
        weight: *const C_tensor,
        bias: *const C_tensor,
        running_mean: *mut C_tensor,
        running_var: *mut C_tensor,
        momentum: f64,
        eps: f64,
        out: *mut *mut C_tensor,
    ) -> *mut c_char;
    fn oc_dist_reducer_new(
        group: *mut c_void,
        params: *const *mut C_tensor,
        n: usize,
        first_bucket_bytes: i64,
        bucket_bytes: i64,
        out: *mut *mut c_void,
    ) -> *mut c_char;
    fn oc_dist_reducer_prepare(reducer: *mut c_void, share: f64) -> *mut c_char;
    fn oc_dist_reducer_finish(
        reducer: *mut c_void,
        params: *const *mut C_tensor,
        grads: *const *mut C_tensor,
        n: usize,
    ) -> *mut c_char;
    fn oc_dist_reducer_free(reducer: *mut c_void);
    fn oc_free(p: *mut c_char);
}

/// Flat buffers of at most this many bytes per all-reduce (PyTorch DDP's default bucket size).
pub const BUCKET_BYTES: usize = 25 << 20;

/// The first gradient bucket's size: small, so that communication starts early in backward
/// (PyTorch DDP's default).
pub const FIRST_BUCKET_BYTES: usize = 1 << 20;

/// Default time to wait for all ranks to join, and for any one collective.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Where and how a process joins the group.
#[derive(Debug, Clone, PartialEq)]
pub struct DistOptions {
    /// `tcp://HOST:PORT`: the TCP store that rank 0 serves and every rank connects to.
    pub url: String,
    pub world_size: usize,
    pub rank: usize,
    /// Rendezvous and per-collective timeout.
    pub timeout: Duration,
}

impl DistOptions {
    /// torchrun's environment: `MASTER_ADDR`, `MASTER_PORT`, `WORLD_SIZE` and `RANK`; `None`
    /// when `WORLD_SIZE` is not set.
    pub fn from_env() -> Result<Option<DistOptions>> {
        let var = |name: &str| std::env::var(name).ok();
        let Some(world) = var("WORLD_SIZE") else {
            return Ok(None);
        };
        let parse = |name: &str, v: String| -> Result<usize> {
            v.parse()
                .with_context(|| format!("{name} must be a whole number, got {v:?}"))
        };
        let world_size = parse("WORLD_SIZE", world)?;
        let rank = parse(
            "RANK",
            var("RANK").context("WORLD_SIZE is set but RANK is not")?,
        )?;
        let addr = var("MASTER_ADDR").unwrap_or_else(|| "127.0.0.1".into());
        let port = var("MASTER_PORT").context("WORLD_SIZE is set but MASTER_PORT is not")?;
        Ok(Some(DistOptions {
            url: format!("tcp://{addr}:{port}"),
            world_size,
            rank,
            timeout: DEFAULT_TIMEOUT,
        }))
    }

    /// The store's host and port from `url`.
    pub fn host_port(&self) -> Result<(String, u16)> {
        let rest = self.url.strip_prefix("tcp://").with_context(|| {
            format!(
                "--dist-url must look like tcp://HOST:PORT, got {:?}",
                self.url
            )
        })?;
        let (host, port) = rest
            .rsplit_once(':')
            .with_context(|| format!("--dist-url {:?} has no :PORT", self.url))?;
        let port: u16 = port
            .parse()
            .with_context(|| format!("--dist-url {:?}: port {port:?} is not a number", self.url))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            bail!("--dist-url {:?} has no host", self.url);
        }
        Ok((host.to_string(), port))
    }

    /// Checks the numbers before any connection is tried.
    pub fn validate(&self) -> Result<()> {
        if self.world_size == 0 {
            bail!("world size must be at least 1, got 0");
        }
        if self.rank >= self.world_size {
            bail!(
                "rank must be in 0..{} (the world size), got {}",
                self.world_size,
                self.rank
            );
        }
        if self.timeout.is_zero() {
            bail!("the distributed timeout must be positive");
        }
        self.host_port().map(|_| ())
    }
}

/// A c10d Gloo process group: this process is `rank` of `world_size`.
pub struct ProcessGroup {
    ptr: *mut c_void,
    rank: usize,
    world_size: usize,
    bucket_bytes: usize,
}

impl ProcessGroup {
    /// Joins the group: rank 0 serves the TCP store at the URL's port, every rank connects to it,
    /// and all wait (up to `timeout`) until `world_size` ranks have joined.
    pub fn new(options: &DistOptions) -> Result<ProcessGroup> {
        options.validate()?;
        let (host, port) = options.host_port()?;
        let (rank, world) = (options.rank, options.world_size);
        let c_host = CString::new(host.clone()).context("the host name contains a NUL byte")?;
        let mut ptr: *mut c_void = std::ptr::null_mut();
        // SAFETY: plain values and a NUL-terminated string; on success `ptr` owns a new group.
        let err = unsafe {
            oc_dist_new(
                c_host.as_ptr(),
                port,
                rank as i32,
                world as i32,
                options.timeout.as_millis() as i64,
                &mut ptr,
            )
        };
        check(err).with_context(|| {
            format!(
                "rank {rank} of {world}: joining the process group at tcp://{host}:{port} (waited up to {:?})",
                options.timeout
            )
        })?;
        Ok(ProcessGroup {
            ptr,
            rank,
            world_size: world,
            bucket_bytes: BUCKET_BYTES,
        })
    }

    pub fn rank(&self) -> usize {
        self.rank
    }

    pub fn world_size(&self) -> usize {
        self.world_size
    }

    /// Changes the flat-buffer size of all-reduces and broadcasts (default [`BUCKET_BYTES`]).
    pub fn set_bucket_bytes(&mut self, bytes: usize) {
        self.bucket_bytes = bytes.max(1);
    }

    /// In place: every tensor becomes its mean over the ranks.
    pub fn all_reduce_mean(&self, tensors: &[Tensor]) -> Result<()> {
        self.all_reduce_scaled(tensors, 1.0 / self.world_size as f64)
    }

    /// In place: every tensor becomes the sum over ranks of `scale` × its value there (each rank
    /// may pass its own `scale`: a weighted mean).
    pub fn all_reduce_scaled(&self, tensors: &[Tensor], scale: f64) -> Result<()> {
        let ptrs = pointers(tensors);
        // SAFETY: live tensors borrowed for the call; the shim writes only their storage.
        let err = unsafe {
            oc_dist_all_reduce(
                self.ptr,
                ptrs.as_ptr(),
                ptrs.len(),
                scale,
                self.bucket_bytes as i64,
            )
        };
        self.checked(err, "all-reduce")
    }

    /// In place: every tensor takes its value on rank `root`.
    pub fn broadcast(&self, tensors: &[Tensor], root: usize) -> Result<()> {
        let ptrs = pointers(tensors);
        // SAFETY: as in `all_reduce_scaled`.
        let err = unsafe {
            oc_dist_broadcast(
                self.ptr,
                ptrs.as_ptr(),
                ptrs.len(),
                root as i32,
                self.bucket_bytes as i64,
            )
        };
        self.checked(err, "broadcast")
    }

    /// Adds c10d's NCCL backend, used from now on for CUDA tensors, with this rank on GPU
    /// `device` (every rank calls it; a second call changes nothing). Needs libtorch's CUDA
    /// library with NCCL ([`crate::device::load_cuda`]); CPU tensors stay on Gloo.
    pub fn use_nccl(&self, device: usize) -> Result<()> {
        if let Err(why) = crate::device::load_cuda() {
            bail!("NCCL needs libtorch's CUDA library: {why}");
        }
        // SAFETY: the group pointer is live until drop.
        let err = unsafe { oc_dist_use_nccl(self.ptr, device as i32) };
        check(err).with_context(|| {
            format!(
                "rank {} of {}: creating the NCCL process group on cuda:{device}",
                self.rank, self.world_size
            )
        })
    }

    /// Returns once every rank has called it.
    pub fn barrier(&self) -> Result<()> {
        // SAFETY: the group pointer is live until drop.
        let err = unsafe { oc_dist_barrier(self.ptr) };
        self.checked(err, "barrier")
    }

    /// Training-mode batch norm of `xs` with the statistics of the global batch (every rank
    /// calls it with its own rows), updating `bn`'s running statistics with `momentum` (PyTorch's
    /// convention) and normalising with `eps`; differentiable, its backward all-reduces too (see
    /// [`BatchNorm`]).
    pub fn sync_batch_norm(
        &self,
        xs: &Tensor,
        bn: &nn::BatchNorm,
        momentum: f64,
        eps: f64,
    ) -> Result<Tensor> {
        let ptr = |t: Option<&Tensor>| t.map_or(std::ptr::null(), |t| t.as_ptr());
        let mut out: *mut C_tensor = std::ptr::null_mut();
        // SAFETY: live tensors (or null for absent ones) borrowed for the call; on success `out`
        // is a new tensor owned by the returned Tensor.
        let err = unsafe {
            oc_dist_sync_batch_norm(
                self.ptr,
                xs.as_ptr(),
                ptr(bn.ws.as_ref()),
                ptr(bn.bs.as_ref()),
                bn.running_mean.as_ptr() as *mut C_tensor,
                bn.running_var.as_ptr() as *mut C_tensor,
                momentum,
                eps,
                &mut out,
            )
        };
        self.checked(err, "synchronised batch norm")?;
        // SAFETY: `out` is a fresh at::Tensor* from the shim.
        Ok(unsafe { Tensor::from_ptr(out) })
    }

    fn checked(&self, err: *mut c_char, what: &str) -> Result<()> {
        check(err).with_context(|| {
            format!(
                "rank {} of {}: {what} failed: another rank has probably exited or stopped responding",
                self.rank, self.world_size
            )
        })
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from oc_dist_new and is freed once.
        unsafe { oc_dist_free(self.ptr) }
    }
}

/// Gradient averaging overlapped with backward, as PyTorch DDP's Reducer does it: hooks on the
/// parameters copy each gradient into a flat bucket as soon as autograd computes it, and every
/// full bucket's all-reduce starts while backward goes on (in the same bucket order on every
/// rank). Buckets follow the order gradients became ready in the first step (rank 0's), the first
/// one [`FIRST_BUCKET_BYTES`], the others `bucket_bytes`.
pub struct Reducer {
    ptr: *mut c_void,
    group: Rc<ProcessGroup>,
}

impl Reducer {
    /// Hooks the gradients of `params` (the trainable parameters, the same on every rank).
    pub fn new(group: Rc<ProcessGroup>, params: &[Tensor]) -> Result<Reducer> {
        let ptrs = pointers(params);
        let mut ptr: *mut c_void = std::ptr::null_mut();
        // SAFETY: live tensors borrowed for the call (the reducer keeps its own references);
        // on success `ptr` owns a new reducer.
        let err = unsafe {
            oc_dist_reducer_new(
                group.ptr,
                ptrs.as_ptr(),
                ptrs.len(),
                FIRST_BUCKET_BYTES.min(group.bucket_bytes) as i64,
                group.bucket_bytes as i64,
                &mut ptr,
            )
        };
        group.checked(err, "setting up the gradient reducer")?;
        Ok(Reducer { ptr, group })
    }

    /// Arms the hooks for the next backward, each gradient weighted by `share` (this rank's
    /// part of the global batch).
    pub fn prepare(&self, share: f64) -> Result<()> {
        // SAFETY: the reducer is live until drop.
        let err = unsafe { oc_dist_reducer_prepare(self.ptr, share) };
        self.group.checked(err, "gradient sync")
    }

    /// After backward: waits for every bucket and writes into `grads` (the gradients of
    /// `params`, in any order) the weighted sums over ranks.
    pub fn finish(&self, params: &[Tensor], grads: &[Tensor]) -> Result<()> {
        if params.len() != grads.len() {
            bail!("{} parameters but {} gradients", params.len(), grads.len());
        }
        let (p, g) = (pointers(params), pointers(grads));
        // SAFETY: live tensors borrowed for the call; the shim writes only the gradients' storage.
        let err = unsafe { oc_dist_reducer_finish(self.ptr, p.as_ptr(), g.as_ptr(), p.len()) };
        self.group.checked(err, "gradient all-reduce")
    }
}

impl Drop for Reducer {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from oc_dist_reducer_new and is freed once (removing the hooks).
        unsafe { oc_dist_reducer_free(self.ptr) }
    }
}

thread_local! {
    /// The group whose global batch every [`BatchNorm`] on this thread normalises over.
    static BATCH_NORM_GROUP: std::cell::RefCell<Option<Rc<ProcessGroup>>> = const { std::cell::RefCell::new(None) };
}

/// Makes every [`BatchNorm`] on this thread use the statistics of `group`'s global batch in
/// training mode (`None`: each process its own batch, the default).
pub fn sync_batch_norm(group: Option<Rc<ProcessGroup>>) {
    BATCH_NORM_GROUP.with(|g| *g.borrow_mut() = group);
}

/// Batch norm that can synchronise its batch statistics across ranks (PyTorch's SyncBatchNorm):
/// after [`sync_batch_norm`]`(Some(group))`, training batches are normalised with the mean and
/// variance of the global batch and the running statistics follow those, so that data-parallel
/// training equals one process on the whole batch. Otherwise it is `nn::BatchNorm` exactly.
#[derive(Debug)]
pub struct BatchNorm {
    inner: nn::BatchNorm,
    momentum: f64,
    eps: f64,
}

impl BatchNorm {
    /// Batch norm over dimension 1 of `dims`-d inputs (`[N, C]` or `[N, C, L]` for 1,
    /// `[N, C, H, W]` for 2, `[N, C, D, H, W]` for 3), variables under `vs`.
    pub fn new(vs: nn::Path, dims: usize, channels: i64, config: nn::BatchNormConfig) -> BatchNorm {
        let (momentum, eps) = (config.momentum, config.eps);
        let inner = match dims {
            1 => nn::batch_norm1d(vs, channels, config),
            2 => nn::batch_norm2d(vs, channels, config),
            3 => nn::batch_norm3d(vs, channels, config),
            _ => panic!("batch norm is 1-, 2- or 3-d, not {dims}-d"),
        };
        BatchNorm {
            inner,
            momentum,
            eps,
        }
    }

    /// The scale γ (`None` without affine parameters).
    pub fn weight(&self) -> Option<&Tensor> {
        self.inner.ws.as_ref()
    }
}

impl nn::ModuleT for BatchNorm {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        let group = BATCH_NORM_GROUP.with(|g| g.borrow().clone());
        match group {
            Some(group) if train => group
                .sync_batch_norm(xs, &self.inner, self.momentum, self.eps)
                .unwrap_or_else(|e| panic!("{e:#}")),
            _ => self.inner.forward_t(xs, train),
        }
    }
}

fn pointers(tensors: &[Tensor]) -> Vec<*mut C_tensor> {
    tensors
        .iter()
        .map(|t| t.as_ptr() as *mut C_tensor)
        .collect()
}

/// The shim's convention: NULL, or a malloc'd message freed here.
fn check(err: *mut c_char) -> Result<()> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string from strdup, freed once.
    let msg = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .trim()
        .to_string();
    unsafe { oc_free(err) };
    bail!("{msg}")
}

/// The GPU of `rank` under data parallelism: `LOCAL_RANK` (set by torchrun and `onecycle
/// launch`: the rank on this machine), else `rank`, modulo the GPUs visible. An error when
/// `LOCAL_WORLD_SIZE` (the ranks on this machine) exceeds the GPUs: NCCL needs one per rank.
pub fn local_gpu(rank: usize) -> Result<usize> {
    let var = |name: &str| -> Option<usize> { std::env::var(name).ok()?.parse().ok() };
    gpu_of(
        rank,
        var("LOCAL_RANK"),
        var("LOCAL_WORLD_SIZE"),
        crate::device::cuda_device_count(),
    )
}

/// [`local_gpu`] from its inputs.
fn gpu_of(
    rank: usize,
    local_rank: Option<usize>,
    local_world: Option<usize>,
    gpus: usize,
) -> Result<usize> {
    let gpus = gpus.max(1);
    if let Some(local_world) = local_world.filter(|&n| n > gpus) {
        bail!(
            "{local_world} ranks on this machine but {gpus} GPU(s): NCCL needs a GPU per rank (start at most {gpus}, or train with --device cpu)"
        );
    }
    Ok(local_rank.unwrap_or(rank) % gpus)
}

/// c10d data parallelism as a [`Strategy`]: rank 0's weights and buffers are broadcast to all
/// ranks when it is made; every step, the loss and the gradients are averaged over ranks, each
/// weighted by its share of the global batch (so the update is the one a single process would
/// make on the whole batch), the gradients' all-reduce overlapped with backward ([`Reducer`]);
/// after the update the buffers (batch-norm running statistics) are broadcast from rank 0, as
/// PyTorch DDP does. Validation is shared out too: each rank evaluates its rows of every
/// validation batch and the sums are added up. The training data must be sharded already (e.g.
/// with [`crate::data::Sharded`]).
pub struct Ddp {
    group: Rc<ProcessGroup>,
    reducer: Reducer,
    buffers: Vec<Tensor>,
    /// This rank's share of the global batch when the step's gradients come summed from
    /// accumulated batches instead of through the reducer's hooks.
    accumulated: Option<f64>,
}

impl Ddp {
    /// Data parallelism in `group` for the model in `vs` (on a GPU, through NCCL). With
    /// `sync_bn`, every [`BatchNorm`] on this thread normalises with the global batch's
    /// statistics; otherwise each rank uses its own rows' statistics (PyTorch DDP's default).
    pub fn new(group: Rc<ProcessGroup>, vs: &nn::VarStore, sync_bn: bool) -> Result<Ddp> {
        if let Device::Cuda(gpu) = vs.device() {
            group.use_nccl(gpu)?;
        }
        let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        named.sort_by(|a, b| a.0.cmp(&b.0));
        let all: Vec<Tensor> = named.into_iter().map(|(_, t)| t).collect();
        group
            .broadcast(&all, 0)
            .context("making the initial weights equal on all ranks")?;
        let (params, buffers): (Vec<Tensor>, Vec<Tensor>) =
            all.into_iter().partition(Tensor::requires_grad);
        sync_batch_norm(sync_bn.then(|| group.clone()));
        let reducer = Reducer::new(group.clone(), &params)?;
        Ok(Ddp {
            group,
            reducer,
            buffers,
            accumulated: None,
        })
    }

    pub fn group(&self) -> &Rc<ProcessGroup> {
        &self.group
    }

    /// The global batch's mean loss and size, and this rank's share of it; a stop asked for on
    /// any rank rides along, so that all stop after the same step.
    fn reduce_loss_and_stop(&mut self, loss: f64, items: usize) -> Result<(f64, (f64, usize))> {
        let stop = f64::from(u8::from(interrupt::requested()));
        let t = Tensor::from_slice(&[loss * items as f64, items as f64, stop]);
        self.group
            .all_reduce_scaled(std::slice::from_ref(&t), 1.0)?;
        let sums: Vec<f64> = Vec::try_from(&t.to_kind(Kind::Double))?;
        if sums[1] <= 0.0 {
            bail!("the global batch is empty");
        }
        if sums[2] > 0.0 {
            interrupt::request();
        }
        Ok((
            items as f64 / sums[1],
            (sums[0] / sums[1], sums[1] as usize),
        ))
    }
}

impl Strategy for Ddp {
    fn reduce_loss(&mut self, loss: f64, items: usize) -> Result<(f64, usize)> {
        let (share, reduced) = self.reduce_loss_and_stop(loss, items)?;
        self.reducer.prepare(share)?;
        Ok(reduced)
    }

    fn reduce_accumulated_loss(&mut self, loss: f64, items: usize) -> Result<(f64, usize)> {
        let (share, reduced) = self.reduce_loss_and_stop(loss, items)?;
        self.accumulated = Some(share);
        Ok(reduced)
    }

    fn sync_grads(&mut self, params: &[Tensor], grads: &mut [Tensor]) -> Result<()> {
        // Every rank all-reduces every trained parameter, used here or not.
        for (g, p) in grads.iter_mut().zip(params) {
            if !g.defined() {
                *g = p.zeros_like();
            }
        }
        match self.accumulated.take() {
            Some(share) => self.group.all_reduce_scaled(grads, share)?,
            None => self.reducer.finish(params, grads)?,
        }
        if !self.buffers.is_empty() {
            self.group.broadcast(&self.buffers, 0)?;
        }
        Ok(())
    }

    fn valid_shard(&self) -> Option<Shard> {
        Some(Shard {
            rank: self.group.rank(),
            world: self.group.world_size(),
        })
    }

    fn reduce_sums(&mut self, sums: &mut [f64]) -> Result<()> {
        let t = Tensor::from_slice(sums);
        self.group
            .all_reduce_scaled(std::slice::from_ref(&t), 1.0)?;
        sums.copy_from_slice(&Vec::<f64>::try_from(&t)?);
        Ok(())
    }

    fn is_lead(&self) -> bool {
        self.group.rank() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_rank_on_a_machine_gets_its_own_gpu() {
        // 8 GPUs, ranks 8..15 on the second machine: LOCAL_RANK picks the GPU.
        assert_eq!(gpu_of(11, Some(3), Some(8), 8).unwrap(), 3);
        // Without torchrun's variables, the rank modulo the GPUs.
        assert_eq!(gpu_of(11, None, None, 8).unwrap(), 3);
        let err = gpu_of(1, Some(1), Some(2), 1).unwrap_err().to_string();
        assert!(
            err.contains("2 ranks on this machine but 1 GPU(s)"),
            "{err}"
        );
    }

    #[test]
    fn urls_and_ranks_are_checked_before_connecting() {
        let options = |url: &str, world_size, rank| DistOptions {
            url: url.into(),
            world_size,
            rank,
            timeout: DEFAULT_TIMEOUT,
        };
        let o = options("tcp://10.0.0.2:29500", 2, 1);
        assert_eq!(o.host_port().unwrap(), ("10.0.0.2".to_string(), 29500));
        assert_eq!(
            options("tcp://[::1]:7", 1, 0).host_port().unwrap(),
            ("::1".to_string(), 7)
        );
        for (bad, why) in [
            (options("10.0.0.2:29500", 2, 0), "tcp://HOST:PORT"),
            (options("tcp://host", 2, 0), "no :PORT"),
            (options("tcp://host:http", 2, 0), "not a number"),
            (options("tcp://host:1", 2, 2), "rank must be in 0..2"),
            (
                options("tcp://host:1", 0, 0),
                "world size must be at least 1",
            ),
        ] {
            let err = bad.validate().unwrap_err().to_string();
            assert!(err.contains(why), "{err}");
        }
    }
}
