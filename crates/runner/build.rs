//! Records the git commit the scheduler binaries are built from, for `--version`.

use std::process::Command;

fn main() {
    let hash = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|out| out.status.success())
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_string());
    println!("cargo:rustc-env=RUSTLAND_GIT_HASH={hash}");

    // Rebuild when HEAD moves (a new commit or a branch switch), when we are in a git checkout at all.
    if let Ok(out) = Command::new("git")
        .args(["rev-parse", "--git-dir"])
        .output()
    {
        if out.status.success() {
            let git_dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
            println!("cargo:rerun-if-changed={git_dir}/HEAD");
            if let Ok(out) = Command::new("git")
                .args(["symbolic-ref", "-q", "HEAD"])
                .output()
            {
                let head_ref = String::from_utf8_lossy(&out.stdout).trim().to_string();
                let loose = format!("{git_dir}/{head_ref}");
                if !head_ref.is_empty() && std::path::Path::new(&loose).exists() {
                    println!("cargo:rerun-if-changed={loose}");
                } else if std::path::Path::new(&format!("{git_dir}/packed-refs")).exists() {
                    println!("cargo:rerun-if-changed={git_dir}/packed-refs");
                }
            }
        }
    }
    println!("cargo:rerun-if-changed=build.rs");
}
