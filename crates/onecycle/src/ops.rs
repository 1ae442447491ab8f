//! Safe wrappers over the C++ shim (`csrc/ops.cpp`, `csrc/amp.cpp`): ATen calls that tch does
//! not expose. The scaled in-place updates round once per element exactly as PyTorch's optimizers
//! do; the mixed-precision calls are autocast for any device type, the fused gradient
//! unscale-and-check of `torch.amp.GradScaler`, and pinning host memory.

use std::ffi::{c_char, c_int, CStr};

use tch::{TchError, Tensor};
use torch_sys::C_tensor;

extern "C" {
    fn oc_add_scaled_(t: *mut C_tensor, other: *const C_tensor, alpha: f64) -> *mut c_char;
    fn oc_addcmul_(t: *mut C_tensor, a: *const C_tensor, b: *const C_tensor, v: f64)
        -> *mut c_char;
    fn oc_addcdiv_(t: *mut C_tensor, a: *const C_tensor, b: *const C_tensor, v: f64)
        -> *mut c_char;
    fn oc_add_scaled(
        out: *mut *mut C_tensor,
        a: *const C_tensor,
        b: *const C_tensor,
        alpha: f64,
    ) -> *mut c_char;
    fn oc_free(p: *mut c_char);
    fn oc_autocast_state(
        device_type: c_int,
        enabled: *mut bool,
        dtype: *mut c_int,
        cache: *mut bool,
    ) -> *mut c_char;
    fn oc_autocast_enter(device_type: c_int, dtype: c_int) -> *mut c_char;
    fn oc_autocast_exit(
        device_type: c_int,
        enabled: bool,
        dtype: c_int,
        cache: bool,
    ) -> *mut c_char;
    fn oc_amp_unscale_(
        grads: *const *mut C_tensor,
        n: c_int,
        found_inf: *mut C_tensor,
        inv_scale: *const C_tensor,
    ) -> *mut c_char;
    fn oc_pin_memory(out: *mut *mut C_tensor, t: *const C_tensor) -> *mut c_char;
    fn oc_cuda_hooks(registered: *mut bool, active: *mut bool) -> *mut c_char;
}

/// Turns the shim's error convention (NULL or a malloc'd message) into a `Result`.
fn check(err: *mut c_char) -> Result<(), TchError> {
    if err.is_null() {
        return Ok(());
    }
    // SAFETY: a non-null return is a NUL-terminated string from strdup, freed here once.
    let msg = unsafe { CStr::from_ptr(err) }
        .to_string_lossy()
        .into_owned();
    unsafe { oc_free(err) };
    Err(TchError::Torch(msg))
}

/// `t += alpha · other` (PyTorch's `t.add_(other, alpha=alpha)`).
pub fn add_scaled_(t: &mut Tensor, other: &Tensor, alpha: f64) -> Result<(), TchError> {
    // SAFETY: both pointers come from live tch tensors borrowed for the call's duration.
    check(unsafe { oc_add_scaled_(t.as_mut_ptr(), other.as_ptr(), alpha) })
}

/// `t += value · a · b` (PyTorch's `t.addcmul_(a, b, value=value)`).
pub fn addcmul_(t: &mut Tensor, a: &Tensor, b: &Tensor, value: f64) -> Result<(), TchError> {
    // SAFETY: as in `add_scaled_`.
    check(unsafe { oc_addcmul_(t.as_mut_ptr(), a.as_ptr(), b.as_ptr(), value) })
}

/// `t += value · a / b` (PyTorch's `t.addcdiv_(a, b, value=value)`).
pub fn addcdiv_(t: &mut Tensor, a: &Tensor, b: &Tensor, value: f64) -> Result<(), TchError> {
    // SAFETY: as in `add_scaled_`.
    check(unsafe { oc_addcdiv_(t.as_mut_ptr(), a.as_ptr(), b.as_ptr(), value) })
}

/// `a + alpha · b` as a new tensor (PyTorch's `a.add(b, alpha=alpha)`).
pub fn add_scaled(a: &Tensor, b: &Tensor, alpha: f64) -> Result<Tensor, TchError> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: as in `add_scaled_`; on success the shim stores a new heap tensor in `out`,
    // which `Tensor::from_ptr` takes ownership of.
    check(unsafe { oc_add_scaled(&mut out, a.as_ptr(), b.as_ptr(), alpha) })?;
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// The autocast state of one device type (`at::DeviceType`: 0 CPU, 1 CUDA) on this thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutocastState {
    pub enabled: bool,
    /// The low-precision dtype as an `at::ScalarType` code (5 half, 15 bfloat16).
    pub dtype: i32,
    /// Whether autocast caches the low-precision copies of weights inside a region.
    pub cache: bool,
}

/// Reads the autocast state of `device_type` (and the thread's cache flag).
pub fn autocast_state(device_type: i32) -> Result<AutocastState, TchError> {
    let (mut enabled, mut dtype, mut cache) = (false, 0, false);
    // SAFETY: the shim writes three plain values through pointers to these locals.
    check(unsafe { oc_autocast_state(device_type, &mut enabled, &mut dtype, &mut cache) })?;
    Ok(AutocastState {
        enabled,
        dtype,
        cache,
    })
}

/// Enters an autocast region of `device_type` with the low-precision `dtype` (an `at::ScalarType`
/// code), as `torch.autocast.__enter__` does. Pair with [`autocast_exit`].
pub fn autocast_enter(device_type: i32, dtype: i32) -> Result<(), TchError> {
    // SAFETY: plain values; the shim catches every C++ exception.
    check(unsafe { oc_autocast_enter(device_type, dtype) })
}

