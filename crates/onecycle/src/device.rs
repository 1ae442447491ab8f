//! Where training runs: `auto`, `cpu`, `cuda` or `cuda:N`; CUDA made available at run time to a
//! binary linked on a machine without a GPU; cuDNN's benchmark mode; batches copied to the GPU
//! asynchronously from pinned memory, one batch ahead of the step that uses them.
//!
//! A binary links only `libtorch_cpu.so` (the linker drops `libtorch_cuda.so`, which nothing
//! references by name), so the same binary starts on machines without CUDA libraries. CUDA is
//! switched on by loading `libtorch_cuda.so` from the directory of the `libtorch_cpu.so` in use,
//! which registers libtorch's CUDA backend. libtorch decides once whether CUDA exists, at its
//! first CUDA query (e.g. `tch::manual_seed`), so [`load_cuda`] must run before that:
//! `engine::init` does it at start-up, and [`DeviceSpec::resolve`] on first use.

use std::ffi::{CStr, CString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::OnceLock;

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Tensor};

use crate::data::{Batch, Batches};
use crate::ops;

/// A device as a user names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DeviceSpec {
    /// The first GPU when CUDA is available, else the CPU.
    #[default]
    Auto,
    Cpu,
    /// GPU `N` (`cuda` is `cuda:0`).
    Cuda(usize),
}

impl FromStr for DeviceSpec {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<DeviceSpec> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "auto" => return Ok(DeviceSpec::Auto),
            "cpu" => return Ok(DeviceSpec::Cpu),
            "cuda" | "gpu" => return Ok(DeviceSpec::Cuda(0)),
            _ => {}
        }
        if let Some(n) = lower.strip_prefix("cuda:") {
            if let Ok(n) = n.parse::<usize>() {
                return Ok(DeviceSpec::Cuda(n));
            }
        }
        bail!("device must be auto, cpu, cuda or cuda:N (N = 0, 1, …), got {s:?}")
    }
}

impl fmt::Display for DeviceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceSpec::Auto => f.write_str("auto"),
            DeviceSpec::Cpu => f.write_str("cpu"),
            DeviceSpec::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl TryFrom<String> for DeviceSpec {
    type Error = anyhow::Error;
    fn try_from(s: String) -> Result<DeviceSpec> {
        s.parse()
    }
}

impl From<DeviceSpec> for String {
    fn from(d: DeviceSpec) -> String {
        d.to_string()
    }
}

impl DeviceSpec {
    /// The tch device, or an error saying why CUDA cannot be used when it was asked for.
    pub fn resolve(self) -> Result<Device> {
        match self {
            DeviceSpec::Cpu => Ok(Device::Cpu),
            DeviceSpec::Auto => Ok(if cuda_device_count() > 0 {
                Device::Cuda(0)
            } else {
                Device::Cpu
            }),
            DeviceSpec::Cuda(n) => {
                if let Err(why) = load_cuda() {
                    bail!("device {self} was asked for, but CUDA is not available: {why}");
                }
                if let Ok((true, false)) = ops::cuda_hooks() {
                    bail!(
                        "device {self} was asked for, but libtorch looked for CUDA before its \
                         CUDA library was loaded, and keeps that answer: call \
                         onecycle::engine::init() (or onecycle::device::load_cuda()) before any \
                         other libtorch call"
                    );
                }
                let count = cuda_device_count();
                if count == 0 {
                    bail!(
                        "device {self} was asked for, but CUDA is not available: libtorch's CUDA \
                         library is loaded but sees no GPU (no NVIDIA driver, or \
                         CUDA_VISIBLE_DEVICES hides them all)"
                    );
                }
                if n >= count {
                    bail!("device {self} does not exist: this machine has {count} CUDA device(s)");
                }
                Ok(Device::Cuda(n))
            }
        }
    }
}

/// Loads libtorch's CUDA backend (once per process; later calls return the first outcome):
/// `libtorch_cuda.so` from the directory of the loaded `libtorch_cpu.so`. The error says why it
/// could not (a CPU-only libtorch, or missing CUDA libraries such as cuBLAS and cuDNN).
pub fn load_cuda() -> Result<&'static Path, &'static str> {
    static LOADED: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    match LOADED.get_or_init(dlopen_torch_cuda) {
        Ok(path) => Ok(path),
        Err(why) => Err(why),
    }
}

