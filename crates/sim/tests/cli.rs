//! The `rl-sim` command: reports on good input, clear errors and exit codes on bad input.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn rl_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rl-sim"))
        .args(args)
        .output()
        .expect("rl-sim runs")
}

fn workload(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("workloads")
        .join(name)
        .display()
        .to_string()
}

/// Writes `text` to a fresh file in the target directory and returns its path.
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rl-sim-cli");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn one_policy_prints_a_per_task_table_and_totals() {
    let out = rl_sim(&[
        "--policy",
        "vruntime",
        "--duration",
        "200ms",
        &workload("desktop.toml"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("== vruntime"), "{text}");
    for comm in ["build", "ui", "audio"] {
        assert!(
            text.lines().any(|l| l.starts_with(comm)),
            "no row for {comm}:\n{text}"
        );
    }
    assert!(text.contains("total: utilisation"), "{text}");
    assert!(text.contains("dispatches: user="), "{text}");
    assert!(!text.contains("== comparison"));
}

#[test]
fn all_policies_are_compared_side_by_side() {
    let out = rl_sim(&[
        "--duration",
        "100ms",
        "--seed",
        "3",
        &workload("pipes.json"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    for name in ["== fifo", "== rr", "== vruntime", "== comparison (seed 3"] {
        assert!(text.contains(name), "missing {name}:\n{text}");
    }
    let header = text.lines().find(|l| l.starts_with("metric")).unwrap();
    assert!(header.contains("fifo") && header.contains("rr") && header.contains("vruntime"));
}

#[test]
fn the_stall_workload_shows_the_fallback_episode() {
    let out = rl_sim(&["--policy", "all", &workload("stall.toml")]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        text.lines()
            .filter(|l| l.starts_with("fallback: episodes=1 "))
            .count(),
        3,
        "{text}"
    );
    assert!(
        text.lines().any(|l| l.starts_with("fallback episodes")),
        "{text}"
    );
    // Without the stall (it begins after the end), no fallback line at all.
    let out = rl_sim(&["--duration", "1s", &workload("stall.toml")]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(!text.contains("fallback: episodes"), "{text}");
    assert!(!text.contains("fallback episodes"), "{text}");
}

#[test]
fn a_bad_user_stall_is_an_error_that_names_it() {
    let path = temp_file(
        "bad-stall.toml",
        "[sim]\nuser-stalls = [{ at = \"2s\", for = \"1s\" }, { at = \"2.5s\", for = \"1s\" }]\n[[task]]\nname = \"h\"\nkind = \"hog\"\n",
    );
    let out = rl_sim(&[path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("user-stalls") && err.contains("stall 2"),
        "{err}"
    );
}

#[test]
fn bad_input_is_an_error_with_a_reason_not_a_panic() {
    let missing = rl_sim(&["/nonexistent/workload.toml"]);
    let bad_kind = temp_file(
        "bad-kind.toml",
        "[[task]]\nname = \"x\"\nkind = \"teapot\"\n",
    );
    let bad_cpu = temp_file(
        "bad-cpu.toml",
        "[sim]\ncpus = 2\n[[task]]\nname = \"x\"\nkind = \"hog\"\ncpus = [7]\n",
    );
    let too_many = temp_file(
        "storm.toml",
        "[[task]]\nname = \"x\"\nkind = \"fork\"\nevery = \"1ns\"\nwork = \"1us\"\n",
    );
    let hog = temp_file("hog.toml", "[[task]]\nname = \"x\"\nkind = \"hog\"\n");
    let cases: Vec<(Output, &str)> = vec![
        (missing, "cannot read"),
        (rl_sim(&[bad_kind.to_str().unwrap()]), "unknown kind"),
        (rl_sim(&[bad_cpu.to_str().unwrap()]), "cpu 7"),
        (rl_sim(&[too_many.to_str().unwrap()]), "more than"),
        (rl_sim(&["--cpus", "0", hog.to_str().unwrap()]), "cpus"),
        (rl_sim(&["--cpus", "65", hog.to_str().unwrap()]), "cpus"),
        (
            rl_sim(&["--duration", "0s", hog.to_str().unwrap()]),
            "duration",
        ),
        (
            rl_sim(&["--direct-wakeup", "1us", hog.to_str().unwrap()]),
            "direct-wakeup",
        ),
    ];
    for (out, expected) in cases {
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains(expected),
            "expected {expected:?} in {stderr:?}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    // clap rejects malformed options itself (exit code 2, usage on stderr).
    let out = rl_sim(&["--duration", "soon", hog.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("soon"));
}

#[test]
fn a_stalled_run_exits_with_code_2() {
    // One CPU, two hogs: the first gets the CPU through the idle fast path with a 50 ms default slice, so the
    // second waits far longer than the 5 ms watchdog allows, whatever the policy does.
    let file = temp_file(
        "stall.toml",
        "[sim]\ncpus = 1\nwatchdog = \"5ms\"\nslice = \"50ms\"\n[[task]]\nname = \"hog\"\nkind = \"hog\"\ncount = 2\n",
    );
    let out = rl_sim(&[
        "--policy",
        "fifo",
        "--duration",
        "1s",
        file.to_str().unwrap(),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("runnable task stall"), "{text}");
}

#[test]
fn direct_wakeups_are_counted_when_turned_on() {
    let direct = |text: &str| -> u64 {
        let line = text
            .lines()
            .find(|l| l.starts_with("dispatches:"))
            .expect("a dispatches line");
        let field = line
            .split([' ', ';'])
            .find_map(|f| f.strip_prefix("direct="))
            .expect("a direct= field");
        field.parse().unwrap()
    };
    let run = |extra: &[&str]| {
        let mut args = vec!["--policy", "vruntime", "--duration", "300ms"];
        args.extend_from_slice(extra);
        // cyclictest under two CPU hogs, as `cargo xtask bench` simulates it.
        let file = temp_file(
            "cyclictest.toml",
            "[[task]]\nname = \"hog\"\nkind = \"hog\"\ncount = 2\n\n\
             [[task]]\nname = \"cyclic\"\nkind = \"periodic\"\nrun = \"20us\"\nsleep = \"1ms\"\n",
        );
        let file = file.to_str().unwrap().to_string();
        args.push(&file);
        let out = rl_sim(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        direct(&String::from_utf8(out.stdout).unwrap())
    };
    assert_eq!(run(&[]), 0);
    assert!(run(&["--direct-wakeup", "500us"]) > 100);
}

#[test]
fn json_output_holds_each_policys_report() {
    let args = [
        "--duration",
        "100ms",
        "--seed",
        "3",
        &workload("pipes.json"),
    ];
    let out = rl_sim(&[&["--json"], &args[..]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(doc["seed"], 3);
    assert_eq!(doc["duration_ns"], 100_000_000);
    let runs = doc["runs"].as_array().expect("a runs array");
    let names: Vec<&str> = runs.iter().map(|r| r["policy"].as_str().unwrap()).collect();
    assert_eq!(names, ["fifo", "rr", "vruntime"]);
    // The same figures as the text report of the same run.
    let text = String::from_utf8(rl_sim(&args).stdout).unwrap();
    let user_dispatches: Vec<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("dispatches: user="))
        .map(|rest| rest.split(' ').next().unwrap().to_string())
        .collect();
    for (run, text_count) in runs.iter().zip(&user_dispatches) {
        let report = &run["report"];
        assert_eq!(report["exit"]["kind"], "Done");
        assert_eq!(
            report["counters"]["user_dispatches"].to_string(),
            *text_count
        );
        let groups: Vec<&str> = report["groups"]
            .as_array()
            .unwrap()
            .iter()
            .map(|g| g["name"].as_str().unwrap())
            .collect();
        assert_eq!(groups, ["pipe", "hog", "late"]);
        assert!(report["totals"]["utilisation"].as_f64().unwrap() > 0.0);
    }
    // The side-by-side table is the one the text output ends with.
    let comparison = doc["comparison"]
        .as_str()
        .expect("a comparison with several policies");
    assert!(
        text.trim_end().ends_with(comparison.trim_end()),
        "{comparison}"
    );
    assert_eq!(user_dispatches.len(), 3);
}

#[test]
fn json_output_of_a_stall_still_exits_with_code_2() {
    let file = temp_file(
        "stall-json.toml",
        "[sim]\ncpus = 1\nwatchdog = \"5ms\"\nslice = \"50ms\"\n[[task]]\nname = \"hog\"\nkind = \"hog\"\ncount = 2\n",
    );
    let out = rl_sim(&[
        "--json",
        "--policy",
        "fifo",
        "--duration",
        "1s",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("valid JSON");
    assert_eq!(doc["runs"][0]["report"]["exit"]["kind"], "Stall");
}
