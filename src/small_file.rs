//! Reading the small files of procfs, cgroupfs and the state directory.
//!
//! std's `fs::read_to_string` asks for the size first (statx), and as procfs and
//! kernfs report 0 it then reads in steps of 32, 32, 64, 128, ... bytes: eight reads
//! for /proc/self/mountinfo here, each of which has the kernel render the file again.
//! A 4 KiB buffer takes one read and the one that sees the end.
//!
//! Files that come from a user or an image (config.json, CDI specs, the container's
//! /etc/passwd) are read with `read_regular`: a FIFO planted where a file is
//! expected would otherwise block the runtime forever in open or read.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

const CHUNK: usize = 4096;

pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_all(File::open(path)?)
}

/// The whole of a regular file; anything else (a FIFO, a device, a directory) is
/// refused without blocking.
pub fn read_regular(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, "not a regular file"));
    }
    read_all(file)
}

fn read_all(mut file: File) -> io::Result<Vec<u8>> {
    let mut data = Vec::new();
    let mut chunk = [0u8; CHUNK];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(data),
            Ok(n) => data.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_file_longer_than_one_chunk_is_read_whole() {
        let path = std::env::temp_dir().join(format!("anchor-small-file-{}", std::process::id()));
        let text: String = (0..3 * super::CHUNK).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
        std::fs::write(&path, &text).unwrap();
        let read = super::read_to_string(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap(), text);
    }

    #[test]
    fn a_fifo_is_refused_not_waited_on() {
        let path = std::env::temp_dir().join(format!("anchor-small-file-fifo-{}", std::process::id()));
        nix::unistd::mkfifo(&path, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let read = super::read_regular(&path);
        std::fs::remove_file(&path).unwrap();
        assert_eq!(read.unwrap_err().kind(), std::io::ErrorKind::InvalidInput);
    }

    #[test]
    fn procfs_files_are_read_whole() {
        let ours = super::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(ours.lines().any(|l| l.contains(" / / ")), "{ours}");
        assert!(ours.ends_with('\n'));
    }
}
