//! `onecycle download`: a folder that cannot take the data is refused before anything is fetched.

mod common;
use common::{fails, onecycle, temp_dir};

#[test]
fn a_folder_holding_other_files_is_refused_before_the_download_starts() {
    let dir = temp_dir("download-not-empty");
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    // Port 1 refuses connections: a download attempt would fail differently.
    let err = fails(onecycle(&[
        "download",
        "cifar10",
        "--dir",
        dir.to_str().unwrap(),
        "--url",
        "http://127.0.0.1:1/cifar-10-binary.tar.gz",
    ]));
    assert!(
        err.contains("exists but is not a verified CIFAR-10 copy"),
        "{err}"
    );
    assert!(!err.contains("downloading http"), "{err}");
    assert_eq!(
        std::fs::read_to_string(dir.join("notes.txt")).unwrap(),
        "mine"
    );
}