/// Leaves an autocast region, restoring `previous` (the outermost exit clears the cast cache).
pub fn autocast_exit(device_type: i32, previous: AutocastState) -> Result<(), TchError> {
    // SAFETY: as in `autocast_enter`.
    check(unsafe {
        oc_autocast_exit(
            device_type,
            previous.enabled,
            previous.dtype,
            previous.cache,
        )
    })
}

/// Multiplies every gradient by `inv_scale` (a one-element float tensor) in place and sets
/// `found_inf` (a one-element float tensor) to 1 if any value is infinite or NaN: ATen's
/// `_amp_foreach_non_finite_check_and_unscale_`. All tensors must be on one device.
pub fn amp_unscale_(
    grads: &mut [Tensor],
    found_inf: &mut Tensor,
    inv_scale: &Tensor,
) -> Result<(), TchError> {
    let ptrs: Vec<*mut C_tensor> = grads.iter_mut().map(|g| g.as_mut_ptr()).collect();
    let n = c_int::try_from(ptrs.len())
        .map_err(|_| TchError::Torch(format!("{} gradients are too many", ptrs.len())))?;
    // SAFETY: `ptrs` points at live tensors borrowed mutably for the call; the shim only reads
    // the array.
    check(unsafe { oc_amp_unscale_(ptrs.as_ptr(), n, found_inf.as_mut_ptr(), inv_scale.as_ptr()) })
}

/// A copy of `t` in page-locked host memory (`t.pin_memory()`), from which copies to a GPU can
/// run asynchronously. Needs a CUDA-capable libtorch with a GPU.
pub fn pin_memory(t: &Tensor) -> Result<Tensor, TchError> {
    let mut out: *mut C_tensor = std::ptr::null_mut();
    // SAFETY: as in `add_scaled`.
    check(unsafe { oc_pin_memory(&mut out, t.as_ptr()) })?;
    Ok(unsafe { Tensor::from_ptr(out) })
}

/// Whether `libtorch_cuda.so` has registered libtorch's CUDA backend, and whether libtorch uses
/// it (it chooses once, at its first CUDA query: registered but inactive means CUDA was loaded
/// too late).
pub fn cuda_hooks() -> Result<(bool, bool), TchError> {
    let (mut registered, mut active) = (false, false);
    // SAFETY: the shim writes two booleans through pointers to these locals.
    check(unsafe { oc_cuda_hooks(&mut registered, &mut active) })?;
    Ok((registered, active))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaled_updates_compute_what_pytorch_documents() {
        let mut t = Tensor::from_slice(&[1.0f64, 2.0, 3.0]);
        let a = Tensor::from_slice(&[1.0f64, 1.0, 2.0]);
        let b = Tensor::from_slice(&[4.0f64, 2.0, 8.0]);
        add_scaled_(&mut t, &a, -0.5).unwrap();
        assert_eq!(Vec::<f64>::try_from(&t).unwrap(), [0.5, 1.5, 2.0]);
        addcmul_(&mut t, &a, &b, 0.25).unwrap();
        assert_eq!(Vec::<f64>::try_from(&t).unwrap(), [1.5, 2.0, 6.0]);
        addcdiv_(&mut t, &a, &b, 2.0).unwrap();
        assert_eq!(Vec::<f64>::try_from(&t).unwrap(), [2.0, 3.0, 6.5]);
        let c = add_scaled(&a, &b, 3.0).unwrap();
        assert_eq!(Vec::<f64>::try_from(&c).unwrap(), [13.0, 7.0, 26.0]);
    }

    #[test]
    fn add_scaled_rounds_once_per_element_like_pytorch() {
        // PyTorch's CPU add kernel computes `self + alpha·other` as one fused multiply-add;
        // a product and a sum as two tch calls would round twice and drift from torch.optim.
        let opts = (tch::Kind::Float, tch::Device::Cpu);
        tch::manual_seed(0);
        let a = Tensor::randn([4096], opts);
        let b = Tensor::randn([4096], opts);
        let alpha = -0.1f32;
        let mut fused = a.copy();
        add_scaled_(&mut fused, &b, alpha as f64).unwrap();
        let two_step: Vec<f32> = Vec::try_from(&(&a + &b * alpha as f64)).unwrap();
        let (a, b, fused): (Vec<f32>, Vec<f32>, Vec<f32>) = (
            Vec::try_from(&a).unwrap(),
            Vec::try_from(&b).unwrap(),
            Vec::try_from(&fused).unwrap(),
        );
        for i in 0..a.len() {
            assert_eq!(
                fused[i].to_bits(),
                b[i].mul_add(alpha, a[i]).to_bits(),
                "element {i}"
            );
        }
        let differs = (0..a.len()).filter(|&i| fused[i] != two_step[i]).count();
        assert!(
            differs > 0,
            "two roundings should differ from one somewhere in 4096 values"
        );
    }

    #[test]
    fn shape_errors_come_back_as_errors_not_aborts() {
        let mut t = Tensor::zeros([3], (tch::Kind::Float, tch::Device::Cpu));
        let other = Tensor::zeros([4], (tch::Kind::Float, tch::Device::Cpu));
        let err = add_scaled_(&mut t, &other, 1.0).unwrap_err();
        assert!(err.to_string().contains("size"), "{err}");
    }
}
