//! Why a request is refused (HTTP 422): the field and what to fix — shared by every check of
//! what a caller sends (messages, campaigns, free-form content).

/// A refused request: the field and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {problem}")]
pub struct Invalid {
    pub field: &'static str,
    pub problem: String,
}

pub(crate) fn invalid(field: &'static str, problem: impl Into<String>) -> Invalid {
    Invalid { field, problem: problem.into() }
}
