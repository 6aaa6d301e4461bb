//! The guest's initramfs: static busybox, the schedulers, the guest tools with
//! every shared library they need, and the init scripts. The base image is
//! cached and rebuilt only when an input changed; each boot appends a small
//! archive holding that boot's job script.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::UNIX_EPOCH;

use anyhow::{bail, Context, Result};

use crate::cpio::CpioWriter;
use crate::util;

/// The guest's /init: mounts, then runs the job with the scenario library.
pub const INIT_SCRIPT: &str = include_str!("../guest/init.sh");
/// Shell library with the tagged-output helpers, the scenarios and the jobs: guest/lib.sh, scenarios.sh,
/// faults.sh, stall.sh and main.sh joined into one file, the guest's /rustland/lib.sh.
pub const LIB_SCRIPT: &str = concat!(
    include_str!("../guest/lib.sh"),
    include_str!("../guest/scenarios.sh"),
    include_str!("../guest/faults.sh"),
    include_str!("../guest/stall.sh"),
    include_str!("../guest/main.sh"),
);

/// Guest tools copied in from the host, with the package providing each.
const GUEST_TOOLS: &[(&str, &str)] = &[
    ("stress-ng", "stress-ng"),
    ("hackbench", "rt-tests"),
    ("cyclictest", "rt-tests"),
];

/// Inputs of the base image: what goes where.
struct Inputs {
    /// Guest path -> host file.
    files: BTreeMap<String, PathBuf>,
    /// Directories holding shared libraries (for LD_LIBRARY_PATH).
    lib_dirs: BTreeSet<String>,
}

/// Builds (or reuses) the base initramfs holding `schedulers`; returns its path.
pub fn base_image(cache_dir: &Path, schedulers: &[PathBuf]) -> Result<PathBuf> {
    let inputs = collect_inputs(schedulers)?;
    let manifest = manifest(&inputs)?;
    fs::create_dir_all(cache_dir)
        .with_context(|| format!("cannot create {}", cache_dir.display()))?;
    let image = cache_dir.join("base.cpio");
    let manifest_path = cache_dir.join("base.manifest");
    if image.is_file() && fs::read_to_string(&manifest_path).ok().as_deref() == Some(&manifest) {
        println!("initramfs: up to date ({})", image.display());
        return Ok(image);
    }
    println!("initramfs: building {}", image.display());
    let tmp = image.with_extension("cpio.tmp");
    write_base(&tmp, &inputs).with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, &image)?;
    fs::write(&manifest_path, manifest)?;
    Ok(image)
}

/// Writes `base` followed by an archive holding `/rustland/job.sh` to `out`.
pub fn with_job(base: &Path, job_script: &str, out: &Path) -> Result<()> {
    let mut file = BufWriter::new(
        fs::File::create(out).with_context(|| format!("cannot create {}", out.display()))?,
    );
    let mut base_file =
        fs::File::open(base).with_context(|| format!("cannot read {}", base.display()))?;
    std::io::copy(&mut base_file, &mut file)?;
    let mut job = CpioWriter::new(file);
    job.file("rustland/job.sh", 0o644, job_script.as_bytes())?;
    job.finish()?.flush()?;
    Ok(())
}

fn collect_inputs(schedulers: &[PathBuf]) -> Result<Inputs> {
    let mut files = BTreeMap::new();
    let busybox = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .context("busybox is not installed: install busybox-static (`cargo xtask deps`)")?;
    files.insert("bin/busybox".to_string(), busybox);

    let mut executables: Vec<PathBuf> = schedulers.to_vec();
    for (tool, package) in GUEST_TOOLS {
        let path = util::which(tool).with_context(|| {
            format!("{tool} is not installed: install {package} (`cargo xtask deps`)")
        })?;
        executables.push(path);
    }
    let mut lib_dirs = BTreeSet::new();
    for exe in &executables {
        let name = exe.file_name().context("executable without a name")?;
        files.insert(format!("usr/bin/{}", name.to_string_lossy()), exe.clone());
    }
    let busybox_path = files["bin/busybox"].clone();
    for exe in executables.iter().chain([&busybox_path]) {
        for lib in shared_libraries(exe)? {
            let guest = lib.to_string_lossy().trim_start_matches('/').to_string();
            if let Some(dir) = lib.parent() {
                lib_dirs.insert(dir.to_string_lossy().into_owned());
            }
            files.insert(guest, lib);
        }
    }
    Ok(Inputs { files, lib_dirs })
}

/// Shared libraries (and the dynamic loader) an executable needs, via ldd.
fn shared_libraries(exe: &Path) -> Result<Vec<PathBuf>> {
    let out = Command::new("ldd")
        .arg(exe)
        .output()
        .context("cannot run ldd (part of libc-bin)")?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        // Static executables: "not a dynamic executable".
        return Ok(Vec::new());
    }
    parse_ldd(&text).with_context(|| format!("resolving the libraries of {}", exe.display()))
}

