//! Booting a kernel in qemu and reading what the guest reports.
//!
//! The guest has two serial ports: ttyS0 is the kernel console, ttyS1 the
//! result channel where the guest's init writes tagged `@@RL` lines and
//! program output. Both go into one log file; the tagged lines are parsed.

use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::kernel::Kernel;
use crate::util;

/// Prefix of the lines the guest writes for the host.
pub const TAG: &str = "@@RL ";

/// The CPU model emulated under TCG unless another is asked for.
pub const DEFAULT_CPU: &str = "max";

/// How to boot one VM.
pub struct VmConfig<'a> {
    /// Kernel to boot.
    pub kernel: &'a Kernel,
    /// initramfs (base image plus job).
    pub initrd: PathBuf,
    /// Use KVM instead of TCG.
    pub kvm: bool,
    /// With TCG, emulate all vCPUs on one host thread.
    pub tcg_single_thread: bool,
    /// The CPU model emulated under TCG (`-cpu`).
    pub cpu: &'a str,
    /// The whole boot must finish within this time.
    pub timeout: Duration,
    /// The guest must print its first tagged line within this time.
    pub first_line_timeout: Duration,
    /// Where the full VM log goes.
    pub log_path: PathBuf,
    /// Expected nonce in the guest's hello line.
    pub nonce: String,
    /// Print program output from the guest live (vm-run).
    pub stream: bool,
}

/// Outcome of a scenario as reported by the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The check held.
    Pass,
    /// The check failed.
    Fail,
    /// The check could not run (an earlier one failed).
    Skip,
}

/// One `@@RL result` line.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// Scheduler name, or `kernel` for checks of the kernel itself.
    pub subject: String,
    /// Scenario name.
    pub scenario: String,
    /// Pass, fail or skip.
    pub status: Status,
    /// What the guest saw.
    pub detail: String,
}

/// Everything a boot produced.
#[derive(Debug, Default)]
pub struct VmReport {
    /// Kernel release from the guest's hello line (None: the guest never spoke).
    pub release: Option<String>,
    /// Whether the hello line carried the expected nonce.
    pub nonce_ok: bool,
    /// Scenario results in arrival order.
    pub outcomes: Vec<Outcome>,
    /// The guest printed `@@RL done`.
    pub done: bool,
    /// Console lines showing a kernel fault (Oops, panic, BUG).
    pub kernel_faults: Vec<String>,
    /// Problems of the harness: timeouts, qemu errors.
    pub errors: Vec<String>,
    /// The last lines of the kernel console, shown when something went wrong.
    pub console_tail: Vec<String>,
}

/// How many console lines [`VmReport::console_tail`] keeps.
const CONSOLE_TAIL: usize = 25;

