//! Workloads: which tasks exist and how they behave. Built in Rust with [`TaskSpec`] or read from a TOML or JSON
//! file (format in `docs/simulator.md`).

use std::path::Path;

use rustland_core::Weight;
use serde::Deserialize;

use crate::{SimConfig, SimError, MAX_CPUS};

/// What a task does whenever it gets a CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Always runnable: never sleeps (a CPU hog).
    Hog,
    /// Runs `run_ns` of CPU time, then sleeps `sleep_ns`, forever.
    Periodic {
        /// CPU time per period (ns).
        run_ns: u64,
        /// Sleep after each burst (ns).
        sleep_ns: u64,
    },
    /// Runs bursts of `run_ns` ± 50 % (uniform), then sleeps for an exponentially distributed time with mean
    /// `think_ns` (an interactive program waiting for input).
    Interactive {
        /// Mean CPU time per burst (ns).
        run_ns: u64,
        /// Mean sleep between bursts (ns).
        think_ns: u64,
    },
    /// One end of a pipe: runs `run_ns`, wakes its partner, then sleeps until the partner wakes it. Specs of this
    /// kind create tasks in pairs; the first of each pair starts runnable.
    PingPong {
        /// CPU time per turn (ns).
        run_ns: u64,
    },
}

impl Behaviour {
    /// Whether the task never sleeps (used for the fairness index).
    pub fn is_hog(&self) -> bool {
        matches!(self, Behaviour::Hog)
    }
}

/// What one workload entry creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskKind {
    /// `count` tasks (`count` pairs for [`Behaviour::PingPong`]) that exist from `start_ns` on.
    Tasks(Behaviour),
    /// `count` fork streams, each creating a short-lived CPU-bound task every `every_ns`; each child runs
    /// `work_ns` of CPU time and exits.
    Fork {
        /// Interval between two forks of one stream (ns).
        every_ns: u64,
        /// CPU time each child needs before it exits (ns).
        work_ns: u64,
        /// Stop forking after this many children per stream (`None`: until the run ends).
        max: Option<u64>,
    },
}

/// One entry of a [`Workload`]: a group of tasks with the same behaviour and settings.
///
/// ```
/// use rustland_sim::TaskSpec;
/// let ui = TaskSpec::interactive("ui", 200_000, 5_000_000).weight(200).cpus([0]);
/// assert_eq!(ui.weight, 200);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskSpec {
    /// Name: the tasks' comm (truncated to 15 bytes) and the group's name in reports.
    pub name: String,
    /// What the entry creates.
    pub kind: TaskKind,
    /// How many tasks (pairs for ping-pong, fork streams for fork).
    pub count: u32,
    /// Scheduling weight, 1..=10000 (100 = nice 0).
    pub weight: u32,
    /// CPUs the tasks may run on; `None` means all.
    pub cpus: Option<Vec<u32>>,
    /// When the tasks appear (ns of simulated time).
    pub start_ns: u64,
    /// The tasks exit after using this much CPU time (ns); `None`: they live until the end.
    pub exit_after_ns: Option<u64>,
}

impl TaskSpec {
    fn new(name: &str, kind: TaskKind) -> Self {
        TaskSpec {
            name: name.to_string(),
            kind,
            count: 1,
            weight: rustland_core::NICE0_WEIGHT,
            cpus: None,
            start_ns: 0,
            exit_after_ns: None,
        }
    }

    /// A CPU hog.
    pub fn hog(name: &str) -> Self {
        Self::new(name, TaskKind::Tasks(Behaviour::Hog))
    }

    /// A periodic sleeper: `run_ns` of CPU, then `sleep_ns` asleep.
    pub fn periodic(name: &str, run_ns: u64, sleep_ns: u64) -> Self {
        Self::new(
            name,
            TaskKind::Tasks(Behaviour::Periodic { run_ns, sleep_ns }),
        )
    }

    /// An interactive waker: bursts of about `run_ns`, random sleeps with mean `think_ns`.
    pub fn interactive(name: &str, run_ns: u64, think_ns: u64) -> Self {
        Self::new(
            name,
            TaskKind::Tasks(Behaviour::Interactive { run_ns, think_ns }),
        )
    }

    /// A pipe ping-pong pair, each side running `run_ns` per turn.
    pub fn ping_pong(name: &str, run_ns: u64) -> Self {
        Self::new(name, TaskKind::Tasks(Behaviour::PingPong { run_ns }))
    }

    /// A fork stream: a new task every `every_ns`, each running `work_ns` of CPU and exiting.
    pub fn fork(name: &str, every_ns: u64, work_ns: u64) -> Self {
        Self::new(
            name,
            TaskKind::Fork {
                every_ns,
                work_ns,
                max: None,
            },
        )
    }

