//! `cargo xtask ci`: the whole check, as CI runs it.

use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Result};
use clap::Args;

use crate::deps;
use crate::kernel::KERNEL_ENV;
use crate::util;
use crate::vm::{self, VmTestArgs};
use crate::workspace::cargo;

/// Kernels CI boots when none is named: the newest Debian kernel and the
/// 6.18 series (the oldest sched_ext API generation we support there).
const CI_KERNELS: &[&str] = &["latest", "6.18"];

/// Options of `cargo xtask ci`.
#[derive(Args, Debug, Clone, Default)]
pub struct CiArgs {
    /// Skip the VM tests (fmt, clippy and unit tests only).
    #[arg(long)]
    pub no_vm: bool,
    /// Options of the vm-test step. Without --kernel/--kernel-version (and
    /// no $RUSTLAND_KERNEL) CI boots the newest Debian kernel and a 6.18 one.
    #[command(flatten)]
    pub vm_test: VmTestArgs,
}

/// One CI step: runs and reports success.
type Step<'a> = Box<dyn Fn() -> Result<()> + 'a>;

/// Entry point of `cargo xtask ci`: every step runs; the run fails if any did.
pub fn run(args: &CiArgs) -> Result<()> {
    let root = util::workspace_root();
    let cargo_step = |args: &[&str]| -> Result<()> {
        util::run(Command::new(cargo()).args(args).current_dir(&root))
    };
    let mut steps: Vec<(&str, Step<'_>)> = vec![
        ("deps", Box::new(deps::ensure)),
        ("fmt", Box::new(|| cargo_step(&["fmt", "--all", "--check"]))),
        (
            "clippy",
            Box::new(|| {
                cargo_step(&[
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ])
            }),
        ),
        ("test", Box::new(|| cargo_step(&["test", "--workspace"]))),
        (
            "doc",
            Box::new(|| {
                util::run(
                    Command::new(cargo())
                        .args(["doc", "--workspace", "--no-deps"])
                        .env("RUSTDOCFLAGS", "-D warnings")
                        .current_dir(&root),
                )
            }),
        ),
    ];
    let mut vm_test = args.vm_test.clone();
    // CI runs the fault scenarios too (docs/reliability.md).
    vm_test.faults = true;
    let kernel = &mut vm_test.vm.kernel;
    if kernel.kernels.is_empty()
        && kernel.kernel_versions.is_empty()
        && std::env::var_os(KERNEL_ENV).is_none_or(|k| k.is_empty())
    {
        kernel.kernel_versions = CI_KERNELS.iter().map(|k| k.to_string()).collect();
    }
    if !args.no_vm {
        steps.push(("vm-test", Box::new(move || vm::vm_test(&vm_test))));
    }

    let mut results = Vec::new();
    for (name, step) in &steps {
        println!("\n==> ci: {name}");
        let start = Instant::now();
        let result = step();
        if let Err(err) = &result {
            eprintln!("ci: {name} failed: {err:#}");
        }
        results.push((*name, result.is_ok(), start.elapsed()));
    }
    println!("\nci summary:");
    for (name, ok, took) in &results {
        println!(
            "  {:8} {:4}  {:>5.0} s",
            name,
            if *ok { "ok" } else { "FAIL" },
            took.as_secs_f64()
        );
    }
    let failed: Vec<&str> = results
        .iter()
        .filter(|(_, ok, _)| !ok)
        .map(|(name, _, _)| *name)
        .collect();
    if !failed.is_empty() {
        bail!("ci failed: {}", failed.join(", "));
    }
    println!("ci: all steps passed");
    Ok(())
}
