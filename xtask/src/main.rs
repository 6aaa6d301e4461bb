//! `cargo xtask`: developer tasks for the rustland workspace.
//!
//! The host kernels this project is developed on usually lack sched_ext, so the
//! schedulers are tested inside qemu on a Debian kernel that has it. See the
//! "Running in a VM" section of the README.

mod apt;
mod bench;
mod ci;
mod cpio;
mod deps;
mod initramfs;
mod kernel;
mod qemu;
#[cfg(test)]
mod tidy;
mod util;
mod vm;
mod workspace;

use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

/// Developer tasks for rustland.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Install the Debian packages the build and the VM need (when missing).
    Deps(deps::DepsArgs),
    /// Find (or download) a sched_ext kernel and print where it is.
    Kernel(KernelArgs),
    /// Boot each kernel in qemu and test every bundled scheduler there.
    VmTest(vm::VmTestArgs),
    /// Boot a kernel in qemu and run one scheduler with stats and a demo workload.
    VmRun(vm::VmRunArgs),
    /// Everything CI runs: deps, fmt, clippy, tests, vm-test.
    Ci(ci::CiArgs),
    /// Benchmark every scheduler against the default one in one VM boot (report and plots).
    Bench(bench::BenchArgs),
}

/// Which kernel(s) to boot.
#[derive(Args, Debug, Clone, Default)]
pub struct KernelArgs {
    /// Kernel image to boot (a vmlinuz, or a directory holding `vmlinuz` and
    /// `config`). Repeat for several kernels. Default: $RUSTLAND_KERNEL, else
    /// the host's kernel if it has sched_ext, else the newest Debian
    /// trixie-backports kernel.
    #[arg(long = "kernel", value_name = "PATH")]
    pub kernels: Vec<std::path::PathBuf>,
    /// Download a Debian trixie-backports kernel whose version starts with
    /// this prefix (e.g. `6.18`), or `latest`. Repeat for several kernels.
    #[arg(long = "kernel-version", value_name = "PREFIX")]
    pub kernel_versions: Vec<String>,
}

impl Command {
    /// Whether the command builds the schedulers or boots a VM, so the system packages must be there first
    /// (`ci` checks them as its first step).
    fn needs_packages(&self) -> bool {
        match self {
            Command::Kernel(_) | Command::VmTest(_) | Command::VmRun(_) => true,
            Command::Bench(args) => args.from_log.is_none(),
            Command::Deps(_) | Command::Ci(_) => false,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let preflight = if cli.command.needs_packages() {
        deps::ensure()
    } else {
        Ok(())
    };
    let result = preflight.and_then(|()| match cli.command {
        Command::Deps(args) => deps::run(&args),
        Command::Kernel(args) => kernel::print_kernels(&args),
        Command::VmTest(args) => vm::vm_test(&args),
        Command::VmRun(args) => vm::vm_run(&args),
        Command::Ci(args) => ci::run(&args),
        Command::Bench(args) => bench::run(&args),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("cargo xtask").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    /// CI must be green without retries: every command that boots runs single-threaded TCG unless told otherwise
    /// (multi-threaded TCG faults the guest kernel now and then; docs/reliability.md).
    #[test]
    fn every_vm_command_defaults_to_single_threaded_tcg() {
        let vms = [
            match parse(&["vm-test"]) {
                Command::VmTest(a) => a.vm,
                other => panic!("{other:?}"),
            },
            match parse(&["vm-run", "scx_rlfifo"]) {
                Command::VmRun(a) => a.vm,
                other => panic!("{other:?}"),
            },
            match parse(&["ci"]) {
                Command::Ci(a) => a.vm_test.vm,
                other => panic!("{other:?}"),
            },
            match parse(&["bench"]) {
                Command::Bench(a) => a.vm,
                other => panic!("{other:?}"),
            },
        ];
        assert!(vms.iter().all(vm::VmArgs::single_thread));
        match parse(&["vm-test", "--tcg-threads", "multi"]) {
            Command::VmTest(a) => assert!(!a.vm.single_thread()),
            other => panic!("{other:?}"),
        }
    }
}
