//! The service layer: what a request means for the store, independent of
//! HTTP. Handlers parse and authorise, then call in here; this layer owns
//! the multi-step rules — reserve a quota slot, create, re-check that the
//! tenant still exists and undo if not; delete a tenant in an order that
//! leaves no live token and no orphan; mint tokens no stronger than their
//! parent — and keeps this node's caches in step with every write.

pub mod catalog;
pub mod routing;
pub mod tokens;

use crate::store::StoreError;

/// Why a service call did not happen. The HTTP layer maps each to a status
/// (`http::error`).
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// No such resource (or not the caller's: indistinguishable).
    #[error("not found")]
    NotFound,
    /// A tenant limit would be exceeded.
    #[error("{0}")]
    Quota(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// The request itself is wrong.
    #[error("{0}")]
    Invalid(String),
    /// Signing or encoding failed (never the caller's fault).
    #[error("internal error")]
    Internal,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T> = std::result::Result<T, ServiceError>;
