//! The `--help-stats` text: every statistic with its meaning (from the scx_stats metadata of [`super::Metrics`]),
//! the `--stats` line format, and the names of the policy's own figures.

use std::io::{self, Write};

use super::hub::server_data;
use super::Metrics;

/// Writes the `--help-stats` text: every statistic with its meaning, the `--stats` line format, and the names of
/// the policy's own figures.
pub fn write_help_stats(
    out: &mut dyn Write,
    scheduler: &str,
    policy_figures: &[&str],
) -> io::Result<()> {
    let mut text = Vec::new();
    server_data("help")
        .describe_meta(&mut text, None)
        .map_err(|e| io::Error::other(e.to_string()))?;
    out.write_all(&text)?;
    writeln!(out)?;
    let example = Metrics {
        scheduler: scheduler.to_string(),
        ..Metrics::default()
    }
    .format_line()
    .replace("=0", "=...");
    writeln!(
        out,
        "--stats SECS prints one line per interval, for example:\n  {example} <policy figures>"
    )?;
    if policy_figures.is_empty() {
        writeln!(out, "Policy figures: none")?;
    } else {
        writeln!(out, "Policy figures: {}", policy_figures.join(", "))?;
    }
    writeln!(
        out,
        "The same statistics are served as JSON through the scx_stats protocol; read them with --monitor SECS."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn help_stats_lists_every_field_and_policy_figures() {
        let mut out = Vec::new();
        write_help_stats(&mut out, "scx_x", &["vtime_now", "slice_ns"]).unwrap();
        let text = String::from_utf8(out).unwrap();
        for key in [
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
            "custody",
            "cpus",
            "running",
            "queued",
            "scheduled",
            "exits",
            "pgfaults",
            "restarts",
            "policy",
        ] {
            assert!(
                text.contains(&format!("  {key} ")),
                "{key} missing from:\n{text}"
            );
        }
        assert!(text.contains("must stay 0"));
        assert!(
            text.contains("[scx_x] user=... kernel=... ") && text.contains(" direct=... "),
            "{text}"
        );
        assert!(text.contains("Policy figures: vtime_now, slice_ns"));
    }
}
