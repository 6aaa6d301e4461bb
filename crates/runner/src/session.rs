//! What the run loop needs from an attached scheduler ([`Session`]) and why attaching can fail ([`AttachError`]).

use rustland_core::{Connector, ExitInfo};

/// A scheduler attached to the kernel: a [`Connector`] that can be detached again.
pub trait Session: Connector + Sized {
    /// What detaching can fail with.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The kernel's debug dump after an error exit, if any.
    fn exit_dump(&self) -> Option<String>;

    /// Detaches the scheduler, returning how the kernel side ended if it recorded an exit.
    fn detach(self) -> Result<Option<ExitInfo>, Self::Error>;
}

/// Why a scheduler could not be attached.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    /// This machine cannot run it (not root, no sched_ext, another scheduler enabled).
    #[error(transparent)]
    Unsupported(Box<dyn std::error::Error + Send + Sync>),
    /// Opening, loading or attaching failed.
    #[error(transparent)]
    Failed(Box<dyn std::error::Error + Send + Sync>),
}