    /// Sets how many tasks (pairs, streams) the entry creates.
    pub fn count(mut self, count: u32) -> Self {
        self.count = count;
        self
    }

    /// Sets the weight (clamped to 1..=10000 when the simulation starts; 100 = nice 0).
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }

    /// Sets the weight from a nice value (-20..=19), as the kernel maps it.
    pub fn nice(mut self, nice: i32) -> Self {
        self.weight = nice_to_weight(nice);
        self
    }

    /// Restricts the tasks to these CPUs.
    pub fn cpus(mut self, cpus: impl IntoIterator<Item = u32>) -> Self {
        self.cpus = Some(cpus.into_iter().collect());
        self
    }

    /// Makes the tasks appear at `start_ns`.
    pub fn start_ns(mut self, start_ns: u64) -> Self {
        self.start_ns = start_ns;
        self
    }

    /// Makes the tasks exit after `work_ns` of CPU time.
    pub fn exit_after_ns(mut self, work_ns: u64) -> Self {
        self.exit_after_ns = Some(work_ns);
        self
    }

    /// For a fork stream: stop after `max` children.
    pub fn max_forks(mut self, max: u64) -> Self {
        if let TaskKind::Fork { max: m, .. } = &mut self.kind {
            *m = Some(max);
        }
        self
    }

    /// The affinity mask over `nr_cpus` CPUs.
    pub(crate) fn affinity_mask(&self, nr_cpus: u32) -> u64 {
        let all = if nr_cpus >= 64 {
            u64::MAX
        } else {
            (1u64 << nr_cpus) - 1
        };
        match &self.cpus {
            None => all,
            Some(cpus) => cpus
                .iter()
                .filter(|&&c| c < nr_cpus)
                .fold(0, |m, &c| m | (1u64 << c)),
        }
    }

    /// Checks the entry against a machine of `nr_cpus` CPUs.
    pub fn validate(&self, nr_cpus: u32) -> Result<(), SimError> {
        let bad = |message: String| {
            Err(SimError::Workload {
                entry: self.name.clone(),
                message,
            })
        };
        if self.name.is_empty() {
            return bad("the name is empty".into());
        }
        if self.count == 0 {
            return bad("count must be at least 1".into());
        }
        if !(Weight::MIN..=Weight::MAX).contains(&self.weight) {
            return bad(format!(
                "weight {} is not between {} and {}",
                self.weight,
                Weight::MIN,
                Weight::MAX
            ));
        }
        if let Some(cpus) = &self.cpus {
            if cpus.is_empty() {
                return bad("cpus is empty".into());
            }
            if let Some(c) = cpus.iter().find(|&&c| c >= nr_cpus) {
                return bad(format!(
                    "cpu {c} does not exist (the machine has {nr_cpus} CPUs)"
                ));
            }
        }
        if self.exit_after_ns == Some(0) {
            return bad("exit-after must be greater than 0".into());
        }
        let positive = |what: &str, v: u64| {
            if v == 0 {
                Some(format!("{what} must be greater than 0"))
            } else {
                None
            }
        };
        let problem = match self.kind {
            TaskKind::Tasks(Behaviour::Hog) => None,
            TaskKind::Tasks(Behaviour::Periodic { run_ns, .. }) => positive("run", run_ns),
            TaskKind::Tasks(Behaviour::Interactive { run_ns, think_ns }) => {
                positive("run", run_ns).or_else(|| positive("think", think_ns))
            }
            TaskKind::Tasks(Behaviour::PingPong { run_ns }) => positive("run", run_ns),
            TaskKind::Fork {
                every_ns, work_ns, ..
            } => positive("every", every_ns).or_else(|| positive("work", work_ns)),
        };
        match problem {
            Some(message) => bad(message),
            None => Ok(()),
        }
    }
}

/// Converts a nice value (-20..=19, clamped) to sched_ext's weight scale (100 = nice 0), as the kernel does.
pub fn nice_to_weight(nice: i32) -> u32 {
    // The kernel's sched_prio_to_weight table (1024 = nice 0), rescaled to 100 = nice 0 with rounding.
    const PRIO_TO_WEIGHT: [u32; 40] = [
        88761, 71755, 56483, 46273, 36291, 29154, 23254, 18705, 14949, 11916, 9548, 7620, 6100,
        4904, 3906, 3121, 2501, 1991, 1586, 1277, 1024, 820, 655, 526, 423, 335, 272, 215, 172,
        137, 110, 87, 70, 56, 45, 36, 29, 23, 18, 15,
    ];
    let w = PRIO_TO_WEIGHT[(nice.clamp(-20, 19) + 20) as usize];
    ((w * 100 + 512) / 1024).clamp(Weight::MIN, Weight::MAX)
}

