//! The command-line contract of `scx_rlfifo`, checked on the built binary (no kernel support needed).

#[path = "../../tests-common/cli_contract.rs"]
#[macro_use]
mod contract;

use contract::Bin;

const BIN: Bin = Bin {
    path: env!("CARGO_BIN_EXE_scx_rlfifo"),
    name: "scx_rlfifo",
    policy_options: &["--slice-us <US>", "--slice-us-min <US>", "-s", "-S"],
    policy_figures: &["to_idle", "to_any"],
    bad_policy_args: &[
        (&["--slice-us", "0"], "--slice-us"),
        (&["-s", "-5"], "--slice-us"),
        (&["--slice-us", "5000000"], "--slice-us"),
        (&["--slice-us", "fast"], "--slice-us"),
        (&["--slice-us-min", "9"], "--slice-us-min"),
        (&["-s", "1000", "-S", "2000"], "--slice-us-min"),
    ],
};

contract_tests!(BIN);
