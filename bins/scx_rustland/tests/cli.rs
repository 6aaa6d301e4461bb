//! The command-line contract of `scx_rustland`, checked on the built binary (no kernel support needed).

#[path = "../../tests-common/cli_contract.rs"]
#[macro_use]
mod contract;

use contract::Bin;

const BIN: Bin = Bin {
    path: env!("CARGO_BIN_EXE_scx_rustland"),
    name: "scx_rustland",
    policy_options: &[
        "--slice-us <US>",
        "--slice-us-min <US>",
        "--runtime-bonus-us-max <US>",
        "-s",
        "-S",
    ],
    policy_figures: &["tracked", "to_idle", "to_any"],
    bad_policy_args: &[
        (&["--slice-us", "0"], "--slice-us"),
        (&["-s", "-5"], "--slice-us"),
        (&["--slice-us", "18446744073709551616"], "--slice-us"),
        (&["--slice-us-min", "0"], "--slice-us-min"),
        (&["-s", "1000", "-S", "2000"], "--slice-us-min"),
        (
            &["-s", "20000", "--runtime-bonus-us-max", "10000"],
            "--runtime-bonus-us-max",
        ),
        (
            &["--runtime-bonus-us-max", "100000000"],
            "--runtime-bonus-us-max",
        ),
    ],
};

contract_tests!(BIN);