/// Simulator settings a workload file may carry in its `[sim]` table; each overrides the corresponding
/// [`SimConfig`] field when set.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimOverrides {
    /// [`SimConfig::nr_cpus`].
    pub nr_cpus: Option<u32>,
    /// [`SimConfig::duration_ns`].
    pub duration_ns: Option<u64>,
    /// [`SimConfig::seed`].
    pub seed: Option<u64>,
    /// [`SimConfig::idle_fast_path`].
    pub idle_fast_path: Option<bool>,
    /// [`SimConfig::default_slice_ns`].
    pub default_slice_ns: Option<u64>,
    /// [`SimConfig::watchdog_timeout_ns`].
    pub watchdog_timeout_ns: Option<u64>,
    /// [`SimConfig::ring_capacity`].
    pub ring_capacity: Option<usize>,
    /// [`SimConfig::dispatch_capacity`].
    pub dispatch_capacity: Option<usize>,
    /// [`SimConfig::sched_wakeup_delay_ns`].
    pub sched_wakeup_delay_ns: Option<u64>,
    /// [`SimConfig::sched_cost_per_event_ns`].
    pub sched_cost_per_event_ns: Option<u64>,
    /// [`SimConfig::sched_cost_per_dispatch_ns`].
    pub sched_cost_per_dispatch_ns: Option<u64>,
    /// [`SimConfig::sched_tick_ns`].
    pub sched_tick_ns: Option<u64>,
    /// [`SimConfig::kernel_tick_ns`].
    pub kernel_tick_ns: Option<u64>,
    /// [`SimConfig::preempt_min_ns`].
    pub preempt_min_ns: Option<u64>,
    /// [`SimConfig::direct_wakeup_max_ns`].
    pub direct_wakeup_max_ns: Option<u64>,
}

impl SimOverrides {
    /// Writes every set field into `config`.
    pub fn apply(&self, config: &mut SimConfig) {
        fn set<T: Copy>(dst: &mut T, src: Option<T>) {
            if let Some(v) = src {
                *dst = v;
            }
        }
        set(&mut config.nr_cpus, self.nr_cpus);
        set(&mut config.duration_ns, self.duration_ns);
        set(&mut config.seed, self.seed);
        set(&mut config.idle_fast_path, self.idle_fast_path);
        set(&mut config.default_slice_ns, self.default_slice_ns);
        set(&mut config.watchdog_timeout_ns, self.watchdog_timeout_ns);
        set(&mut config.ring_capacity, self.ring_capacity);
        set(&mut config.dispatch_capacity, self.dispatch_capacity);
        set(
            &mut config.sched_wakeup_delay_ns,
            self.sched_wakeup_delay_ns,
        );
        set(
            &mut config.sched_cost_per_event_ns,
            self.sched_cost_per_event_ns,
        );
        set(
            &mut config.sched_cost_per_dispatch_ns,
            self.sched_cost_per_dispatch_ns,
        );
        set(&mut config.sched_tick_ns, self.sched_tick_ns);
        set(&mut config.kernel_tick_ns, self.kernel_tick_ns);
        set(&mut config.preempt_min_ns, self.preempt_min_ns);
        set(&mut config.direct_wakeup_max_ns, self.direct_wakeup_max_ns);
    }
}

/// A set of task groups, plus optional simulator settings from a file.
///
/// ```
/// use rustland_sim::{TaskSpec, Workload};
/// let w = Workload::new()
///     .with(TaskSpec::hog("hog").count(4))
///     .with(TaskSpec::periodic("tick", 500_000, 10_000_000).nice(-5));
/// assert_eq!(w.tasks.len(), 2);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Workload {
    /// The task groups, in order (pids are given out in this order).
    pub tasks: Vec<TaskSpec>,
    /// Settings from the file's `[sim]` table (none for a workload built in Rust).
    pub sim: SimOverrides,
}

impl Workload {
    /// An empty workload.
    pub fn new() -> Self {
        Self::default()
    }

    /// The workload with one more task group.
    pub fn with(mut self, spec: TaskSpec) -> Self {
        self.tasks.push(spec);
        self
    }

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

    /// Checks every entry against a machine of `nr_cpus` CPUs.
    pub fn validate(&self, nr_cpus: u32) -> Result<(), SimError> {
        self.tasks.iter().try_for_each(|t| t.validate(nr_cpus))
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
    direct_wakeup: Option<Dur>,
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
            direct_wakeup_max_ns: s.direct_wakeup.map(|d| d.0),
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
    fn nice_maps_like_the_kernel() {
        assert_eq!(nice_to_weight(0), 100);
        assert!(nice_to_weight(-5) > 250 && nice_to_weight(-5) < 350);
        assert_eq!(nice_to_weight(19), 1);
        assert!(nice_to_weight(-20) > nice_to_weight(-19));
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
