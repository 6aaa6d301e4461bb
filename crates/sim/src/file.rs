//! The workload file format, TOML or JSON (described in `docs/simulator.md`): reading a file into a
//! [`Workload`], with durations such as `"10ms"`, and errors that name the entry and the problem.

use std::path::Path;

use serde::Deserialize;

use crate::{
    nice_to_weight, Behaviour, SimError, SimOverrides, TaskKind, TaskSpec, UserStall, Workload,
    MAX_CPUS,
};

impl Workload {
    /// Reads a workload file: JSON if the name ends in `.json`, TOML otherwise.
    pub fn from_file(path: &Path) -> Result<Self, SimError> {
        let text = std::fs::read_to_string(path).map_err(|source| SimError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let parsed = if json {
            Self::from_json(&text)
        } else {
            Self::from_toml(&text)
        };
        parsed.map_err(|e| match e {
            SimError::Parse { message, .. } => SimError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses a workload in TOML.
    pub fn from_toml(text: &str) -> Result<Self, SimError> {
        let file: FileWorkload = toml::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        file.into_workload()
    }

    /// Parses a workload in JSON.
    pub fn from_json(text: &str) -> Result<Self, SimError> {
        let file: FileWorkload =
            serde_json::from_str(text).map_err(|e| parse_error(e.to_string()))?;
        file.into_workload()
    }
}

fn parse_error(message: String) -> SimError {
    SimError::Parse {
        path: "<string>".into(),
        message: message.trim_end().to_string(),
    }
}

/// Parses a duration such as `"10ms"`, `"1.5s"`, `"250us"` or `"800ns"` into nanoseconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let scale: f64 = match unit.trim() {
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "" => {
            return Err(format!(
                "duration {text:?} has no unit (use ns, us, ms or s)"
            ))
        }
        other => {
            return Err(format!(
                "unknown unit {other:?} in duration {text:?} (use ns, us, ms or s)"
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a duration such as \"10ms\""))?;
    let ns = (value * scale).round();
    if !(0.0..1.8e19).contains(&ns) {
        return Err(format!("duration {text:?} is out of range"));
    }
    Ok(ns as u64)
}

/// A duration in a file: an integer number of nanoseconds, or a string with a unit.
#[derive(Clone, Copy, Debug)]
struct Dur(u64);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Ns(u64),
            Text(String),
        }
        match Raw::deserialize(d).map_err(|_| {
            serde::de::Error::custom(
                "expected a duration: a string such as \"10ms\" or an integer of nanoseconds",
            )
        })? {
            Raw::Ns(ns) => Ok(Dur(ns)),
            Raw::Text(s) => parse_duration(&s)
                .map(Dur)
                .map_err(serde::de::Error::custom),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileWorkload {
    #[serde(default)]
    sim: FileSim,
    #[serde(default, alias = "tasks")]
    task: Vec<FileTask>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileSim {
    cpus: Option<u32>,
    duration: Option<Dur>,
    seed: Option<u64>,
    idle_fast_path: Option<bool>,
    slice: Option<Dur>,
    watchdog: Option<Dur>,
    ring_size: Option<usize>,
    dispatch_batch: Option<usize>,
    wakeup_delay: Option<Dur>,
    event_cost: Option<Dur>,
    dispatch_cost: Option<Dur>,
    tick: Option<Dur>,
    kernel_tick: Option<Dur>,
    preempt_min: Option<Dur>,
    task_wakeup_preempt_min: Option<Dur>,
    direct_wakeup: Option<Dur>,
    fallback: Option<Dur>,
    user_stalls: Option<Vec<FileStall>>,
}

/// One entry of `user-stalls`: `{ at = "2s", for = "3s" }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileStall {
    at: Option<Dur>,
    #[serde(rename = "for")]
    length: Option<Dur>,
}

impl FileStall {
    /// The stall, or an error naming the missing key of the `i`-th entry (from 0).
    fn into_stall(self, i: usize) -> Result<UserStall, SimError> {
        let need = |key: &str, v: Option<Dur>| {
            v.map(|d| d.0).ok_or_else(|| {
                parse_error(format!(
                    "entry {} of `user-stalls` needs `{key}` (e.g. {{ at = \"2s\", for = \"3s\" }})",
                    i + 1
                ))
            })
        };
        Ok(UserStall {
            at_ns: need("at", self.at)?,
            for_ns: need("for", self.length)?,
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct FileTask {
    name: String,
    kind: String,
    count: Option<u32>,
    weight: Option<u32>,
    nice: Option<i32>,
    cpus: Option<Vec<u32>>,
    start: Option<Dur>,
    exit_after: Option<Dur>,
    run: Option<Dur>,
    sleep: Option<Dur>,
    think: Option<Dur>,
    every: Option<Dur>,
    work: Option<Dur>,
    max: Option<u64>,
}

impl FileWorkload {
    fn into_workload(self) -> Result<Workload, SimError> {
        let s = self.sim;
        let sim = SimOverrides {
            nr_cpus: s.cpus,
            duration_ns: s.duration.map(|d| d.0),
            seed: s.seed,
            idle_fast_path: s.idle_fast_path,
            default_slice_ns: s.slice.map(|d| d.0),
            watchdog_timeout_ns: s.watchdog.map(|d| d.0),
            ring_capacity: s.ring_size,
            dispatch_capacity: s.dispatch_batch,
            sched_wakeup_delay_ns: s.wakeup_delay.map(|d| d.0),
            sched_cost_per_event_ns: s.event_cost.map(|d| d.0),
            sched_cost_per_dispatch_ns: s.dispatch_cost.map(|d| d.0),
            sched_tick_ns: s.tick.map(|d| d.0),
            kernel_tick_ns: s.kernel_tick.map(|d| d.0),
            preempt_min_ns: s.preempt_min.map(|d| d.0),
            task_wakeup_preempt_min_ns: s.task_wakeup_preempt_min.map(|d| d.0),
            direct_wakeup_max_ns: s.direct_wakeup.map(|d| d.0),
            fallback_ns: s.fallback.map(|d| d.0),
            user_stalls: s
                .user_stalls
                .map(|stalls| {
                    stalls
                        .into_iter()
                        .enumerate()
                        .map(|(i, f)| f.into_stall(i))
                        .collect::<Result<_, _>>()
                })
                .transpose()?,
        };
        let tasks = self
            .task
            .into_iter()
            .map(FileTask::into_spec)
            .collect::<Result<_, _>>()?;
        let workload = Workload { tasks, sim };
        workload.validate(workload.sim.nr_cpus.unwrap_or(MAX_CPUS))?;
        Ok(workload)
    }
}

impl FileTask {
    fn into_spec(self) -> Result<TaskSpec, SimError> {
        let name = self.name.clone();
        let bad = |message: String| SimError::Workload {
            entry: name.clone(),
            message,
        };
        let need = |field: &str, v: Option<Dur>| {
            v.map(|d| d.0)
                .ok_or_else(|| bad(format!("kind {:?} needs `{field}`", self.kind)))
        };
        // Fields that only some kinds use: reject them elsewhere so typos in the kind do not go unnoticed.
        let used: &[&str] = match self.kind.as_str() {
            "hog" => &[],
            "periodic" => &["run", "sleep"],
            "interactive" => &["run", "think"],
            "ping-pong" => &["run"],
            "fork" => &["every", "work", "max"],
            other => {
                let kinds = "hog, periodic, interactive, ping-pong or fork";
                return Err(bad(format!("unknown kind {other:?} (expected {kinds})")));
            }
        };
        let present = [
            ("run", self.run.is_some()),
            ("sleep", self.sleep.is_some()),
            ("think", self.think.is_some()),
            ("every", self.every.is_some()),
            ("work", self.work.is_some()),
            ("max", self.max.is_some()),
        ];
        if let Some((field, _)) = present.iter().find(|(f, set)| *set && !used.contains(f)) {
            return Err(bad(format!(
                "`{field}` does not apply to kind {:?}",
                self.kind
            )));
        }
        let kind = match self.kind.as_str() {
            "hog" => TaskKind::Tasks(Behaviour::Hog),
            "periodic" => TaskKind::Tasks(Behaviour::Periodic {
                run_ns: need("run", self.run)?,
                sleep_ns: need("sleep", self.sleep)?,
            }),
            "interactive" => TaskKind::Tasks(Behaviour::Interactive {
                run_ns: need("run", self.run)?,
                think_ns: need("think", self.think)?,
            }),
            "ping-pong" => TaskKind::Tasks(Behaviour::PingPong {
                run_ns: need("run", self.run)?,
            }),
            _ => TaskKind::Fork {
                every_ns: need("every", self.every)?,
                work_ns: need("work", self.work)?,
                max: self.max,
            },
        };
        let weight = match (self.weight, self.nice) {
            (Some(_), Some(_)) => {
                return Err(bad("set either `weight` or `nice`, not both".into()))
            }
            (Some(w), None) => w,
            (None, Some(n)) if (-20..=19).contains(&n) => nice_to_weight(n),
            (None, Some(n)) => return Err(bad(format!("nice {n} is not between -20 and 19"))),
            (None, None) => rustland_core::NICE0_WEIGHT,
        };
        Ok(TaskSpec {
            name: self.name,
            kind,
            count: self.count.unwrap_or(1),
            weight,
            cpus: self.cpus,
            start_ns: self.start.map_or(0, |d| d.0),
            exit_after_ns: self.exit_after.map(|d| d.0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("10ms"), Ok(10_000_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("250us"), Ok(250_000));
        assert_eq!(parse_duration("800 ns"), Ok(800));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("10 parsecs").is_err());
        assert!(parse_duration("ms").is_err());
    }

    #[test]
    fn toml_and_json_give_the_same_workload() {
        let toml = r#"
            [sim]
            cpus = 4
            duration = "2s"
            [[task]]
            name = "hog"
            kind = "hog"
            count = 3
            nice = -5
            [[task]]
            name = "ui"
            kind = "interactive"
            run = "200us"
            think = "5ms"
            cpus = [0, 1]
            [[task]]
            name = "storm"
            kind = "fork"
            every = "1ms"
            work = 300000
            max = 10
        "#;
        let json = r#"{"sim": {"cpus": 4, "duration": "2s"}, "task": [
            {"name": "hog", "kind": "hog", "count": 3, "nice": -5},
            {"name": "ui", "kind": "interactive", "run": "200us", "think": "5ms", "cpus": [0, 1]},
            {"name": "storm", "kind": "fork", "every": "1ms", "work": 300000, "max": 10}]}"#;
        let a = Workload::from_toml(toml).unwrap();
        let b = Workload::from_json(json).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.sim.nr_cpus, Some(4));
        assert_eq!(a.tasks[0].count, 3);
        assert_eq!(a.tasks[0].weight, nice_to_weight(-5));
        assert_eq!(
            a.tasks[2].kind,
            TaskKind::Fork {
                every_ns: 1_000_000,
                work_ns: 300_000,
                max: Some(10)
            }
        );
    }

    #[test]
    fn user_stalls_and_the_fallback_delay_are_read_from_the_sim_table() {
        let w = Workload::from_toml(
            "[sim]\nfallback = \"100ms\"\nuser-stalls = [{ at = \"2s\", for = \"3s\" }, { at = \"6s\", for = 1000 }]",
        )
        .unwrap();
        assert_eq!(w.sim.fallback_ns, Some(100_000_000));
        let stalls = w.sim.user_stalls.clone().unwrap();
        assert_eq!(
            stalls,
            [
                UserStall {
                    at_ns: 2_000_000_000,
                    for_ns: 3_000_000_000
                },
                UserStall {
                    at_ns: 6_000_000_000,
                    for_ns: 1000
                }
            ]
        );
        let mut config = crate::SimConfig::default();
        w.sim.apply(&mut config);
        assert_eq!(config.user_stalls, stalls);
        assert!(config.validate().is_ok());
    }

    #[test]
    fn bad_user_stalls_are_errors_that_name_them() {
        let err = |text: &str| Workload::from_toml(text).unwrap_err().to_string();
        let missing = err("[sim]\nuser-stalls = [{ at = \"2s\" }]");
        assert!(missing.contains("`user-stalls` needs `for`"), "{missing}");
        assert!(
            err("[sim]\nuser-stalls = [{ at = \"2s\", for = \"3 fortnights\" }]").contains("unit")
        );
        assert!(
            err("[sim]\nuser-stalls = [{ at = \"2s\", for = \"1s\", kind = 1 }]").contains("kind")
        );
        assert!(err("[sim]\nuser-stalls = \"2s\"").contains("user-stalls"));
        // Well-formed but inconsistent: the settings' check names them.
        let invalid = |text: &str| {
            let mut config = crate::SimConfig::default();
            Workload::from_toml(text).unwrap().sim.apply(&mut config);
            config.validate().unwrap_err().to_string()
        };
        let overlap = invalid(
            "[sim]\nuser-stalls = [{ at = \"2s\", for = \"3s\" }, { at = \"4s\", for = \"1s\" }]",
        );
        assert!(
            overlap.contains("user-stalls") && overlap.contains("stall 2"),
            "{overlap}"
        );
        let empty = invalid("[sim]\nuser-stalls = [{ at = \"2s\", for = 0 }]");
        assert!(
            empty.contains("user-stalls") && empty.contains("no time"),
            "{empty}"
        );
        let short = invalid("[sim]\nfallback = \"10us\"");
        assert!(short.contains("fallback"), "{short}");
    }

    #[test]
    fn file_errors_name_the_problem() {
        let err = |text: &str| Workload::from_toml(text).unwrap_err().to_string();
        assert!(err("[[task]]\nname = \"a\"\nkind = \"sleepy\"").contains("unknown kind"));
        assert!(
            err("[[task]]\nname = \"a\"\nkind = \"periodic\"\nrun = \"1ms\"")
                .contains("needs `sleep`")
        );
        assert!(
            err("[[task]]\nname = \"a\"\nkind = \"hog\"\nsleep = \"1ms\"")
                .contains("does not apply")
        );
        assert!(err("[[task]]\nname = \"a\"\nkind = \"hog\"\ncolour = 1").contains("colour"));
        assert!(err("[[task]]\nname = \"a\"\nkind = \"hog\"\nweight = 0").contains("weight"));
        assert!(
            err("[[task]]\nname = \"a\"\nkind = \"hog\"\nstart = \"3 fortnights\"")
                .contains("unit")
        );
        assert!(
            err("[sim]\ncpus = 2\n[[task]]\nname = \"a\"\nkind = \"hog\"\ncpus = [5]")
                .contains("cpu 5")
        );
    }
}
