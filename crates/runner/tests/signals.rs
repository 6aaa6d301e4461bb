//! Real signals against the real lifecycle: this test binary re-runs itself as a child "scheduler" over a fake
//! session whose first run ends with a hotplug restart; the parent sends SIGINT, SIGTERM or SIGHUP once the
//! second run is attached and checks the `EXIT:` line and exit status 0.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use rustland_core::{
    Connector, ConnectorError, Context, Counters, Delivery, Dispatch, Event, ExitInfo, ExitKind,
    LoopConfig, Pid, Policy, QueuedTask,
};
use rustland_runner::{run, RunConfig, Session, Signals, StatsHub};

const CHILD_ENV: &str = "RUSTLAND_RUNNER_SIGNAL_CHILD";

/// Idles like a scheduler with nothing to do; the first session asks for a restart after a few rounds.
struct IdleSession {
    rounds_until_restart: Option<u32>,
    ended: Option<ExitInfo>,
}

impl Connector for IdleSession {
    fn try_recv(&mut self) -> Result<Option<Event>, ConnectorError> {
        Ok(None)
    }
    fn try_dispatch(&mut self, _: &Dispatch) -> Result<Delivery, ConnectorError> {
        Ok(Delivery::Sent)
    }
    fn set_held(&mut self, _: u64) {}
    fn yield_cpu(&mut self) -> Result<(), ConnectorError> {
        std::thread::sleep(Duration::from_millis(1));
        match &mut self.rounds_until_restart {
            Some(0) => {
                self.ended = Some(ExitInfo {
                    kind: ExitKind::Restart,
                    code: 0,
                    reason: "CPU hotplug".into(),
                    message: String::new(),
                });
                self.rounds_until_restart = None;
            }
            Some(n) => *n -= 1,
            None => {}
        }
        Ok(())
    }
    fn pick_idle_cpu(&mut self, _: Pid, _: u32) -> Option<u32> {
        None
    }
    fn now_ns(&self) -> u64 {
        0
    }
    fn nr_cpus(&self) -> u32 {
        1
    }
    fn exit_info(&self) -> Option<ExitInfo> {
        self.ended.clone()
    }
    fn counters(&self) -> Counters {
        Counters::default()
    }
}

impl Session for IdleSession {
    type Error = std::io::Error;
    fn exit_dump(&self) -> Option<String> {
        None
    }
    fn detach(self) -> Result<Option<ExitInfo>, Self::Error> {
        Ok(self.ended)
    }
}

struct Nothing;

impl Policy for Nothing {
    fn name(&self) -> &'static str {
        "nothing"
    }
    fn on_enqueue(&mut self, _: QueuedTask, _: &mut Context<'_>) {}
    fn pick_next(&mut self, _: &mut Context<'_>) -> Option<Dispatch> {
        None
    }
    fn on_exit(&mut self, _: Pid, _: &mut Context<'_>) {}
    fn nr_held(&self) -> usize {
        0
    }
}

/// The child: runs until a signal, then reports like a binary does and exits.
#[test]
fn child_scheduler() {
    if std::env::var_os(CHILD_ENV).is_none() {
        return;
    }
    let signals = Signals::install().expect("signal handlers");
    let hub = StatsHub::disabled();
    let config = RunConfig {
        name: "scx_child",
        signals: &signals,
        stats: &hub,
        loop_config: LoopConfig::default(),
    };
    let mut attached = 0;
    let outcome = run(
        &config,
        || {
            attached += 1;
            println!("attached {attached}");
            let _ = std::io::stdout().flush();
            Ok(IdleSession {
                rounds_until_restart: (attached == 1).then_some(20),
                ended: None,
            })
        },
        || Nothing,
        || 0,
    );
    outcome
        .report(&mut std::io::stdout(), &mut std::io::stderr())
        .unwrap();
    let _ = std::io::stdout().flush();
    std::process::exit(i32::from(outcome.exit_code()));
}

fn signal_after_restart(signal: &str) -> (Option<i32>, Vec<String>) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_scheduler",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while !lines.iter().any(|l: &String| l == "attached 2") {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => lines.push(line),
            Err(e) => {
                let _ = child.kill();
                panic!("the child never restarted ({e}); output: {lines:?}");
            }
        }
    }
    let sent = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    lines.extend(rx.iter());
    (status.code(), lines)
}

#[test]
fn signals_stop_the_scheduler_cleanly_after_a_hotplug_restart() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    for signal in ["INT", "TERM", "HUP"] {
        let (code, lines) = signal_after_restart(signal);
        assert!(
            lines.iter().any(|l| l.contains("restarting")),
            "a restart line is printed: {lines:?}"
        );
        let exit_line = format!("EXIT: received SIG{signal}");
        assert!(lines.contains(&exit_line), "SIG{signal}: {lines:?}");
        assert_eq!(code, Some(0), "SIG{signal}: {lines:?}");
    }
}
