//! polite's domain: who may be messaged, when, and what happened to each message.
//!
//! Pure logic with no AWS, Lambda or async runtime: time comes in as a parameter (`now`),
//! never read inside a decision. The functions and adapters of polite build on these types.

/// `Deserialize` for a type that parses from text (`FromStr`), borrowing the string when the
/// input allows; the parse error becomes the serde error, so invalid values cannot be built.
macro_rules! deserialize_from_str {
    ($($t:ty),+ $(,)?) => {$(
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str> as serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    )+};
}

pub mod audience;
pub mod audience_file;
pub mod campaign;
pub mod caps;
pub mod capture;
pub mod consent;
pub mod consent_import;
pub mod contact;
pub mod content;
pub mod envelope;
pub mod events;
pub mod export;
pub mod gate;
pub mod hours;
pub mod ids;
pub mod inbound;
pub mod invalid;
pub mod local_time;
pub mod message;
pub mod people;
pub mod placeholders;
pub mod ports;
pub mod pricing;
pub mod record;
pub mod request;
pub mod sending;
pub mod status;
pub mod template;
mod unix_seconds;
pub mod webhook;
pub mod whatsapp;
pub mod window;
pub mod zone;

pub use ids::{BusinessScopedUserId, ContactRef, ContactRefError, IdError, WaId};
pub use zone::{IanaZone, UnknownZone, ZoneAssumption, ZoneBasis};
