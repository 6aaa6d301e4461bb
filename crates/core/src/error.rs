//! Errors of the core crate.

/// An error reported by a [`Connector`](crate::Connector) implementation.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// A system call failed.
    #[error("{op} failed: {source}")]
    Os {
        /// What was being done, e.g. "reading the queued-task ring".
        op: &'static str,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },
    /// The kernel side sent a record user space does not understand.
    #[error("malformed record from the kernel side: {0}")]
    Malformed(String),
    /// Any other failure of the connector.
    #[error(transparent)]
    Other(Box<dyn std::error::Error + Send + Sync + 'static>),
}

/// Why [`RunLoop::run`](crate::RunLoop::run) failed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The connector failed.
    #[error("connector error: {0}")]
    Connector(#[from] ConnectorError),
}

/// A policy or loop setting outside its valid range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {setting}: {value} ({expected})")]
pub struct ConfigError {
    /// The setting's name as a user would type it, e.g. "slice-us".
    pub setting: &'static str,
    /// The rejected value, formatted.
    pub value: String,
    /// What is accepted, e.g. "must be between 100 and 100000".
    pub expected: String,
}

impl ConfigError {
    /// Checks that `value` lies in `min..=max`, naming the setting and its unit in the error.
    pub fn check_range(
        setting: &'static str,
        value: u64,
        min: u64,
        max: u64,
        unit: &str,
    ) -> Result<(), ConfigError> {
        if (min..=max).contains(&value) {
            Ok(())
        } else {
            Err(ConfigError {
                setting,
                value: format!("{value} {unit}"),
                expected: format!("must be between {min} and {max} {unit}"),
            })
        }
    }

    /// Checks that a slice (ns) lies in the bounds every dispatch is held to,
    /// [`Dispatch::MIN_SLICE_NS`](crate::Dispatch::MIN_SLICE_NS)`..=`[`Dispatch::MAX_SLICE_NS`](crate::Dispatch::MAX_SLICE_NS),
    /// so a configured slice is never silently clamped.
    pub fn check_slice(setting: &'static str, slice_ns: u64) -> Result<(), ConfigError> {
        use crate::Dispatch;
        Self::check_range(
            setting,
            slice_ns,
            Dispatch::MIN_SLICE_NS,
            Dispatch::MAX_SLICE_NS,
            "ns",
        )
    }
}