fn parse_ldd(text: &str) -> Result<Vec<PathBuf>> {
    let mut libs = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.contains("statically linked") || line.is_empty() {
            continue;
        }
        if let Some((name, target)) = line.split_once("=>") {
            let target = target.trim();
            if target.starts_with("not found") {
                bail!("shared library {} not found", name.trim());
            }
            if let Some(path) = target
                .split_whitespace()
                .next()
                .filter(|p| p.starts_with('/'))
            {
                libs.push(PathBuf::from(path));
            }
        } else if let Some(path) = line
            .split_whitespace()
            .next()
            .filter(|p| p.starts_with('/'))
        {
            libs.push(PathBuf::from(path)); // the dynamic loader
        }
    }
    Ok(libs)
}

/// A text key covering every input: paths, sizes and modification times of
/// the files, and a hash of the embedded scripts.
fn manifest(inputs: &Inputs) -> Result<String> {
    let mut out = format!(
        "scripts {:016x}\n",
        fnv1a(format!("{INIT_SCRIPT}\0{LIB_SCRIPT}").as_bytes())
    );
    for (guest, host) in &inputs.files {
        let meta = fs::metadata(host).with_context(|| format!("cannot read {}", host.display()))?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        out.push_str(&format!(
            "{guest} {} {} {mtime}\n",
            host.display(),
            meta.len()
        ));
    }
    Ok(out)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

fn write_base(path: &Path, inputs: &Inputs) -> Result<()> {
    let mut w = CpioWriter::new(BufWriter::new(fs::File::create(path)?));
    let mut dirs = BTreeSet::new();
    let mut ensure_dirs = |w: &mut CpioWriter<_>, path: &str| -> Result<()> {
        let mut prefix = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in &parts[..parts.len() - 1] {
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
            if dirs.insert(prefix.clone()) {
                w.dir(&prefix)?;
            }
        }
        Ok(())
    };
    for dir in [
        "bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "root", "etc",
        "rustland", "var",
    ] {
        ensure_dirs(&mut w, &format!("{dir}/x"))?;
    }
    w.symlink("var/run", "../run")?;
    w.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/sh\n",
    )?;
    w.file("etc/group", 0o644, b"root:x:0:\nnogroup:x:65534:\n")?;
    w.file("init", 0o755, INIT_SCRIPT.as_bytes())?;
    w.file("rustland/lib.sh", 0o644, LIB_SCRIPT.as_bytes())?;
    let lib_path: Vec<&str> = inputs.lib_dirs.iter().map(String::as_str).collect();
    w.file(
        "rustland/env.sh",
        0o644,
        format!("export LD_LIBRARY_PATH={}\n", lib_path.join(":")).as_bytes(),
    )?;
    for (guest, host) in &inputs.files {
        ensure_dirs(&mut w, guest)?;
        let data = fs::read(host).with_context(|| format!("cannot read {}", host.display()))?;
        w.file(guest, 0o755, &data)?;
    }
    w.finish()?.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_is_parsed() {
        let text = "\tlinux-vdso.so.1 (0x00007ffd)\n\
                    \tlibelf.so.1 => /lib/x86_64-linux-gnu/libelf.so.1 (0x00007f)\n\
                    \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f)\n\
                    \t/lib64/ld-linux-x86-64.so.2 (0x00007f)\n";
        let libs = parse_ldd(text).unwrap();
        assert_eq!(
            libs,
            [
                PathBuf::from("/lib/x86_64-linux-gnu/libelf.so.1"),
                PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"),
                PathBuf::from("/lib64/ld-linux-x86-64.so.2"),
            ]
        );
        assert!(parse_ldd("\tstatically linked\n").unwrap().is_empty());
        let err = parse_ldd("\tlibmissing.so.3 => not found\n").unwrap_err();
        assert!(err.to_string().contains("libmissing.so.3"));
    }

    #[test]
    fn manifest_changes_with_inputs() {
        let dir = std::env::temp_dir().join(format!("xtask-manifest-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tool");
        fs::write(&file, "one").unwrap();
        let inputs = Inputs {
            files: BTreeMap::from([("usr/bin/tool".to_string(), file.clone())]),
            lib_dirs: BTreeSet::new(),
        };
        let first = manifest(&inputs).unwrap();
        assert_eq!(first, manifest(&inputs).unwrap());
        fs::write(&file, "longer").unwrap();
        assert_ne!(first, manifest(&inputs).unwrap());
        fs::remove_dir_all(&dir).unwrap();
    }
}
