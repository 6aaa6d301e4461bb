//! `cargo xtask deps`: install the Debian packages the build and the VM need.

use std::process::Command;

use anyhow::{bail, Result};
use clap::Args;

use crate::util;

/// Options of `cargo xtask deps`.
#[derive(Args, Debug, Default)]
pub struct DepsArgs {
    /// Only report what is missing; install nothing.
    #[arg(long)]
    pub check: bool,
}

/// Packages needed whatever clang is used: qemu and the initramfs tools, the
/// libraries the BPF crate links, and the tools run inside the guest.
const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "busybox-static",
    "cpio",
    "zstd",
    "libelf-dev",
    "zlib1g-dev",
    "pkg-config",
    "rt-tests",
    "stress-ng",
];

/// The BPF toolchain (clang >= 16 is needed; 19 is what upstream CI uses).
const CLANG_PACKAGES: &[&str] = &["clang-19", "llvm-19"];

/// Entry point of `cargo xtask deps`.
pub fn run(args: &DepsArgs) -> Result<()> {
    if args.check {
        let missing = missing_packages()?;
        if !missing.is_empty() {
            bail!("missing Debian packages: {}", missing.join(" "));
        }
    } else {
        ensure()?;
    }
    println!("deps: all required packages are installed");
    Ok(())
}

/// The preflight of every command that builds or boots: installs the required packages that are missing, saying
/// which, and does nothing when all are there. Without root, anything missing is one error naming the packages.
pub fn ensure() -> Result<()> {
    let missing = missing_packages()?;
    if missing.is_empty() {
        return Ok(());
    }
    let list = missing.join(" ");
    if !util::is_root() {
        bail!(
            "missing Debian packages: {list}\n\
             installing them needs root: run `sudo apt-get install {list}` \
             (or `sudo cargo xtask deps`)"
        );
    }
    if util::which("apt-get").is_none() {
        bail!("missing Debian packages: {list}, and apt-get is not on PATH to install them");
    }
    println!("deps: installing the missing packages: {list}");
    if install(&missing).is_err() {
        println!("deps: first attempt failed; refreshing the package lists and retrying");
        util::run(Command::new("apt-get").arg("update"))?;
        install(&missing)?;
    }
    let still = missing_packages()?;
    if !still.is_empty() {
        bail!("still missing after apt-get install: {}", still.join(" "));
    }
    println!("deps: installed {list}");
    Ok(())
}

fn install(packages: &[String]) -> Result<()> {
    util::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(packages)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Required packages that are not installed, in install order.
fn missing_packages() -> Result<Vec<String>> {
    if util::which("dpkg-query").is_none() {
        bail!(
            "`cargo xtask deps` supports Debian-based systems only; install these by hand: {} \
             {}",
            PACKAGES.join(" "),
            CLANG_PACKAGES.join(" ")
        );
    }
    let mut missing: Vec<String> = PACKAGES
        .iter()
        .filter(|p| !is_installed(p))
        .map(|p| p.to_string())
        .collect();
    if !has_usable_clang() {
        missing.extend(
            CLANG_PACKAGES
                .iter()
                .filter(|p| !is_installed(p))
                .map(|p| p.to_string()),
        );
    }
    Ok(missing)
}

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${db:Status-Abbrev}", package])
        .output()
        .map(|out| out.status.success() && out.stdout.starts_with(b"ii"))
        .unwrap_or(false)
}

/// Whether the BPF toolchain is there: clang-19 with llvm-19 (what
/// `.cargo/config.toml` names), or another compiler the user chose with
/// `BPF_CLANG` that exists.
fn has_usable_clang() -> bool {
    if let Ok(chosen) = std::env::var("BPF_CLANG") {
        let exists = util::which(&chosen).is_some() || std::path::Path::new(&chosen).is_file();
        if chosen != CLANG_PACKAGES[0] && exists {
            return true;
        }
    }
    CLANG_PACKAGES.iter().all(|p| is_installed(p))
}
