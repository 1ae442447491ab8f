//! What the CLI prints. A closed or full standard output must never stop training (the run
//! folder is the record), so printing ignores write errors instead of panicking as `println!`
//! does.

/// `println!` that ignores a closed pipe or a full disk.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

pub(crate) use say;
