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
