//! Command-line options every scheduler binary shares, and parsing that turns bad input into a usage error
//! (exit code 2), never a panic.

use std::fmt::Display;
use std::path::PathBuf;

use clap::{error::ErrorKind, ArgMatches, CommandFactory, Parser};

/// Where the statistics socket lives unless `--stats-socket` says otherwise (the scx_stats default, which the
/// sched_ext tools look at).
pub const DEFAULT_STATS_SOCKET: &str = "/var/run/scx/root/stats";

/// Shortest accepted `--stats`/`--monitor` interval, in seconds.
pub const MIN_INTERVAL_SECS: f64 = 0.1;
/// Longest accepted `--stats`/`--monitor` interval, in seconds.
pub const MAX_INTERVAL_SECS: f64 = 3600.0;
/// Largest accepted `--exit-dump-len`, in bytes.
pub const MAX_EXIT_DUMP_LEN: u32 = 4 << 20;

/// Options shared by every scheduler binary. Flatten it into the binary's own clap parser with
/// `#[command(flatten)]`.
#[derive(Clone, Debug, PartialEq, clap::Args)]
pub struct CommonArgs {
    /// Run the scheduler and print one line of statistics to stdout every SECS seconds.
    #[arg(long, allow_negative_numbers = true, value_name = "SECS", value_parser = parse_interval)]
    pub stats: Option<f64>,

    /// Do not start a scheduler: print the statistics of the one already running every SECS seconds
    /// (read-only client; stop it with Ctrl-C).
    #[arg(long, allow_negative_numbers = true, value_name = "SECS", value_parser = parse_interval, conflicts_with = "stats")]
    pub monitor: Option<f64>,

    /// Describe every statistic and exit.
    #[arg(long)]
    pub help_stats: bool,

    /// Only schedule tasks that asked for SCHED_EXT (sched_setscheduler); every other task stays with the
    /// kernel's default scheduler.
    #[arg(short, long)]
    pub partial: bool,

    /// How many bytes of the kernel's debug dump to print when the scheduler is ejected with an error
    /// (0 = the kernel's default).
    #[arg(long, allow_negative_numbers = true, value_name = "BYTES", default_value_t = 0,
          value_parser = clap::value_parser!(u32).range(0..=i64::from(MAX_EXIT_DUMP_LEN)))]
    pub exit_dump_len: u32,

    /// More log output on stderr: -v debug, -vv trace. RUST_LOG, when set, takes precedence.
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// The UNIX socket on which statistics are served (and which --monitor reads).
    #[arg(long, value_name = "PATH", default_value = DEFAULT_STATS_SOCKET)]
    pub stats_socket: PathBuf,

    /// Direct wakeups: a task woken by an interrupt (a timer, a device) that ran at most US microseconds before it
    /// slept goes straight to its CPU, preempting the task there, without a round trip through user space; the
    /// policy does not see those wakeups. 0 turns them off. Default: the scheduler's own (scx_rustland: 500;
    /// scx_rlfifo, scx_rlrr: 0).
    #[arg(long, allow_negative_numbers = true, value_name = "US", value_parser = parse_direct_wakeup_us)]
    pub direct_wakeup_us: Option<u64>,
}

impl CommonArgs {
    /// The direct-wakeup burst limit in ns: `--direct-wakeup-us` if given, else the scheduler's `default_ns`.
    pub fn direct_wakeup_ns(&self, default_ns: u64) -> u64 {
        self.direct_wakeup_us.map_or(default_ns, |us| us * 1000)
    }

    /// The `--stats` interval as a duration.
    pub fn stats_interval(&self) -> Option<std::time::Duration> {
        self.stats.map(std::time::Duration::from_secs_f64)
    }

    /// The `--monitor` interval as a duration.
    pub fn monitor_interval(&self) -> Option<std::time::Duration> {
        self.monitor.map(std::time::Duration::from_secs_f64)
    }
}

