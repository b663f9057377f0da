//! polite's domain: who may be messaged, when, and what happened to each message.
//!
//! Pure logic with no AWS, Lambda or async runtime: time comes in as a parameter (`now`),
//! never read inside a decision. The functions and adapters of polite build on these types.

pub mod caps;
pub mod consent;
pub mod gate;
pub mod hours;
pub mod ids;
pub mod message;
pub mod webhook;
pub mod zone;

pub use ids::{BusinessScopedUserId, IdError, WaId};
pub use zone::{IanaZone, UnknownZone, ZoneAssumption, ZoneBasis};
