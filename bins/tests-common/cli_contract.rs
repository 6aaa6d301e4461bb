//! Command-line behaviour every scheduler binary shares, checked on the built binary. Included by each binary's
//! `tests/cli.rs`; needs no kernel support and never attaches a scheduler.

#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The binary under test.
pub struct Bin {
    /// Path of the built binary (`env!("CARGO_BIN_EXE_<name>")`).
    pub path: &'static str,
    /// Its name.
    pub name: &'static str,
    /// Its policy options, as they appear in `--help`.
    pub policy_options: &'static [&'static str],
    /// Its policy's figures, as `--help-stats` lists them.
    pub policy_figures: &'static [&'static str],
    /// Argument lists that must be rejected as usage errors, with a word the message must contain.
    pub bad_policy_args: &'static [(&'static [&'static str], &'static str)],
}

pub fn run(bin: &Bin, args: &[&str]) -> Output {
    Command::new(bin.path)
        .args(args)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("the binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub fn help_lists_every_option(bin: &Bin) {
    let out = run(bin, &["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    let common = [
        "--stats <SECS>",
        "--monitor <SECS>",
        "--help-stats",
        "--partial",
        "--exit-dump-len <BYTES>",
        "--verbose",
        "--version",
        "--stats-socket <PATH>",
    ];
    for option in common.iter().chain(bin.policy_options) {
        assert!(
            help.contains(option),
            "{option} missing from --help:\n{help}"
        );
    }
    assert!(
        help.contains("sched_ext"),
        "--help should say what the binary needs:\n{help}"
    );
}

pub fn version_names_binary_framework_and_commit(bin: &Bin) {
    let out = run(bin, &["-V"]);
    assert_eq!(out.status.code(), Some(0));
    let version = text(&out.stdout);
    let expected = format!("{} {} (rustland-core ", bin.name, env!("CARGO_PKG_VERSION"));
    assert!(version.starts_with(&expected), "{version}");
    assert!(version.contains(", git "), "{version}");
    assert_eq!(text(&run(bin, &["--version"]).stdout), version);
}

pub fn help_stats_describes_statistics(bin: &Bin) {
    let out = run(bin, &["--help-stats"]);
    assert_eq!(out.status.code(), Some(0), "stderr: {}", text(&out.stderr));
    let help = text(&out.stdout);
    for key in [
        "user",
        "kernel",
        "cancelled",
        "bounced",
        "congested",
        "fallback",
        "running",
        "queued",
    ] {
        assert!(
            help.contains(&format!("  {key} ")),
            "{key} missing from --help-stats:\n{help}"
        );
    }
    assert!(help.contains(&format!("[{}] user=", bin.name)), "{help}");
    for figure in bin.policy_figures {
        assert!(
            help.contains(figure),
            "policy figure {figure} missing from --help-stats:\n{help}"
        );
    }
}

fn assert_usage_error(bin: &Bin, args: &[&str], mention: &str) {
    let out = run(bin, args);
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{args:?} must be a usage error; stderr: {stderr}"
    );
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    assert!(
        stderr.contains(mention),
        "{args:?}: message should mention {mention:?}: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    assert!(out.stdout.is_empty(), "{args:?}: nothing on stdout");
}

pub fn bad_values_are_usage_errors(bin: &Bin) {
    let common: &[(&[&str], &str)] = &[
        (&["--stats", "0"], "--stats"),
        (&["--stats", "-1"], "--stats"),
        (&["--stats", "soon"], "--stats"),
        (&["--monitor", "1e12"], "--monitor"),
        (&["--stats", "1", "--monitor", "1"], "--monitor"),
        (&["--exit-dump-len", "-1"], "--exit-dump-len"),
        (&["--exit-dump-len", "99999999999"], "--exit-dump-len"),
        (&["--no-such-option"], "--no-such-option"),
        (&["extra-argument"], "extra-argument"),
    ];
    for (args, mention) in common.iter().chain(bin.bad_policy_args) {
        assert_usage_error(bin, args, mention);
    }
}

/// Whether this machine could really attach a scheduler (root on a sched_ext kernel): tests that expect a
/// refusal must not run there, or they would start scheduling the machine.
fn could_attach_here() -> bool {
    let root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    root && Path::new("/sys/kernel/sched_ext").exists()
}

fn assert_refused(out: &Output, what: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{what}: expected exit code 3; stderr: {stderr}"
    );
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "{what}: expected one clear line, got: {stderr}"
    );
    assert!(lines[0].starts_with("error: "), "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

pub fn refuses_to_run_without_sched_ext(bin: &Bin) {
    if could_attach_here() {
        eprintln!("skipped: this machine has sched_ext and we are root; the VM tests cover it");
        return;
    }
    let out = run(bin, &["--stats-socket", "/nonexistent/rustland-test/stats"]);
    assert_refused(&out, "no sched_ext or not root");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("sched_ext") || stderr.contains("root"),
        "{stderr}"
    );
}

pub fn refuses_to_run_unprivileged(bin: &Bin) {
    // Only root can switch to an unprivileged user to show this; as non-root the previous test covers it.
    let am_root = std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
        })
        .unwrap_or(false);
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let (true, Some(setpriv)) = (am_root, setpriv) else {
        eprintln!("skipped: needs root and setpriv");
        return;
    };
    let out = Command::new(setpriv)
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
            bin.path,
        ])
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .output()
        .expect("setpriv runs");
    assert_refused(&out, "unprivileged");
    assert!(text(&out.stderr).contains("root"), "{}", text(&out.stderr));
}

/// Declares the shared command-line tests for `$bin` (a [`Bin`]), one `#[test]` per contract function.
macro_rules! contract_tests {
    ($bin:expr) => {
        #[test]
        fn help_lists_every_option() {
            $crate::contract::help_lists_every_option(&$bin);
        }

        #[test]
        fn version_names_binary_framework_and_commit() {
            $crate::contract::version_names_binary_framework_and_commit(&$bin);
        }

        #[test]
        fn help_stats_describes_statistics() {
            $crate::contract::help_stats_describes_statistics(&$bin);
        }

        #[test]
        fn bad_values_are_usage_errors() {
            $crate::contract::bad_values_are_usage_errors(&$bin);
        }

        #[test]
        fn refuses_to_run_without_sched_ext() {
            $crate::contract::refuses_to_run_without_sched_ext(&$bin);
        }

        #[test]
        fn refuses_to_run_unprivileged() {
            $crate::contract::refuses_to_run_unprivileged(&$bin);
        }
    };
}
