//! Faults the VM tests (`cargo xtask vm-test --faults`) inject into a scheduler binary's policy through the
//! environment, to check what the framework does when a policy panics or stops making progress. Not user options;
//! unset in normal use.

use std::time::{Duration, Instant};

use rustland_core::{Context, Dispatch, Pid, Policy, QueuedTask};

/// When set to `N`, the policy panics on its `N`-th dispatch, so the tests can check that a panicking policy is
/// caught, the scheduler detached and the panic reported.
pub const TEST_PANIC_ENV: &str = "RUSTLAND_TEST_PANIC_AFTER";

/// When set to `S`, the policy's `pick_next` spins (busy, on the CPU) once, at its first call `S` seconds or more
/// after the policy was made, for [`TEST_SPIN_SECS_ENV`] seconds (10 by default), so the tests can check that the
/// BPF side schedules alone while a live scheduler makes no progress, and that the scheduler takes over again
/// afterwards.
pub const TEST_SPIN_ENV: &str = "RUSTLAND_TEST_SPIN_AT";

/// How long the spin of [`TEST_SPIN_ENV`] lasts, in seconds (1 to 60).
pub const TEST_SPIN_SECS_ENV: &str = "RUSTLAND_TEST_SPIN_SECS";

/// The faults asked for, read from the environment by [`TestFaults::from_env`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TestFaults {
    /// Panic on this dispatch (1-based).
    pub panic_after: Option<u64>,
    /// Spin once this long after the policy was made.
    pub spin_at: Option<Duration>,
    /// How long the spin lasts.
    pub spin_for: Duration,
}

impl TestFaults {
    /// Reads the faults from the environment; an error names the variable and its bad value.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let positive = |name: &str, what: &str| -> Result<Option<u64>, String> {
            match lookup(name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(format!(
                        "{name} must be a positive number of {what}, not `{v}`"
                    )),
                },
            }
        };
        let spin_secs = match lookup(TEST_SPIN_SECS_ENV) {
            None => 10,
            Some(v) => match v.trim().parse::<u64>() {
                Ok(n @ 1..=60) => n,
                _ => {
                    return Err(format!(
                        "{TEST_SPIN_SECS_ENV} must be a number of seconds from 1 to 60, not `{v}`"
                    ))
                }
            },
        };
        Ok(TestFaults {
            panic_after: positive(TEST_PANIC_ENV, "dispatches")?,
            spin_at: positive(TEST_SPIN_ENV, "seconds")?.map(Duration::from_secs),
            spin_for: Duration::from_secs(spin_secs),
        })
    }

    /// `policy` with these faults injected (the policy itself when none is asked for).
    pub fn wrap<P: Policy>(self, policy: P) -> WithTestFaults<P> {
        WithTestFaults {
            policy,
            faults: self,
            dispatches: 0,
            made: Instant::now(),
        }
    }
}

/// A policy with [`TestFaults`] injected; otherwise the policy itself.
pub struct WithTestFaults<P> {
    policy: P,
    faults: TestFaults,
    dispatches: u64,
    made: Instant,
}

impl<P: Policy> Policy for WithTestFaults<P> {
    fn name(&self) -> &'static str {
        self.policy.name()
    }
    fn on_enqueue(&mut self, task: QueuedTask, ctx: &mut Context<'_>) {
        self.policy.on_enqueue(task, ctx)
    }
    fn pick_next(&mut self, ctx: &mut Context<'_>) -> Option<Dispatch> {
        let next = self.policy.pick_next(ctx)?;
        self.dispatches += 1;
        if self.faults.panic_after == Some(self.dispatches) {
            panic!("{TEST_PANIC_ENV} reached: test panic in the policy");
        }
        if self
            .faults
            .spin_at
            .is_some_and(|at| self.made.elapsed() >= at)
        {
            self.faults.spin_at = None;
            let start = Instant::now();
            while start.elapsed() < self.faults.spin_for {
                std::hint::spin_loop();
            }
        }
        Some(next)
    }
    fn on_exit(&mut self, pid: Pid, ctx: &mut Context<'_>) {
        self.policy.on_exit(pid, ctx)
    }
    fn nr_held(&self) -> usize {
        self.policy.nr_held()
    }
    fn metrics(&self, report: &mut dyn FnMut(&'static str, u64)) {
        self.policy.metrics(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(vars: &[(&str, &str)]) -> Result<TestFaults, String> {
        TestFaults::from_lookup(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn nothing_is_injected_unless_asked() {
        assert_eq!(
            faults(&[]).unwrap(),
            TestFaults {
                spin_for: Duration::from_secs(10),
                ..TestFaults::default()
            }
        );
    }

    #[test]
    fn the_variables_are_read_and_bad_values_named() {
        let f = faults(&[(TEST_SPIN_ENV, "20"), (TEST_SPIN_SECS_ENV, "3")]).unwrap();
        assert_eq!(
            (f.spin_at, f.spin_for),
            (Some(Duration::from_secs(20)), Duration::from_secs(3))
        );
        let err = faults(&[(TEST_PANIC_ENV, "0")]).unwrap_err();
        assert!(err.contains(TEST_PANIC_ENV) && err.contains("`0`"), "{err}");
        let err = faults(&[(TEST_SPIN_SECS_ENV, "61")]).unwrap_err();
        assert!(err.contains(TEST_SPIN_SECS_ENV), "{err}");
    }
}
