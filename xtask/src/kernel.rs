//! Finding a kernel with sched_ext: an explicit path, the host's own kernel,
//! or a Debian trixie-backports package downloaded into the user's cache
//! (through the private apt client of [`crate::apt`]), choosing the version
//! and unpacking the image and its config.

use std::cmp::Ordering;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::apt::{self, PrivateApt};
use crate::util;
use crate::KernelArgs;

/// Environment variable naming a kernel image to boot.
pub const KERNEL_ENV: &str = "RUSTLAND_KERNEL";
/// The Debian suite carrying kernels with sched_ext.
const SUITE: &str = "trixie-backports";
/// Config option that must be `y` for sched_ext.
const SCHED_EXT_OPTION: &str = "CONFIG_SCHED_CLASS_EXT";

/// A kernel image ready to boot.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// Short label: the kernel release when known, else the file name.
    pub label: String,
    /// The bzImage.
    pub vmlinuz: PathBuf,
    /// Its build config, when found (used to check for sched_ext).
    pub config: Option<PathBuf>,
}

/// `cargo xtask kernel`: resolve the kernels and print them.
pub fn print_kernels(args: &KernelArgs) -> Result<()> {
    for kernel in resolve(args)? {
        let config = kernel
            .config
            .as_ref()
            .map(|c| c.display().to_string())
            .unwrap_or_else(|| "(no config)".into());
        println!("{}\t{}\t{config}", kernel.label, kernel.vmlinuz.display());
    }
    Ok(())
}

/// Resolves the kernels to boot, in order: `--kernel` paths, `--kernel-version`
/// downloads; when neither is given `$RUSTLAND_KERNEL`, the host kernel if it
/// has sched_ext, else the newest Debian kernel.
pub fn resolve(args: &KernelArgs) -> Result<Vec<Kernel>> {
    let mut kernels = Vec::new();
    for path in &args.kernels {
        kernels.push(from_path(path)?);
    }
    for prefix in &args.kernel_versions {
        kernels.push(download(prefix)?);
    }
    if !kernels.is_empty() {
        return Ok(kernels);
    }
    if let Some(path) = std::env::var_os(KERNEL_ENV).filter(|p| !p.is_empty()) {
        let path = PathBuf::from(path);
        return Ok(vec![from_path(&path).with_context(|| {
            format!("${KERNEL_ENV} names {}", path.display())
        })?]);
    }
    if let Some(kernel) = host_kernel() {
        println!(
            "kernel: using the host's own kernel {} (it has sched_ext)",
            kernel.label
        );
        return Ok(vec![kernel]);
    }
    Ok(vec![download("latest")?])
}

/// A kernel given by path: a bzImage, or a directory with `vmlinuz` and
/// `config` (the layout of the download cache).
pub fn from_path(path: &Path) -> Result<Kernel> {
    if !path.exists() {
        bail!("kernel {} does not exist", path.display());
    }
    let (vmlinuz, config) = if path.is_dir() {
        let vmlinuz = path.join("vmlinuz");
        if !vmlinuz.is_file() {
            bail!("kernel directory {} has no `vmlinuz` file", path.display());
        }
        let config = Some(path.join("config")).filter(|c| c.is_file());
        (vmlinuz, config)
    } else {
        (path.to_path_buf(), find_config_beside(path))
    };
    check_bzimage(&vmlinuz)?;
    let label = kernel_label(&vmlinuz);
    match &config {
        Some(config) => check_sched_ext(config)
            .with_context(|| format!("kernel {} cannot run sched_ext", vmlinuz.display()))?,
        None => println!(
            "kernel: no config found beside {}; sched_ext support will be checked in the guest",
            vmlinuz.display()
        ),
    }
    Ok(Kernel {
        label,
        vmlinuz,
        config,
    })
}

/// Label for a kernel image: the version of `vmlinuz-<version>`, the name of
/// the directory holding a plain `vmlinuz`, or the file name.
fn kernel_label(vmlinuz: &Path) -> String {
    let name = vmlinuz
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(version) = name.strip_prefix("vmlinuz-") {
        return version.to_string();
    }
    if name == "vmlinuz" {
        if let Some(dir) = vmlinuz.parent().and_then(|d| d.file_name()) {
            return dir.to_string_lossy().into_owned();
        }
    }
    name
}

