//! Checks of the machine before a scheduler is loaded.

use std::fs;
use std::path::Path;

use crate::BpfError;

/// Where the kernel publishes sched_ext's state.
pub(crate) const SCHED_EXT_DIR: &str = "/sys/kernel/sched_ext";

/// `CAP_SYS_ADMIN`'s bit in the capability sets.
const CAP_SYS_ADMIN: u32 = 21;

/// Checks that a scheduler can be attached here: enough privileges, a kernel with sched_ext and BTF, and no other
/// sched_ext scheduler enabled.
pub fn check_environment() -> Result<(), BpfError> {
    check_privileges(
        effective_uid(),
        fs::read_to_string("/proc/self/status").ok().as_deref(),
    )?;
    check_kernel(
        Path::new(SCHED_EXT_DIR),
        Path::new("/sys/kernel/btf/vmlinux"),
    )?;
    check_idle(Path::new(SCHED_EXT_DIR))
}

fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// Root, or `CAP_SYS_ADMIN` in the effective set (read from `/proc/self/status`).
pub(crate) fn check_privileges(euid: u32, proc_status: Option<&str>) -> Result<(), BpfError> {
    if euid == 0 {
        return Ok(());
    }
    let cap_eff = proc_status
        .and_then(|s| s.lines().find_map(|l| l.strip_prefix("CapEff:")))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(0);
    if cap_eff & (1 << CAP_SYS_ADMIN) != 0 {
        Ok(())
    } else {
        Err(BpfError::NotRoot)
    }
}

pub(crate) fn check_kernel(sched_ext_dir: &Path, btf: &Path) -> Result<(), BpfError> {
    if !sched_ext_dir.join("state").exists() {
        return Err(BpfError::NoSchedExt {
            detail: format!("{} not found", sched_ext_dir.display()),
        });
    }
    if !btf.exists() {
        return Err(BpfError::NoSchedExt {
            detail: format!("{} not found (kernel built without BTF)", btf.display()),
        });
    }
    Ok(())
}

/// `state` must read `disabled`; otherwise report the running scheduler's name.
pub(crate) fn check_idle(sched_ext_dir: &Path) -> Result<(), BpfError> {
    let state = fs::read_to_string(sched_ext_dir.join("state")).map_err(|source| BpfError::Os {
        op: "reading /sys/kernel/sched_ext/state",
        source,
    })?;
    if state.trim() == "disabled" {
        return Ok(());
    }
    let name = fs::read_to_string(sched_ext_dir.join("root/ops"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("unknown scheduler (state: {})", state.trim()));
    Err(BpfError::AlreadyRunning { name })
}

/// The ops name of the scheduler attached right now, if any.
pub fn running_scheduler() -> Option<String> {
    let state = fs::read_to_string(Path::new(SCHED_EXT_DIR).join("state")).ok()?;
    if state.trim() != "enabled" {
        return None;
    }
    fs::read_to_string(Path::new(SCHED_EXT_DIR).join("root/ops"))
        .ok()
        .map(|s| s.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_or_cap_sys_admin_is_enough() {
        assert!(check_privileges(0, None).is_ok());
        let with_cap = "Name:\tx\nCapEff:\t0000000000200000\n";
        assert!(check_privileges(1000, Some(with_cap)).is_ok());
        let without = "Name:\tx\nCapEff:\t0000000000000000\n";
        assert!(matches!(
            check_privileges(1000, Some(without)),
            Err(BpfError::NotRoot)
        ));
        assert!(matches!(
            check_privileges(1000, None),
            Err(BpfError::NotRoot)
        ));
    }

    fn fake_sysfs(state: &str, ops: Option<&str>) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rustland-bpf-env-{}-{state}-{}",
            std::process::id(),
            ops.is_some()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("root")).unwrap();
        fs::write(dir.join("state"), format!("{state}\n")).unwrap();
        if let Some(ops) = ops {
            fs::write(dir.join("root/ops"), format!("{ops}\n")).unwrap();
        }
        dir
    }

    #[test]
    fn missing_sched_ext_is_reported() {
        let err = check_kernel(
            Path::new("/nonexistent/sched_ext"),
            Path::new("/nonexistent/btf"),
        )
        .unwrap_err();
        assert!(matches!(err, BpfError::NoSchedExt { .. }));
        assert!(err.to_string().contains("CONFIG_SCHED_CLASS_EXT"));
    }

    #[test]
    fn a_running_scheduler_is_named() {
        let dir = fake_sysfs("enabled", Some("scx_bpfland_1.0.0"));
        match check_idle(&dir) {
            Err(BpfError::AlreadyRunning { name }) => assert_eq!(name, "scx_bpfland_1.0.0"),
            other => panic!("unexpected {other:?}"),
        }
        let idle = fake_sysfs("disabled", None);
        assert!(check_idle(&idle).is_ok());
        let _ = fs::remove_dir_all(dir);
        let _ = fs::remove_dir_all(idle);
    }
}
