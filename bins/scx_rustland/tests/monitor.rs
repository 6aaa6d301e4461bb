//! `--monitor` end to end: a statistics server in this test process (the one the scheduler runs), the built
//! binary as a read-only client printing per-interval lines, and SIGINT ending it with exit status 0.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use rustland_core::{Counters, ShutdownHandle};
use rustland_runner::stats::{Snapshot, StatsHub};

#[test]
fn monitor_prints_deltas_from_a_running_scheduler_and_stops_on_sigint() {
    let dir = std::env::temp_dir().join(format!("rustland-monitor-test-{}", std::process::id()));
    let socket = dir.join("stats");
    let stop = ShutdownHandle::new();
    let hub = StatsHub::start("scx_rustland", &socket, None, &stop);

    // The scheduler side: every answer reports 5 more user dispatches.
    let serving = stop.clone();
    let scheduler = thread::spawn(move || {
        let mut user = 0;
        while !serving.is_requested() {
            hub.serve(|| {
                user += 5;
                Snapshot {
                    counters: Counters {
                        user_dispatches: user,
                        nr_running: 2,
                        ..Counters::default()
                    },
                    ..Snapshot::default()
                }
            });
            thread::sleep(Duration::from_millis(1));
        }
    });

    let mut child = Command::new(env!("CARGO_BIN_EXE_scx_rustland"))
        .args(["--monitor", "0.2", "--stats-socket"])
        .arg(&socket)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    while lines.len() < 2 {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => lines.push(line),
            Err(e) => {
                let _ = child.kill();
                panic!("no statistics line from --monitor ({e}); got {lines:?}");
            }
        }
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().unwrap();
    stop.request();
    scheduler.join().unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    for line in &lines {
        assert!(
            line.starts_with("[scx_rustland] user=5 "),
            "one answer's worth per interval: {line}"
        );
        assert!(line.contains(" running=2 "), "{line}");
    }
    assert_eq!(exit.code(), Some(0), "SIGINT ends the monitor cleanly");
}
