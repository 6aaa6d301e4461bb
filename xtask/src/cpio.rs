//! The initramfs archive: directories, files and symbolic links in the "newc" cpio format the kernel unpacks,
//! written through the `cpio` crate. Entries get inode numbers in order, owner root and mtime 0, so the same
//! inputs always give the same bytes.

use std::io::{self, Write};

use cpio::newc::{self, Builder};

/// Writes a newc cpio archive entry by entry; [`CpioWriter::finish`] adds the trailer.
pub struct CpioWriter<W: Write> {
    out: W,
    next_ino: u32,
}

impl<W: Write> CpioWriter<W> {
    /// Starts an archive on `out`.
    pub fn new(out: W) -> Self {
        Self { out, next_ino: 1 }
    }

    /// Adds a directory (parents must be added first).
    pub fn dir(&mut self, path: &str) -> io::Result<()> {
        self.entry(path, 0o040_755, 2, &[])
    }

    /// Adds a regular file with the given permission bits.
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.entry(path, 0o100_000 | (perm & 0o7777), 1, data)
    }

    /// Adds a symbolic link `path` -> `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.entry(path, 0o120_777, 1, target.as_bytes())
    }

    /// Writes the trailer and returns the underlying writer.
    pub fn finish(mut self) -> io::Result<W> {
        newc::trailer(&mut self.out)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, data: &[u8]) -> io::Result<()> {
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large for cpio"))?;
        let mut entry = Builder::new(path.trim_start_matches('/'))
            .ino(self.next_ino)
            .mode(mode)
            .nlink(nlink)
            .write(&mut self.out, size);
        self.next_ino += 1;
        entry.write_all(data)?;
        entry.finish().map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn entries_are_aligned_and_named() {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/bin").unwrap();
        w.file("/bin/x", 0o755, b"abcde").unwrap();
        w.symlink("/sh", "bin/x").unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes.len() % 4, 0);
        assert!(bytes.starts_with(b"070701"));
        let text = String::from_utf8_lossy(&bytes);
        assert!(text.contains("bin/x\0"));
        assert!(text.contains("abcde"));
        assert!(text.contains("TRAILER!!!"));
        // The first header in full: ino 1, mode 040755, uid/gid 0, nlink 2, mtime 0, size 0, devices 0, name
        // "bin" (4 bytes with its NUL), check 0; then the name padded to 4 bytes.
        let first = format!(
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}bin\0\0\0",
            1, 0o040_755, 0, 0, 2, 0, 0, 0, 0, 0, 0, 4, 0
        );
        assert!(text.starts_with(&first), "{text:?}");
        // File header: mode 0100755 at offset 14..22 of the second header.
        let second = text.match_indices("070701").nth(1).unwrap().0;
        assert_eq!(&text[second + 14..second + 22], "000081ed");
    }

    #[test]
    fn system_cpio_reads_our_archive() {
        if crate::util::which("cpio").is_none() {
            return; // cpio comes with `cargo xtask deps`; nothing to compare against.
        }
        let mut w = CpioWriter::new(Vec::new());
        w.dir("etc").unwrap();
        w.file("etc/hello", 0o644, b"hi\n").unwrap();
        w.symlink("link", "etc/hello").unwrap();
        let bytes = w.finish().unwrap();
        let mut child = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&bytes).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(listing.contains("etc/hello"), "{listing}");
        assert!(listing.contains("link -> etc/hello"), "{listing}");
        assert!(listing
            .lines()
            .any(|l| l.starts_with("drwxr-xr-x") && l.ends_with("etc")));
    }
}
