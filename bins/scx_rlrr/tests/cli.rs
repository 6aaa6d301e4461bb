//! The command-line contract of `scx_rlrr`, checked on the built binary (no kernel support needed).

#[path = "../../tests-common/cli_contract.rs"]
mod contract;

use contract::Bin;

const BIN: Bin = Bin {
    path: env!("CARGO_BIN_EXE_scx_rlrr"),
    name: "scx_rlrr",
    policy_options: &["--quantum-us <US>", "-q", "slice-us"],
    policy_figures: &["expired"],
    bad_policy_args: &[
        (&["--quantum-us", "0"], "--quantum-us"),
        (&["-q", "-5"], "--quantum-us"),
        (&["--quantum-us", "2000000"], "--quantum-us"),
        (&["--slice-us", "1"], "--quantum-us"),
    ],
};

#[test]
fn help_lists_every_option() {
    contract::help_lists_every_option(&BIN);
}

#[test]
fn version_names_binary_framework_and_commit() {
    contract::version_names_binary_framework_and_commit(&BIN);
}

#[test]
fn help_stats_describes_statistics() {
    contract::help_stats_describes_statistics(&BIN);
}

#[test]
fn bad_values_are_usage_errors() {
    contract::bad_values_are_usage_errors(&BIN);
}

#[test]
fn refuses_to_run_without_sched_ext() {
    contract::refuses_to_run_without_sched_ext(&BIN);
}

#[test]
fn refuses_to_run_unprivileged() {
    contract::refuses_to_run_unprivileged(&BIN);
}
