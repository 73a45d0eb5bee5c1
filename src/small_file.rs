//! Reading the small files of procfs, cgroupfs and the state directory.
//!
//! std's `fs::read_to_string` asks for the size first (statx), and as procfs and
//! kernfs report 0 it then reads in steps of 32, 32, 64, 128, ... bytes: eight reads
//! for /proc/self/mountinfo here, each of which has the kernel render the file again.
//! A 4 KiB buffer takes one read and the one that sees the end.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

const CHUNK: usize = 4096;

pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut file = File::open(path)?;
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
    fn procfs_files_are_read_whole() {
        let ours = super::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(ours.lines().any(|l| l.contains(" / / ")), "{ours}");
        assert!(ours.ends_with('\n'));
    }
}