/// `config-<version>` beside `vmlinuz-<version>`, or `config` in the same directory.
fn find_config_beside(vmlinuz: &Path) -> Option<PathBuf> {
    let dir = vmlinuz.parent()?;
    let name = vmlinuz.file_name()?.to_string_lossy().into_owned();
    let mut candidates = Vec::new();
    if let Some(version) = name.strip_prefix("vmlinuz-") {
        candidates.push(dir.join(format!("config-{version}")));
    }
    candidates.push(dir.join("config"));
    candidates.into_iter().find(|c| c.is_file())
}

/// Fails unless the file carries the x86 boot protocol signature ("HdrS").
fn check_bzimage(path: &Path) -> Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file =
        fs::File::open(path).with_context(|| format!("cannot open kernel {}", path.display()))?;
    let mut magic = [0u8; 4];
    let ok = file.seek(SeekFrom::Start(0x202)).is_ok() && file.read_exact(&mut magic).is_ok();
    if !ok || &magic != b"HdrS" {
        bail!(
            "{} is not an x86 kernel image (bzImage / vmlinuz)",
            path.display()
        );
    }
    Ok(())
}

/// Fails unless the kernel config has `CONFIG_SCHED_CLASS_EXT=y`.
pub fn check_sched_ext(config: &Path) -> Result<()> {
    let text = fs::read_to_string(config)
        .with_context(|| format!("cannot read kernel config {}", config.display()))?;
    if !config_has_sched_ext(&text) {
        bail!(
            "the kernel lacks sched_ext: {SCHED_EXT_OPTION} is not `y` in {}",
            config.display()
        );
    }
    Ok(())
}

fn config_has_sched_ext(config: &str) -> bool {
    config
        .lines()
        .any(|l| l.trim() == format!("{SCHED_EXT_OPTION}=y"))
}

/// The running kernel, when its image and config are in /boot and it has sched_ext.
fn host_kernel() -> Option<Kernel> {
    let release = fs::read_to_string("/proc/sys/kernel/osrelease").ok()?;
    let release = release.trim();
    let vmlinuz = PathBuf::from(format!("/boot/vmlinuz-{release}"));
    let config = PathBuf::from(format!("/boot/config-{release}"));
    let has_it = fs::read_to_string(&config)
        .map(|c| config_has_sched_ext(&c))
        .unwrap_or(false);
    (has_it && vmlinuz.is_file() && check_bzimage(&vmlinuz).is_ok()).then(|| Kernel {
        label: release.to_string(),
        vmlinuz,
        config: Some(config),
    })
}

// ---------------------------------------------------------------------------
// Debian download
// ---------------------------------------------------------------------------

/// Downloads (or finds in the cache) the newest Debian trixie-backports
/// kernel whose version starts with `prefix` (`latest`: any version).
pub fn download(prefix: &str) -> Result<Kernel> {
    let cache = util::cache_dir()?;
    let kernels_dir = cache.join("kernels");
    let apt = PrivateApt::new(&cache.join("apt"), SUITE).with_context(|| {
        format!("cannot set up apt to download a kernel; pass --kernel PATH or set ${KERNEL_ENV} instead")
    })?;

    println!("kernel: refreshing the Debian {SUITE} package index");
    let versions = match apt.update().and_then(|()| kernel_versions(&apt)) {
        Ok(versions) => versions,
        Err(err) => {
            // Offline: fall back to what the cache already holds.
            let cached = cached_versions(&kernels_dir);
            if let Some(version) = pick_version(&cached, prefix) {
                println!(
                    "kernel: cannot reach the Debian archive ({err:#}); using cached {version}"
                );
                return from_path(&kernels_dir.join(version));
            }
            return Err(err.context(format!(
                "cannot list Debian {SUITE} kernels and none matching `{prefix}` is cached"
            )));
        }
    };
    let Some(version) = pick_version(&versions, prefix) else {
        bail!(
            "no Debian {SUITE} amd64 kernel matches version `{prefix}`; available: {}",
            versions.join(", ")
        );
    };
    let dir = kernels_dir.join(version);
    if dir.join("vmlinuz").is_file() && dir.join("config").is_file() {
        println!("kernel: {version} (cached in {})", dir.display());
        return from_path(&dir);
    }
    fetch_into(&apt, version, &dir)?;
    from_path(&dir)
}