/// CUDA devices libtorch can use (0 when CUDA cannot be loaded).
pub fn cuda_device_count() -> usize {
    if load_cuda().is_err() {
        return 0;
    }
    usize::try_from(tch::Cuda::device_count()).unwrap_or(0)
}

/// cuDNN's benchmark mode: time the convolution algorithms for each new input shape and keep the
/// fastest (`torch.backends.cudnn.benchmark`). Worth it when shapes repeat, as in training.
pub fn set_cudnn_benchmark(on: bool) {
    tch::Cuda::cudnn_set_benchmark(on);
}

fn dlopen_torch_cuda() -> Result<PathBuf, String> {
    let cpu =
        loaded_library("libtorch_cpu.so").ok_or("libtorch_cpu.so is not loaded in this process")?;
    let dir = cpu.parent().unwrap_or(Path::new("."));
    let cuda = dir.join("libtorch_cuda.so");
    if !cuda.exists() {
        return Err(format!(
            "the libtorch in {} has no libtorch_cuda.so (a CPU-only build)",
            dir.display()
        ));
    }
    let c_path = CString::new(cuda.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{} holds a NUL byte", cuda.display()))?;
    // SAFETY: dlopen with a valid C string; the handle is kept (never closed) so that the
    // backend stays registered for the life of the process.
    let handle = unsafe { libc::dlopen(c_path.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
    if handle.is_null() {
        // SAFETY: dlerror returns a thread-local message valid until the next dl call.
        let msg = unsafe {
            let e = libc::dlerror();
            if e.is_null() {
                "unknown error".to_string()
            } else {
                CStr::from_ptr(e).to_string_lossy().into_owned()
            }
        };
        return Err(format!(
            "loading {} failed: {msg} (a GPU run needs the full `pip install torch==2.11.0`, \
             whose CUDA libraries lie beside it)",
            cuda.display()
        ));
    }
    Ok(cuda)
}

/// The path of a shared library loaded in this process whose file name is `name`.
fn loaded_library(name: &str) -> Option<PathBuf> {
    struct Search<'a> {
        name: &'a str,
        found: Option<PathBuf>,
    }
    unsafe extern "C" fn visit(
        info: *mut libc::dl_phdr_info,
        _size: libc::size_t,
        data: *mut libc::c_void,
    ) -> libc::c_int {
        // SAFETY: `data` is the `Search` passed below; `info` is valid during the callback.
        let search = unsafe { &mut *(data as *mut Search) };
        let name_ptr = unsafe { (*info).dlpi_name };
        if name_ptr.is_null() {
            return 0;
        }
        let path = unsafe { CStr::from_ptr(name_ptr) }.to_string_lossy();
        let path = Path::new(path.as_ref());
        if path.file_name().and_then(|f| f.to_str()) == Some(search.name) {
            search.found = Some(std::fs::canonicalize(path).unwrap_or_else(|_| path.into()));
            return 1;
        }
        0
    }
    let mut search = Search { name, found: None };
    // SAFETY: the callback only reads the loader's records and writes into `search`.
    unsafe { libc::dl_iterate_phdr(Some(visit), &mut search as *mut Search as *mut libc::c_void) };
    search.found
}

/// `batch` on `device`; from the CPU to a GPU through pinned memory with an asynchronous copy,
/// so that the host goes on while the copy runs. On the CPU the batch is returned as it is.
pub fn to_device(batch: Batch, device: Device) -> Result<Batch> {
    Ok(Batch {
        inputs: tensor_to_device(batch.inputs, device)?,
        targets: tensor_to_device(batch.targets, device)?,
    })
}

fn tensor_to_device(t: Tensor, device: Device) -> Result<Tensor> {
    if t.device() == device {
        return Ok(t);
    }
    if t.device() == Device::Cpu && device.is_cuda() {
        let pinned = ops::pin_memory(&t)?;
        return Ok(pinned.f_to_device_(device, pinned.kind(), true, false)?);
    }
    Ok(t.f_to_device(device)?)
}

/// Batches moved to `device` one ahead: when batch `i` is handed out, batch `i + 1` has been taken
/// from the loader, pinned, and its copy queued on the GPU (ahead of step `i`'s kernels, on the
/// same stream), so the host never waits for a copy. On the CPU, `batches` unchanged.
pub fn prefetch(batches: Batches, device: Device) -> Batches {
    if device == Device::Cpu {
        return batches;
    }
    Box::new(Prefetch {
        inner: batches,
        device,
        ahead: None,
    })
}

struct Prefetch {
    inner: Batches,
    device: Device,
    ahead: Option<Result<Batch>>,
}

impl Prefetch {
    fn fetch(&mut self) -> Option<Result<Batch>> {
        let device = self.device;
        self.inner
            .next()
            .map(|b| b.and_then(|b| to_device(b, device)))
    }
}

impl Iterator for Prefetch {
    type Item = Result<Batch>;

    fn next(&mut self) -> Option<Result<Batch>> {
        let current = match self.ahead.take() {
            Some(b) => b,
            None => self.fetch()?,
        };
        if current.is_ok() {
            self.ahead = self.fetch();
        }
        Some(current)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let (lo, hi) = self.inner.size_hint();
        let extra = usize::from(self.ahead.is_some());
        (lo + extra, hi.map(|h| h + extra))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_names_parse_and_print_back() {
        for (text, spec) in [
            ("auto", DeviceSpec::Auto),
            ("cpu", DeviceSpec::Cpu),
            ("CUDA", DeviceSpec::Cuda(0)),
            ("cuda:3", DeviceSpec::Cuda(3)),
        ] {
            let parsed: DeviceSpec = text.parse().unwrap();
            assert_eq!(parsed, spec, "{text}");
            assert_eq!(parsed.to_string().parse::<DeviceSpec>().unwrap(), spec);
        }
    }

    #[test]
    fn bad_device_names_are_refused_with_the_accepted_forms() {
        for bad in ["tpu", "cuda:", "cuda:-1", "cuda:x", "cpu:0", ""] {
            let err = bad.parse::<DeviceSpec>().unwrap_err().to_string();
            assert!(
                err.contains("auto, cpu, cuda or cuda:N") && err.contains(&format!("{bad:?}")),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn cuda_resolves_only_where_a_gpu_is_usable_and_says_why_not() {
        let gpus = cuda_device_count();
        let auto = DeviceSpec::Auto.resolve().unwrap();
        let cuda = DeviceSpec::Cuda(0).resolve();
        if load_cuda().is_err() {
            let (registered, active) = ops::cuda_hooks().unwrap();
            assert!(
                !registered && !active,
                "no CUDA backend without libtorch_cuda.so"
            );
        }
        if gpus == 0 {
            assert_eq!(auto, Device::Cpu);
            let err = cuda.unwrap_err().to_string();
            assert!(
                err.contains("cuda:0") && err.contains("CUDA is not available: "),
                "{err}"
            );
        } else {
            assert_eq!(auto, Device::Cuda(0));
            assert_eq!(cuda.unwrap(), Device::Cuda(0));
        }
        let err = DeviceSpec::Cuda(gpus + 7)
            .resolve()
            .unwrap_err()
            .to_string();
        assert!(err.contains(&format!("cuda:{}", gpus + 7)), "{err}");
        assert_eq!(DeviceSpec::Cpu.resolve().unwrap(), Device::Cpu);
    }

    #[test]
    fn the_running_libtorch_is_found_among_the_loaded_libraries() {
        let _ = Tensor::zeros([1], (tch::Kind::Float, Device::Cpu));
        let cpu = loaded_library("libtorch_cpu.so").expect("libtorch_cpu.so is loaded");
        assert!(cpu.is_absolute() && cpu.exists(), "{}", cpu.display());
        assert!(loaded_library("libnot_a_library.so").is_none());
    }

    #[test]
    fn batches_stay_as_they_are_on_the_cpu() {
        let b = Batch {
            inputs: Tensor::from_slice(&[1.0f32, 2.0]),
            targets: Tensor::from_slice(&[0i64, 1]),
        };
        let ptr = b.inputs.data_ptr();
        let moved = to_device(b, Device::Cpu).unwrap();
        assert_eq!(moved.inputs.data_ptr(), ptr, "no copy on the CPU");
    }
}
