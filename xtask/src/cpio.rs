//! A writer for the "newc" cpio format the kernel unpacks as initramfs.

use std::io::{self, Write};

/// Writes a newc cpio archive entry by entry; [`CpioWriter::finish`] adds the trailer.
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

impl<W: Write> CpioWriter<W> {
    /// Starts an archive on `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            written: 0,
            next_ino: 1,
        }
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
        self.header("TRAILER!!!", 0, 0, 1, 0)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, data: &[u8]) -> io::Result<()> {
        let ino = self.next_ino;
        self.next_ino += 1;
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file too large for cpio"))?;
        self.header(path.trim_start_matches('/'), ino, mode, nlink, size)?;
        self.write(data)?;
        self.pad()
    }

    fn header(&mut self, name: &str, ino: u32, mode: u32, nlink: u32, size: u32) -> io::Result<()> {
        let name_len = u32::try_from(name.len() + 1).expect("short path");
        // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
        // devminor, rdevmajor, rdevminor, namesize, check
        let header = format!(
            "070701{ino:08x}{mode:08x}{:08x}{:08x}{nlink:08x}{:08x}{size:08x}{:08x}{:08x}{:08x}{:08x}{name_len:08x}{:08x}",
            0, 0, 0, 0, 0, 0, 0, 0
        );
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad()
    }

    fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let pad = (4 - self.written % 4) % 4;
        self.write(&[0u8; 3][..pad as usize])
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