/// Downloads the packages of one kernel version and keeps `vmlinuz` and `config`.
fn fetch_into(apt: &PrivateApt, version: &str, dir: &Path) -> Result<()> {
    let image = format!("linux-image-{version}-amd64");
    let mut packages = vec![image.clone()];
    // From 6.19 on the image package is a stub: the files live in its
    // linux-binary-* (vmlinuz) and linux-base-* (config) dependencies.
    // Older images may name such packages that the suite does not carry:
    // keep only those with an index record.
    let depends = apt.field(&image, "Depends")?;
    let mut size: u64 = apt.field(&image, "Size")?.trim().parse().unwrap_or(0);
    for dependency in layout_dependencies(&depends) {
        if let Ok(dep_size) = apt.field(&dependency, "Size") {
            size += dep_size.trim().parse::<u64>().unwrap_or(0);
            packages.push(dependency);
        }
    }
    println!(
        "kernel: downloading {} ({:.0} MB) from Debian {SUITE}",
        packages.join(" "),
        size as f64 / 1e6
    );

    let work = dir.with_extension("partial");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("cannot clean {}", work.display()))?;
    }
    let root = work.join("root");
    fs::create_dir_all(&root).with_context(|| format!("cannot create {}", root.display()))?;
    apt.download(&packages, &work)?;
    apt::unpack_debs(&work, &root)?;
    let (vmlinuz, config) = find_kernel_files(&root)
        .with_context(|| format!("the packages of kernel {version} hold no vmlinuz and config"))?;
    check_sched_ext(&config)?;
    fs::create_dir_all(dir)?;
    fs::copy(&config, dir.join("config"))?;
    // Copy vmlinuz last: its presence marks a complete cache entry.
    fs::copy(&vmlinuz, dir.join("vmlinuz.tmp"))?;
    fs::rename(dir.join("vmlinuz.tmp"), dir.join("vmlinuz"))?;
    fs::remove_dir_all(&work).ok();
    println!("kernel: {version} cached in {}", dir.display());
    Ok(())
}

/// Package names among a Depends field that carry the kernel files in the
/// newer layout (`linux-binary-*`, `linux-base-*`).
fn layout_dependencies(depends: &str) -> Vec<String> {
    depends
        .split(',')
        .filter_map(|alt| {
            let name = alt.split('|').next()?.split_whitespace().next()?;
            (name.starts_with("linux-binary-") || name.starts_with("linux-base-"))
                .then(|| name.to_string())
        })
        .collect()
}

/// Finds vmlinuz and config in an extracted package tree: `boot/vmlinuz-*`
/// and `boot/config-*` (older layout) or `usr/lib/modules/<ver>/{vmlinuz,config}`.
fn find_kernel_files(root: &Path) -> Option<(PathBuf, PathBuf)> {
    let mut vmlinuz = None;
    let mut config = None;
    if let Ok(entries) = fs::read_dir(root.join("boot")) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("vmlinuz-") {
                vmlinuz = Some(entry.path());
            } else if name.starts_with("config-") {
                config = Some(entry.path());
            }
        }
    }
    if let Ok(entries) = fs::read_dir(root.join("usr/lib/modules")) {
        for entry in entries.flatten() {
            let dir = entry.path();
            if vmlinuz.is_none() && dir.join("vmlinuz").is_file() {
                vmlinuz = Some(dir.join("vmlinuz"));
            }
            if config.is_none() && dir.join("config").is_file() {
                config = Some(dir.join("config"));
            }
        }
    }
    Some((vmlinuz?, config?))
}