enum Line {
    Console(String),
    Guest(String),
    Qemu(String),
    Closed(&'static str),
}

/// Boots the VM, waits for it to finish or time out, and returns what it reported.
pub fn boot(config: &VmConfig<'_>) -> Result<VmReport> {
    if util::which("qemu-system-x86_64").is_none() {
        bail!("qemu-system-x86_64 is not on PATH: install the qemu-system-x86 package (`cargo xtask deps`)");
    }
    if let Some(dir) = config.log_path.parent() {
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut log = fs::File::create(&config.log_path)
        .with_context(|| format!("cannot create {}", config.log_path.display()))?;

    let socket_path = std::env::temp_dir().join(format!(
        "rustland-vm-{}-{}.sock",
        std::process::id(),
        config.nonce
    ));
    let _ = fs::remove_file(&socket_path);
    let listener = UnixListener::bind(&socket_path)
        .with_context(|| format!("cannot listen on {}", socket_path.display()))?;
    let mut cmd = qemu_command(config, &socket_path);
    writeln!(log, "# {}", util::display_cmd(&cmd))?;
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start qemu-system-x86_64")?;

    let (tx, rx) = mpsc::channel();
    spawn_reader(
        child.stdout.take().expect("piped"),
        tx.clone(),
        Line::Console,
        "console",
    );
    spawn_reader(
        child.stderr.take().expect("piped"),
        tx.clone(),
        Line::Qemu,
        "qemu",
    );
    let accepted = accept(&listener, &mut child);
    let _ = fs::remove_file(&socket_path);
    match accepted {
        Ok(stream) => spawn_reader(stream, tx, Line::Guest, "guest"),
        Err(err) => {
            let _ = child.kill();
            let _ = child.wait();
            drain_into_log(&rx, &mut log);
            return Err(err.context(format!("see {}", config.log_path.display())));
        }
    }
    let report = watch(config, &mut child, &rx, &mut log);
    let _ = child.kill();
    let _ = child.wait();
    report
}

fn qemu_command(config: &VmConfig<'_>, socket: &Path) -> Command {
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args(["-nodefaults", "-no-reboot", "-display", "none"]);
    if config.kvm {
        cmd.args(["-accel", "kvm", "-cpu", "host"]);
    } else {
        let accel = if config.tcg_single_thread {
            "tcg,thread=single"
        } else {
            "tcg,thread=multi"
        };
        cmd.args(["-accel", accel, "-cpu", config.cpu]);
    }
    cmd.args(["-smp", "2", "-m", "2G"])
        .arg("-kernel")
        .arg(&config.kernel.vmlinuz)
        .arg("-initrd")
        .arg(&config.initrd)
        .args([
            "-append",
            "console=ttyS0,115200 rdinit=/init panic=-1 mitigations=off nokaslr",
        ])
        .args(["-serial", "stdio", "-serial"])
        .arg(format!("unix:{}", socket.display()));
    cmd
}

/// Waits for qemu to connect the guest channel socket.
fn accept(listener: &UnixListener, child: &mut Child) -> Result<std::os::unix::net::UnixStream> {
    listener.set_nonblocking(true)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false)?;
                return Ok(stream);
            }
            Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(err) => return Err(err).context("accepting qemu's serial connection"),
        }
        if let Some(status) = child.try_wait()? {
            bail!("qemu exited at startup ({status})");
        }
        if Instant::now() > deadline {
            bail!("qemu did not connect its second serial port within 30 s");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

fn spawn_reader<R: Read + Send + 'static>(
    source: R,
    tx: Sender<Line>,
    wrap: fn(String) -> Line,
    name: &'static str,
) {
    thread::spawn(move || {
        let mut reader = BufReader::new(source);
        let mut buf = Vec::new();
        loop {
            buf.clear();
            match reader.read_until(b'\n', &mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buf)
                        .trim_end_matches(['\n', '\r'])
                        .replace('\r', "");
                    if tx.send(wrap(line)).is_err() {
                        return;
                    }
                }
            }
        }
        let _ = tx.send(Line::Closed(name));
    });
}

fn drain_into_log(rx: &Receiver<Line>, log: &mut fs::File) {
    while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
        let _ = log_line(log, &line);
    }
}

fn log_line(log: &mut fs::File, line: &Line) -> std::io::Result<()> {
    match line {
        Line::Console(l) => writeln!(log, "{l}"),
        Line::Guest(l) => writeln!(log, "guest| {l}"),
        Line::Qemu(l) => writeln!(log, "qemu| {l}"),
        Line::Closed(name) => writeln!(log, "# {name} stream closed"),
    }
}

/// Whether a console line shows a kernel fault.
pub fn is_kernel_fault(line: &str) -> bool {
    ["Oops", "Kernel panic", "BUG:", "general protection fault"]
        .iter()
        .any(|needle| line.contains(needle))
}

/// Removes ANSI escape sequences (colours of the schedulers' log lines).
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        // ESC [ parameters final-byte
        if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        }
    }
    out
}

/// Parses a tagged line's payload (after `@@RL `) into a result, if it is one.
pub fn parse_result(payload: &str) -> Option<Outcome> {
    let rest = payload.strip_prefix("result ")?;
    let mut parts = rest.splitn(4, ' ');
    let subject = parts.next()?.to_string();
    let scenario = parts.next()?.to_string();
    let status = match parts.next()? {
        "pass" => Status::Pass,
        "fail" => Status::Fail,
        "skip" => Status::Skip,
        _ => return None,
    };
    let detail = strip_ansi(parts.next().unwrap_or("")).trim().to_string();
    Some(Outcome {
        subject,
        scenario,
        status,
        detail,
    })
}

