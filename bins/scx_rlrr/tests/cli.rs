//! The command-line contract of `scx_rlrr`, checked on the built binary (no kernel support needed).

#[path = "../../tests-common/cli_contract.rs"]
#[macro_use]
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

contract_tests!(BIN);