/// Versions of the generic amd64 kernel images in the index.
fn kernel_versions(apt: &PrivateApt) -> Result<Vec<String>> {
    Ok(apt
        .package_names("linux-image-")?
        .iter()
        .filter_map(|name| image_version(name))
        .map(str::to_string)
        .collect())
}

/// Versions of kernels already complete in the cache.
fn cached_versions(kernels_dir: &Path) -> Vec<String> {
    fs::read_dir(kernels_dir)
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().join("vmlinuz").is_file() && e.path().join("config").is_file())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The kernel version of a `linux-image-<version>-amd64` package name, for
/// the generic flavour only (not cloud, rt, dbg, unsigned or meta packages).
fn image_version(package: &str) -> Option<&str> {
    let version = package
        .strip_prefix("linux-image-")?
        .strip_suffix("-amd64")?;
    let generic = version.starts_with(|c: char| c.is_ascii_digit())
        && !version.ends_with("-cloud")
        && !version.ends_with("-rt")
        && !version.contains("dbg")
        && !version.contains("unsigned");
    generic.then_some(version)
}

/// Whether `version` is selected by `prefix`: `latest`, or a prefix ending at
/// a version component boundary (`6.1` selects `6.1.5` but not `6.18.2`).
fn matches_prefix(version: &str, prefix: &str) -> bool {
    if prefix == "latest" || prefix.is_empty() {
        return true;
    }
    match version.strip_prefix(prefix) {
        Some(rest) => !rest.starts_with(|c: char| c.is_ascii_digit()),
        None => false,
    }
}

/// Newest version matching `prefix`.
fn pick_version<'a>(versions: &'a [String], prefix: &str) -> Option<&'a str> {
    versions
        .iter()
        .filter(|v| matches_prefix(v, prefix))
        .max_by(|a, b| compare_versions(a, b))
        .map(String::as_str)
}

