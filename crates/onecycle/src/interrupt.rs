//! A graceful stop on Ctrl-C (SIGINT) or SIGTERM: the first signal asks training to stop after
//! the step it is in (with a checkpoint to resume from); a second one ends the process at once.
//! The program installs the handlers ([`install`]); training asks [`requested`].

use std::sync::atomic::{AtomicUsize, Ordering};

/// Signals received so far (or 1 when a data-parallel peer was interrupted).
static SIGNALS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_signal(_: libc::c_int) {
    if SIGNALS.fetch_add(1, Ordering::SeqCst) >= 1 {
        // SAFETY: _exit is async-signal-safe; the second signal means "stop now".
        unsafe { libc::_exit(130) }
    }
}

/// Handles SIGINT and SIGTERM from now on (instead of dying at the first one).
pub fn install() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only touches an atomic and calls _exit.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    SIGNALS.load(Ordering::SeqCst) > 0
}

/// Asks for a stop as a signal would (e.g. because another rank was interrupted).
pub fn request() {
    SIGNALS.fetch_max(1, Ordering::SeqCst);
}
