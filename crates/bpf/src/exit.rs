//! Translation of the kernel's exit record (`struct scx_exit_info`, copied by the BPF side) to the core's
//! [`ExitInfo`].

use rustland_core::{ExitInfo, ExitKind};

/// `SCX_EXIT_DONE`.
const EXIT_DONE: i32 = 1;
/// First error kind (`SCX_EXIT_ERROR`); kinds from here on are errors.
const EXIT_ERROR: i32 = 1024;
/// `SCX_EXIT_ERROR_STALL`.
const EXIT_ERROR_STALL: i32 = 1026;
/// `SCX_EXIT_UNREG_BPF` and `SCX_EXIT_UNREG_KERN`: the only kinds whose exit code is meaningful.
const EXIT_UNREG_BPF: i32 = 65;
const EXIT_UNREG_KERN: i32 = 66;

/// Classifies an exit. `restart_bit` is `SCX_ECODE_ACT_RESTART` as read from the running kernel's BTF.
pub(crate) fn exit_kind(kind: i32, exit_code: i64, restart_bit: u64) -> ExitKind {
    match kind {
        EXIT_UNREG_BPF | EXIT_UNREG_KERN
            if restart_bit != 0 && (exit_code as u64) & restart_bit != 0 =>
        {
            ExitKind::Restart
        }
        EXIT_DONE => ExitKind::Done,
        EXIT_ERROR_STALL => ExitKind::Stall,
        k if k >= EXIT_ERROR => ExitKind::Error,
        _ => ExitKind::Unregistered,
    }
}

/// Builds the core's exit record. `kind == 0` means "still running".
pub(crate) fn exit_info(
    kind: i32,
    exit_code: i64,
    reason: &str,
    message: &str,
    restart_bit: u64,
) -> Option<ExitInfo> {
    if kind == 0 {
        return None;
    }
    Some(ExitInfo {
        kind: exit_kind(kind, exit_code, restart_bit),
        code: exit_code,
        reason: if reason.is_empty() {
            format!("exit kind {kind}")
        } else {
            reason.to_string()
        },
        message: message.to_string(),
    })
}

/// A NUL-terminated C string in a fixed buffer, lossily decoded.
pub(crate) fn c_str(buf: &[i8]) -> String {
    let bytes: Vec<u8> = buf
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESTART: u64 = 1 << 0;
    const RSN_HOTPLUG: u64 = 1 << 32;

    #[test]
    fn kinds_are_classified() {
        assert_eq!(exit_kind(1, 0, RESTART), ExitKind::Done);
        assert_eq!(exit_kind(64, 0, RESTART), ExitKind::Unregistered);
        assert_eq!(exit_kind(67, 0, RESTART), ExitKind::Unregistered);
        assert_eq!(exit_kind(1024, 0, RESTART), ExitKind::Error);
        assert_eq!(exit_kind(1025, 0, RESTART), ExitKind::Error);
        assert_eq!(exit_kind(1026, 0, RESTART), ExitKind::Stall);
    }

    #[test]
    fn hotplug_exit_asks_for_a_restart() {
        let code = (RESTART | RSN_HOTPLUG) as i64;
        assert_eq!(exit_kind(EXIT_UNREG_KERN, code, RESTART), ExitKind::Restart);
        assert_eq!(exit_kind(EXIT_UNREG_BPF, code, RESTART), ExitKind::Restart);
        // The code only counts for the UNREG_BPF/UNREG_KERN kinds, and only if the kernel knows the bit.
        assert_eq!(exit_kind(1024, code, RESTART), ExitKind::Error);
        assert_eq!(exit_kind(EXIT_UNREG_KERN, code, 0), ExitKind::Unregistered);
        assert_eq!(
            exit_kind(EXIT_UNREG_KERN, RSN_HOTPLUG as i64, RESTART),
            ExitKind::Unregistered
        );
    }

    #[test]
    fn exit_info_carries_reason_and_message() {
        assert_eq!(exit_info(0, 0, "", "", RESTART), None);
        let info = exit_info(1026, 0, "runnable task stall", "pid 7 stalled", RESTART).unwrap();
        assert!(info.is_error());
        assert_eq!(info.to_string(), "runnable task stall (pid 7 stalled)");
        let unnamed = exit_info(64, 0, "", "", RESTART).unwrap();
        assert_eq!(unnamed.reason, "exit kind 64");
    }

    #[test]
    fn c_strings_stop_at_nul() {
        let buf = [b'o' as i8, b'k' as i8, 0, b'x' as i8];
        assert_eq!(c_str(&buf), "ok");
        assert_eq!(c_str(&[]), "");
    }
}
