//! Rules about what lines of code may contain: unsafe code, signal handlers, allocators, history, I/O where a
//! crate must do none, download servers.

use super::*;

/// The only places that may hold `unsafe` code or declare foreign functions: the crate that talks to the kernel, and
/// the guest helper's one system call.
const UNSAFE_ALLOWED: &[&str] = &["crates/bpf/", "xtask/src/bin/rl-guest.rs"];

/// The only crate that may install signal handlers: the runner, whose lifecycle owns SIGINT, SIGTERM and SIGHUP.
const SIGNALS_ALLOWED: &str = "crates/runner/";

/// Whether a line names a work session or an issue by number ("session 4", "issue #6"): history, which belongs in
/// docs/benchmarks.md and docs/reliability.md, not in code or in what the code prints.
fn mentions_history(line: &str) -> bool {
    let lower = line.to_ascii_lowercase();
    ["session", "issue"].iter().any(|word| {
        lower.match_indices(word).any(|(i, _)| {
            let before = lower[..i].chars().next_back();
            let rest = lower[i + word.len()..].trim_start_matches(['s', ' ', '#']);
            !before.is_some_and(|c| c.is_ascii_alphanumeric())
                && lower[i + word.len()..].starts_with([' ', 's'])
                && rest.starts_with(|c: char| c.is_ascii_digit())
        })
    })
}

#[test]
fn history_is_not_narrated_in_code() {
    let offending = lines_where(
        &[".rs", ".c", ".h", ".sh", ".py"],
        |_| true,
        mentions_history,
    );
    assert!(
        offending.is_empty(),
        "history (session or issue numbers) in code or output; move it to docs/benchmarks.md or \
         docs/reliability.md and say what and why now:\n{}",
        offending.join("\n")
    );
}

#[test]
fn history_detector_finds_numbered_sessions_and_issues_only() {
    assert!(mentions_history("until session 4 these were"));
    assert!(mentions_history("Targets of issue 6 for scx_rustland"));
    assert!(mentions_history("(issue #12)"));
    assert!(mentions_history("sessions 5 and 6"));
    assert!(!mentions_history("a session of the scheduler"));
    assert!(!mentions_history("the issue is that 3 tasks wait"));
    assert!(!mentions_history("reissue 4 dispatches"));
}

/// Whether a Rust line holds unsafe code, declares foreign functions or allows either (comments do not count).
fn has_unsafe_code(line: &str) -> bool {
    code_contains_any(
        line,
        &[
            "unsafe {",
            "unsafe fn",
            "unsafe impl",
            "extern \"C\"",
            "allow(unsafe_code)",
        ],
    )
}

#[test]
fn unsafe_detector_reads_code_not_comments() {
    assert!(has_unsafe_code(
        "    let me = unsafe { libc::sched_getcpu() };"
    ));
    assert!(has_unsafe_code("pub unsafe fn borrow(&self) {"));
    assert!(has_unsafe_code("extern \"C\" {"));
    assert!(has_unsafe_code("#![allow(unsafe_code)]"));
    assert!(!has_unsafe_code(
        "//! This crate contains no `unsafe` code."
    ));
    assert!(!has_unsafe_code(
        "    // SAFETY: why unsafe { } is sound here"
    ));
    assert!(!has_unsafe_code("let x = 1; // not unsafe { }"));
}

#[test]
fn unsafe_code_only_where_allowed() {
    let offending = lines_where(
        &[".rs"],
        |rel| !UNSAFE_ALLOWED.iter().any(|a| rel.starts_with(a)),
        has_unsafe_code,
    );
    assert!(
        offending.is_empty(),
        "unsafe code outside {UNSAFE_ALLOWED:?}:\n{}",
        offending.join("\n")
    );
}

/// Whether a Rust line installs a signal handler (comments do not count).
fn installs_signal_handler(line: &str) -> bool {
    code_contains_any(
        line,
        &["signal_hook::", "sigaction(", "libc::signal(", "ctrlc::"],
    )
}