fn watch(
    config: &VmConfig<'_>,
    child: &mut Child,
    rx: &Receiver<Line>,
    log: &mut fs::File,
) -> Result<VmReport> {
    let start = Instant::now();
    let deadline = start + config.timeout;
    let hello_deadline = start + config.first_line_timeout;
    let mut report = VmReport::default();
    let mut done_at: Option<Instant> = None;
    let mut last_guest_line = Instant::now();
    let mut open_streams = 3;
    loop {
        let now = Instant::now();
        if report.release.is_none() && now > hello_deadline {
            report.errors.push(format!(
                "the guest never printed its first tagged line within {} s (kernel did not boot, \
                 or /init failed); see the console log",
                config.first_line_timeout.as_secs()
            ));
            break;
        }
        if now > deadline {
            report.errors.push(format!(
                "timeout: the VM was still running after {} s and was killed",
                config.timeout.as_secs()
            ));
            break;
        }
        if !report.kernel_faults.is_empty()
            && now.duration_since(last_guest_line) > Duration::from_secs(60)
        {
            report
                .errors
                .push("the guest went silent for 60 s after a kernel fault and was killed".into());
            break;
        }
        if done_at.is_some_and(|t| now.duration_since(t) > Duration::from_secs(20)) {
            // The job finished but the guest did not power off: not an error
            // of the scenarios, only of the shutdown.
            break;
        }
        if open_streams == 0 {
            break;
        }
        let line = match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                if child.try_wait()?.is_some() && open_streams == 0 {
                    break;
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => break,
        };
        log_line(log, &line)?;
        match line {
            Line::Console(l) => {
                if report.console_tail.len() == CONSOLE_TAIL {
                    report.console_tail.remove(0);
                }
                report.console_tail.push(l.clone());
                if config.stream && l.contains("sched_ext:") {
                    println!("kernel: {}", l.trim());
                }
                if is_kernel_fault(&l) {
                    if report.kernel_faults.is_empty() {
                        println!("vm: KERNEL FAULT: {l}");
                    }
                    report.kernel_faults.push(l);
                }
            }
            Line::Qemu(l) => {
                eprintln!("qemu: {l}");
                report.errors.push(format!("qemu: {l}"));
            }
            Line::Guest(l) => {
                last_guest_line = Instant::now();
                handle_guest_line(config, &mut report, &l, start);
                if report.done && done_at.is_none() {
                    done_at = Some(Instant::now());
                }
            }
            Line::Closed(_) => open_streams -= 1,
        }
    }
    log.flush()?;
    if report.release.is_some() && !report.done && report.errors.is_empty() {
        report
            .errors
            .push("the guest stopped before finishing its job (no `done` line)".into());
    }
    Ok(report)
}

fn handle_guest_line(config: &VmConfig<'_>, report: &mut VmReport, line: &str, start: Instant) {
    let Some(payload) = line.strip_prefix(TAG) else {
        if config.stream {
            println!("{line}");
        }
        return;
    };
    let mut words = payload.split_whitespace();
    match words.next() {
        Some("hello") => {
            report.nonce_ok = words.next() == Some(config.nonce.as_str());
            let release = words.next().unwrap_or("?").to_string();
            println!(
                "vm: guest up, kernel {release} ({:.1} s after start)",
                start.elapsed().as_secs_f64()
            );
            report.release = Some(release);
        }
        Some("info") => {
            let rest = payload.trim_start_matches("info").trim();
            println!("vm: {rest}");
        }
        Some("done") => report.done = true,
        Some("result") => {
            if let Some(outcome) = parse_result(payload) {
                let mark = match outcome.status {
                    Status::Pass => "pass",
                    Status::Fail => "FAIL",
                    Status::Skip => "skip",
                };
                println!(
                    "vm: [{mark}] {} {}: {}",
                    outcome.subject, outcome.scenario, outcome.detail
                );
                report.outcomes.push(outcome);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_lines_parse() {
        let r = parse_result("result scx_rlfifo survival fail ejected under load: x y").unwrap();
        assert_eq!(r.subject, "scx_rlfifo");
        assert_eq!(r.scenario, "survival");
        assert_eq!(r.status, Status::Fail);
        assert_eq!(r.detail, "ejected under load: x y");
        let r = parse_result("result kernel boot pass").unwrap();
        assert_eq!(r.status, Status::Pass);
        assert_eq!(r.detail, "");
        assert!(parse_result("result a b maybe x").is_none());
        assert!(parse_result("info testing x").is_none());
    }

    #[test]
    fn colours_are_stripped_from_details() {
        assert_eq!(
            strip_ansi("\u{1b}[2mtime\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m x"),
            "time  INFO x"
        );
        let r = parse_result("result s attach fail \u{1b}[31merror\u{1b}[0m: boom").unwrap();
        assert_eq!(r.detail, "error: boom");
    }

    #[test]
    fn kernel_faults_are_recognised() {
        assert!(is_kernel_fault(
            "[   12.3] Oops: int3: 0000 [#1] PREEMPT SMP NOPTI"
        ));
        assert!(is_kernel_fault(
            "[    1.0] BUG: kernel NULL pointer dereference, address: 0"
        ));
        assert!(is_kernel_fault(
            "[    2.0] Kernel panic - not syncing: Attempted to kill init!"
        ));
        assert!(!is_kernel_fault(
            "[    3.0] sched_ext: BPF scheduler \"x\" enabled"
        ));
    }
}
