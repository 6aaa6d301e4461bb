//! Errors of the simulator.

use std::path::PathBuf;

/// Why a simulation could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A setting of [`SimConfig`](crate::SimConfig) is out of range.
    #[error("invalid simulator setting {setting}: {message}")]
    Config {
        /// The setting's name, e.g. "cpus".
        setting: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A task specification of the workload is invalid.
    #[error("invalid workload entry {entry:?}: {message}")]
    Workload {
        /// The entry's name.
        entry: String,
        /// What is wrong with it.
        message: String,
    },
    /// A workload file could not be read.
    #[error("cannot read workload file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A workload file could not be parsed.
    #[error("cannot parse workload file {path}: {message}")]
    Parse {
        /// The file (or `<string>` when parsed from memory).
        path: PathBuf,
        /// The parser's message, with the position when known.
        message: String,
    },
}

/// Why [`simulate`](crate::simulate) failed.
#[derive(Debug, thiserror::Error)]
pub enum RunSimError {
    /// The simulation could not be set up.
    #[error(transparent)]
    Setup(#[from] SimError),
    /// The run loop failed.
    #[error(transparent)]
    Run(#[from] rustland_core::RunError),
}