#[test]
fn signal_handler_detector_reads_code_not_comments() {
    assert!(installs_signal_handler(
        "    signal_hook::flag::register(SIGINT, flag)?;"
    ));
    assert!(installs_signal_handler("use signal_hook::consts::SIGTERM;"));
    assert!(!installs_signal_handler(
        "    /// The shared flag, e.g. for `signal_hook::flag::register`."
    ));
}

#[test]
fn signal_handlers_only_in_the_runner() {
    let offending = lines_where(
        &[".rs"],
        |rel| !rel.starts_with(SIGNALS_ALLOWED),
        installs_signal_handler,
    );
    assert!(
        offending.is_empty(),
        "signal handlers outside {SIGNALS_ALLOWED}:\n{}",
        offending.join("\n")
    );
}

/// What code under a directory must not contain, and why: the "never does" of docs/architecture.md's code map.
const FORBIDDEN_IN: &[(&str, &[&str], &str)] = &[
    (
        "crates/core/src/",
        &["std::fs", "std::net", "std::thread", "std::time", "std::process", "println!", "eprintln!"],
        "core does no I/O, starts no threads and has no clock of its own",
    ),
    (
        "crates/sim/src/",
        &["Instant", "SystemTime", "HashMap", "HashSet", "thread_rng"],
        "the simulator has no wall clock, no unseeded randomness and no iteration-order-dependent containers",
    ),
    (
        "crates/policies/",
        &["std::fs", "std::net", "std::thread", "std::time", "println!", "eprintln!"],
        "a policy does no I/O and reads time only from its Context",
    ),
];

#[test]
fn code_never_does_what_its_crate_must_not() {
    let files = files_with(&[".rs"]);
    let mut offending = Vec::new();
    for (dir, patterns, why) in FORBIDDEN_IN {
        for (rel, text) in files.iter().filter(|(rel, _)| rel.starts_with(dir)) {
            for (n, line) in text.lines().enumerate() {
                let code = code_part(line);
                if let Some(p) = patterns.iter().find(|p| code.contains(**p)) {
                    offending.push(format!("{rel}:{}: `{p}`: {why}", n + 1));
                }
            }
        }
    }
    assert!(offending.is_empty(), "{}", offending.join("\n"));
}

#[test]
fn only_programs_install_an_allocator() {
    let offending = lines_where(
        &[".rs"],
        |rel| !is_program(rel),
        |l| code_part(l).contains("#[global_allocator]"),
    );
    assert!(
        offending.is_empty(),
        "a library installs a global allocator (it would also replace the allocator of build scripts and of \
         every program that links it): {offending:?}"
    );
}

/// Hosts the harness may spell: documentation examples and the SVG namespace, never a server it downloads from.
fn is_placeholder_host(host: &str) -> bool {
    host == "www.w3.org" || host.starts_with("example.") || host.contains(".example")
}

/// The hosts of the `http://` and `https://` URLs in a line.
fn url_hosts(line: &str) -> impl Iterator<Item = &str> {
    ["http://", "https://"].into_iter().flat_map(move |scheme| {
        line.match_indices(scheme).map(move |(i, _)| {
            let rest = &line[i + scheme.len()..];
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '.' || c == '-'))
                .next()
                .unwrap_or("")
        })
    })
}

#[test]
fn url_hosts_are_read_from_urls() {
    let hosts: Vec<&str> =
        url_hosts("URIs: http://mirror.example.org/debian https://a.b-c.net:80/x").collect();
    assert_eq!(hosts, ["mirror.example.org", "a.b-c.net"]);
    assert!(is_placeholder_host("mirror.example.org"));
    assert!(is_placeholder_host("a.example"));
    assert!(!is_placeholder_host("mirror.debian.net"));
}

#[test]
fn the_harness_names_no_server_to_download_from() {
    // The package mirror comes from the machine's apt sources at run time; crates come through cargo.
    let offending = lines_where(
        &[".rs", ".sh", ".py"],
        |rel| rel.starts_with("xtask/"),
        |l| url_hosts(l).any(|host| !is_placeholder_host(host)),
    );
    assert!(
        offending.is_empty(),
        "a download server written into the harness:\n{}",
        offending.join("\n")
    );
}