/// Parses a statistics interval in seconds (fractions allowed), within
/// [`MIN_INTERVAL_SECS`]..=[`MAX_INTERVAL_SECS`].
pub fn parse_interval(text: &str) -> Result<f64, String> {
    let secs: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !secs.is_finite() || !(MIN_INTERVAL_SECS..=MAX_INTERVAL_SECS).contains(&secs) {
        return Err(format!(
            "must be between {MIN_INTERVAL_SECS} and {MAX_INTERVAL_SECS} seconds, got {text}"
        ));
    }
    Ok(secs)
}

/// The shortest slice or quantum option a binary accepts (µs): [`Dispatch::MIN_SLICE_NS`](rustland_core::Dispatch::MIN_SLICE_NS).
pub const MIN_SLICE_US: u64 = rustland_core::Dispatch::MIN_SLICE_NS / 1000;
/// The longest slice or quantum option a binary accepts (µs): [`Dispatch::MAX_SLICE_NS`](rustland_core::Dispatch::MAX_SLICE_NS).
pub const MAX_SLICE_US: u64 = rustland_core::Dispatch::MAX_SLICE_NS / 1000;

/// Shortest accepted non-zero `--direct-wakeup-us`, in microseconds (the connector's bound).
pub const MIN_DIRECT_WAKEUP_US: u64 = rustland_core::DIRECT_WAKEUP_MIN_NS / 1000;
/// Longest accepted `--direct-wakeup-us`, in microseconds (the connector's bound).
pub const MAX_DIRECT_WAKEUP_US: u64 = rustland_core::DIRECT_WAKEUP_MAX_NS / 1000;

/// Parses `--direct-wakeup-us`: 0 (off) or [`MIN_DIRECT_WAKEUP_US`]..=[`MAX_DIRECT_WAKEUP_US`].
pub fn parse_direct_wakeup_us(text: &str) -> Result<u64, String> {
    let us: u64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number of microseconds"))?;
    if us != 0 && !(MIN_DIRECT_WAKEUP_US..=MAX_DIRECT_WAKEUP_US).contains(&us) {
        return Err(format!(
            "must be 0 (off) or between {MIN_DIRECT_WAKEUP_US} and {MAX_DIRECT_WAKEUP_US} us, got {text}"
        ));
    }
    Ok(us)
}

/// The framework's version (rustland-core and this crate are released together from one workspace).
pub const FRAMEWORK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// The git commit the binary was built from, or `unknown` outside a git checkout.
pub const GIT_HASH: &str = env!("RUSTLAND_GIT_HASH");

/// The text `-V/--version` prints after the binary's name, e.g. `0.1.0 (rustland-core 0.1.0, git 1a2b3c4d5e6f)`.
pub fn version_string(binary_version: &str) -> String {
    format!("{binary_version} (rustland-core {FRAMEWORK_VERSION}, git {GIT_HASH})")
}

/// Parses the process arguments into `T`, with `-V/--version` showing [`version_string`].
///
/// On bad input this prints clap's error and exits with code 2; `--help` and `--version` print and exit with 0.
pub fn parse<T: Parser>(binary_version: &str) -> T {
    parse_from(std::env::args_os(), binary_version)
}

/// Like [`parse`], from an explicit argument list (the first item is the program name).
pub fn parse_from<T, I, A>(args: I, binary_version: &str) -> T
where
    T: Parser,
    I: IntoIterator<Item = A>,
    A: Into<std::ffi::OsString> + Clone,
{
    match try_parse_from::<T, I, A>(args, binary_version) {
        Ok(parsed) => parsed,
        Err(err) => err.exit(),
    }
}

/// Like [`parse_from`], returning clap's error instead of exiting.
pub fn try_parse_from<T, I, A>(args: I, binary_version: &str) -> Result<T, clap::Error>
where
    T: Parser,
    I: IntoIterator<Item = A>,
    A: Into<std::ffi::OsString> + Clone,
{
    let mut cmd = T::command().version(version_string(binary_version));
    let mut matches: ArgMatches = cmd.try_get_matches_from_mut(args)?;
    T::from_arg_matches_mut(&mut matches).map_err(|err| err.format(&mut cmd))
}