/// Compares versions chunk by chunk, digits numerically (`6.18.15` > `6.18.9`).
fn compare_versions(a: &str, b: &str) -> Ordering {
    fn chunks(s: &str) -> Vec<(bool, &str)> {
        let mut out = Vec::new();
        let mut start = 0;
        let bytes = s.as_bytes();
        for i in 1..=bytes.len() {
            if i == bytes.len() || bytes[i].is_ascii_digit() != bytes[start].is_ascii_digit() {
                out.push((bytes[start].is_ascii_digit(), &s[start..i]));
                start = i;
            }
        }
        out
    }
    let (ca, cb) = (chunks(a), chunks(b));
    for (x, y) in ca.iter().zip(cb.iter()) {
        let ord = match (x, y) {
            ((true, x), (true, y)) => x
                .parse::<u64>()
                .unwrap_or(0)
                .cmp(&y.parse::<u64>().unwrap_or(0)),
            ((_, x), (_, y)) => x.cmp(y),
        };
        if ord != Ordering::Equal {
            return ord;
        }
    }
    ca.len().cmp(&cb.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_names_select_the_generic_flavour() {
        assert_eq!(
            image_version("linux-image-7.3.4+deb13-amd64"),
            Some("7.3.4+deb13")
        );
        assert_eq!(image_version("linux-image-7.3.4+deb13-cloud-amd64"), None);
        assert_eq!(image_version("linux-image-7.3.4+deb13-rt-amd64"), None);
        assert_eq!(image_version("linux-image-amd64"), None);
        assert_eq!(image_version("linux-image-7.3.4+deb13-amd64-dbg"), None);
        assert_eq!(
            image_version("linux-image-7.3.4+deb13-amd64-unsigned"),
            None
        );
    }

    #[test]
    fn newest_version_is_numeric_not_lexical() {
        let versions: Vec<String> = [
            "6.18.9+deb13",
            "6.18.15+deb13",
            "6.1.2+deb13",
            "7.3.4+deb13",
            "7.10.1+deb13",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(pick_version(&versions, "latest"), Some("7.10.1+deb13"));
        assert_eq!(pick_version(&versions, "6.18"), Some("6.18.15+deb13"));
        assert_eq!(pick_version(&versions, "6.1"), Some("6.1.2+deb13"));
        assert_eq!(pick_version(&versions, "6.18.9"), Some("6.18.9+deb13"));
        assert_eq!(pick_version(&versions, "5"), None);
    }

    #[test]
    fn both_package_layouts_are_found() {
        let tmp = std::env::temp_dir().join(format!("xtask-layout-{}", std::process::id()));
        let old = tmp.join("old");
        fs::create_dir_all(old.join("boot")).unwrap();
        fs::write(old.join("boot/vmlinuz-6.18.15+deb13-amd64"), "k").unwrap();
        fs::write(old.join("boot/config-6.18.15+deb13-amd64"), "c").unwrap();
        fs::write(old.join("boot/System.map-6.18.15+deb13-amd64"), "m").unwrap();
        let (v, c) = find_kernel_files(&old).unwrap();
        assert!(v.ends_with("boot/vmlinuz-6.18.15+deb13-amd64"));
        assert!(c.ends_with("boot/config-6.18.15+deb13-amd64"));

        let new = tmp.join("new");
        let modules = new.join("usr/lib/modules/7.3.4+deb13-amd64");
        fs::create_dir_all(&modules).unwrap();
        fs::write(modules.join("vmlinuz"), "k").unwrap();
        fs::write(modules.join("config"), "c").unwrap();
        let (v, c) = find_kernel_files(&new).unwrap();
        assert_eq!(v, modules.join("vmlinuz"));
        assert_eq!(c, modules.join("config"));

        fs::remove_file(modules.join("config")).unwrap();
        assert!(find_kernel_files(&new).is_none());
        fs::remove_dir_all(&tmp).unwrap();
    }

    #[test]
    fn layout_dependencies_from_depends() {
        let depends = "dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, \
                       linux-base-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), \
                       linux-binary-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1), \
                       linux-modules-7.3.4+deb13-amd64 (= 7.3.4-1~bpo13+1)";
        assert_eq!(
            layout_dependencies(depends),
            [
                "linux-base-7.3.4+deb13-amd64",
                "linux-binary-7.3.4+deb13-amd64"
            ]
        );
        assert!(layout_dependencies("kmod, linux-base-6.18 (= 1)")
            .contains(&"linux-base-6.18".to_string()));
    }

    #[test]
    fn sched_ext_config_detection() {
        assert!(config_has_sched_ext(
            "CONFIG_BPF=y\nCONFIG_SCHED_CLASS_EXT=y\n"
        ));
        assert!(!config_has_sched_ext(
            "# CONFIG_SCHED_CLASS_EXT is not set\n"
        ));
        assert!(!config_has_sched_ext("CONFIG_SCHED_CLASS_EXT=m\n"));
    }

    #[test]
    fn kernel_paths_are_checked() {
        let missing = from_path(Path::new("/nonexistent/vmlinuz")).unwrap_err();
        assert!(missing.to_string().contains("does not exist"));

        let tmp = std::env::temp_dir().join(format!("xtask-kpath-{}", std::process::id()));
        fs::create_dir_all(&tmp).unwrap();
        let not_a_kernel = tmp.join("vmlinuz-1.0");
        fs::write(&not_a_kernel, "hello").unwrap();
        let err = from_path(&not_a_kernel).unwrap_err();
        assert!(err.to_string().contains("not an x86 kernel image"), "{err}");

        let mut image = vec![0u8; 0x300];
        image[0x202..0x206].copy_from_slice(b"HdrS");
        fs::write(&not_a_kernel, &image).unwrap();
        fs::write(
            tmp.join("config-1.0"),
            "# CONFIG_SCHED_CLASS_EXT is not set\n",
        )
        .unwrap();
        let err = format!("{:#}", from_path(&not_a_kernel).unwrap_err());
        assert!(err.contains("lacks sched_ext"), "{err}");

        fs::write(tmp.join("config-1.0"), "CONFIG_SCHED_CLASS_EXT=y\n").unwrap();
        let kernel = from_path(&not_a_kernel).unwrap();
        assert_eq!(kernel.label, "1.0");
        fs::remove_dir_all(&tmp).unwrap();
    }
}
