//! polite's use cases: what each deployed function does, as plain async code over the
//! domain's ports (`polite_domain::ports`). No AWS SDK, no Lambda types: the function crates
//! wire these to the adapters and to their trigger; tests wire them to in-memory fakes.
//!
//! The layers (docs/architecture.md, "Rooms"): functions → app → domain, and
//! adapters → domain; nothing points back up.

pub mod contacts;
pub mod contract;
pub mod fakes;
pub mod inbound;
pub mod intake;
pub mod publish;
pub mod scheduler;
pub mod sending;
pub mod statuses;
pub mod templates;