/// Reports invalid input that clap could not check on its own (e.g. two options that contradict each other) the
/// way clap reports its errors, and exits with code 2.
pub fn usage_error<T: CommandFactory>(message: impl Display) -> ! {
    T::command()
        .error(ErrorKind::ValueValidation, message)
        .exit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Parser)]
    #[command(name = "scx_test")]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn parse_ok(args: &[&str]) -> CommonArgs {
        let all = std::iter::once("scx_test").chain(args.iter().copied());
        try_parse_from::<Cli, _, _>(all, "9.9.9").unwrap().common
    }

    fn parse_err(args: &[&str]) -> clap::Error {
        let all = std::iter::once("scx_test").chain(args.iter().copied());
        try_parse_from::<Cli, _, _>(all, "9.9.9").unwrap_err()
    }

    #[test]
    fn defaults() {
        let c = parse_ok(&[]);
        assert_eq!(c.stats, None);
        assert_eq!(c.monitor, None);
        assert!(!c.help_stats && !c.partial);
        assert_eq!(c.exit_dump_len, 0);
        assert_eq!(c.verbose, 0);
        assert_eq!(c.stats_socket, PathBuf::from(DEFAULT_STATS_SOCKET));
    }

    #[test]
    fn every_common_option_parses() {
        let c = parse_ok(&["--stats", "0.5", "-p", "-vv", "--exit-dump-len", "65536"]);
        assert_eq!(c.stats, Some(0.5));
        assert_eq!(
            c.stats_interval(),
            Some(std::time::Duration::from_millis(500))
        );
        assert!(c.partial);
        assert_eq!(c.verbose, 2);
        assert_eq!(c.exit_dump_len, 65536);
        assert_eq!(parse_ok(&["--monitor", "2"]).monitor, Some(2.0));
    }

    #[test]
    fn bad_intervals_are_usage_errors() {
        for bad in ["0", "-1", "nan", "inf", "1e9", "abc", ""] {
            let err = parse_err(&["--stats", bad]);
            assert_eq!(err.exit_code(), 2, "--stats {bad}");
        }
        assert_eq!(parse_err(&["--monitor", "0.01"]).exit_code(), 2);
    }

    #[test]
    fn stats_and_monitor_conflict() {
        let err = parse_err(&["--stats", "1", "--monitor", "1"]);
        assert_eq!(err.kind(), ErrorKind::ArgumentConflict);
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn exit_dump_len_is_bounded() {
        assert_eq!(parse_err(&["--exit-dump-len", "-5"]).exit_code(), 2);
        let too_big = (u64::from(MAX_EXIT_DUMP_LEN) + 1).to_string();
        assert_eq!(parse_err(&["--exit-dump-len", &too_big]).exit_code(), 2);
    }

    #[test]
    fn direct_wakeup_us_is_zero_or_in_range_and_defaults_to_the_schedulers_own() {
        assert_eq!(parse_ok(&[]).direct_wakeup_ns(500_000), 500_000);
        assert_eq!(
            parse_ok(&["--direct-wakeup-us", "0"]).direct_wakeup_ns(500_000),
            0
        );
        assert_eq!(
            parse_ok(&["--direct-wakeup-us", "250"]).direct_wakeup_ns(0),
            250_000
        );
        for bad in ["1", "9", "10001", "-1", "abc", ""] {
            let err = parse_err(&["--direct-wakeup-us", bad]);
            assert_eq!(err.exit_code(), 2, "--direct-wakeup-us {bad}");
        }
    }

    #[test]
    fn version_names_binary_framework_and_commit() {
        let err = parse_err(&["--version"]);
        assert_eq!(err.kind(), ErrorKind::DisplayVersion);
        let text = err.to_string();
        assert!(text.starts_with("scx_test 9.9.9 (rustland-core "), "{text}");
        assert!(text.contains(&format!("git {GIT_HASH}")), "{text}");
        assert!(!GIT_HASH.is_empty());
    }
}
