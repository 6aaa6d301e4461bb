//! Workloads: which tasks exist and how they behave. Built in Rust with [`TaskSpec`] or read from a TOML or JSON
//! file ([`crate::file`], format in `docs/simulator.md`).

use rustland_core::Weight;

use crate::{SimConfig, SimError, UserStall};

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
    /// [`SimConfig::task_wakeup_preempt_min_ns`].
    pub task_wakeup_preempt_min_ns: Option<u64>,
    /// [`SimConfig::direct_wakeup_max_ns`].
    pub direct_wakeup_max_ns: Option<u64>,
    /// [`SimConfig::fallback_ns`].
    pub fallback_ns: Option<u64>,
    /// [`SimConfig::user_stalls`].
    pub user_stalls: Option<Vec<UserStall>>,
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
        set(
            &mut config.task_wakeup_preempt_min_ns,
            self.task_wakeup_preempt_min_ns,
        );
        set(&mut config.direct_wakeup_max_ns, self.direct_wakeup_max_ns);
        set(&mut config.fallback_ns, self.fallback_ns);
        if let Some(stalls) = &self.user_stalls {
            config.user_stalls.clone_from(stalls);
        }
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

    /// Checks every entry against a machine of `nr_cpus` CPUs.
    pub fn validate(&self, nr_cpus: u32) -> Result<(), SimError> {
        self.tasks.iter().try_for_each(|t| t.validate(nr_cpus))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_maps_like_the_kernel() {
        assert_eq!(nice_to_weight(0), 100);
        assert!(nice_to_weight(-5) > 250 && nice_to_weight(-5) < 350);
        assert_eq!(nice_to_weight(19), 1);
        assert!(nice_to_weight(-20) > nice_to_weight(-19));
    }
}
