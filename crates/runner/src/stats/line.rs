//! The `--stats` line ([`Metrics::format_line`]) and the thread that prints one every interval.

use std::io::{self, Write};
use std::time::Duration;

use rustland_core::ShutdownHandle;

use super::{sleep_unless_stopped, Metrics, Snapshot, StatsRequester};

impl Metrics {
    /// The `--stats` line: `[<scheduler>] user=.. kernel=.. cancelled=.. stale=.. bounced=.. congested=.. fallback=..
    /// fb_episodes=.. fb_reclaimed=.. fb_ms=.. fb_last_ms=.. direct=.. batched=.. running=.. queued=.. scheduled=..
    /// custody=.. exits=..
    /// pgfaults=..` followed by the policy's figures.
    pub fn format_line(&self) -> String {
        use std::fmt::Write as _;
        let mut line = format!(
            "[{}] user={} kernel={} cancelled={} stale={} bounced={} congested={} fallback={} fb_episodes={} fb_reclaimed={} fb_ms={} \
             fb_last_ms={} direct={} batched={} running={} queued={} scheduled={} custody={} exits={} pgfaults={}",
            self.scheduler,
            self.user,
            self.kernel,
            self.cancelled,
            self.stale,
            self.bounced,
            self.congested,
            self.fallback,
            self.fb_episodes,
            self.fb_reclaimed,
            self.fb_ms,
            self.fb_last_ms,
            self.direct,
            self.batched,
            self.running,
            self.queued,
            self.scheduled,
            self.custody,
            self.exits,
            self.pgfaults,
        );
        for (key, value) in &self.policy {
            let _ = write!(line, " {key}={value}");
        }
        line
    }
}

/// The `--stats` printer: every `every` until `stop` is requested, asks the scheduler thread for a snapshot and
/// prints the line for the interval since the previous one on stdout.
pub(super) fn print_loop(
    scheduler: &'static str,
    every: Duration,
    stop: &ShutdownHandle,
    mut requester: StatsRequester,
) {
    let mut prev: Option<Snapshot> = None;
    let stdout = io::stdout();
    while sleep_unless_stopped(every, stop) {
        // Wait for the scheduler thread to answer (it may be between runs, e.g. restarting), without outliving a
        // stop request.
        let Some(cur) = requester.ask(Some(stop)) else {
            return;
        };
        let line = Metrics::between(scheduler, prev.as_ref(), &cur).format_line();
        prev = Some(cur);
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustland_core::Counters;

    #[test]
    fn line_has_the_contract_keys_in_order_then_policy_figures() {
        let mut s = Snapshot {
            counters: Counters {
                user_dispatches: 4,
                nr_running: 1,
                ..Counters::default()
            },
            exits: 2,
            nr_cpus: 2,
            ..Snapshot::default()
        };
        s.counters.kernel_dispatches = 8;
        s.policy.push("zeta", 3);
        s.policy.push("alpha", 1);
        let line = Metrics::between("scx_rlfifo", None, &s).format_line();
        let mut tokens = line.split(' ');
        assert_eq!(tokens.next(), Some("[scx_rlfifo]"));
        let keys: Vec<&str> = tokens
            .map(|t| t.split_once('=').expect("key=value").0)
            .collect();
        assert_eq!(
            keys,
            [
                "user",
                "kernel",
                "cancelled",
                "stale",
                "bounced",
                "congested",
                "fallback",
                "fb_episodes",
                "fb_reclaimed",
                "fb_ms",
                "fb_last_ms",
                "direct",
                "batched",
                "running",
                "queued",
                "scheduled",
                "custody",
                "exits",
                "pgfaults",
                "alpha",
                "zeta"
            ]
        );
        assert!(line.contains(" user=4 kernel=8 "), "{line}");
    }
}
