//! Unix seconds, sent as a string (`"1763800000"`) by most payloads and as an integer by
//! `user_preferences`; both are accepted, and written back as a string.

use std::fmt;

use jiff::Timestamp;
use serde::Serializer;
use serde::de::{self as de, Deserializer, Visitor};

pub(crate) fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&t.as_second())
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
    d.deserialize_any(Seconds)
}

struct Seconds;

impl Visitor<'_> for Seconds {
    type Value = Timestamp;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Unix seconds as an integer or a string of digits")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
        Timestamp::from_second(v).map_err(E::custom)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
        self.visit_i64(i64::try_from(v).map_err(E::custom)?)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Timestamp, E> {
        self.visit_i64(v.trim().parse().map_err(E::custom)?)
    }
}

/// Unix seconds when they read as such, else `None` (never an error).
pub(crate) mod lenient {
    use super::{Deserializer, Timestamp};
    use serde::Deserialize;

    #[allow(clippy::ref_option, reason = "serde's `with` passes &Option")]
    pub(crate) fn serialize<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        super::option::serialize(t, s)
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(super::deserialize(value).ok())
    }
}

pub(crate) mod option {
    use super::{Deserializer, Timestamp};
    use serde::{Deserialize, Serializer};

    #[allow(clippy::ref_option, reason = "serde's `with` passes &Option")]
    pub(crate) fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => super::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        #[derive(Deserialize)]
        struct Wrap(#[serde(with = "super")] Timestamp);
        Ok(Option::<Wrap>::deserialize(d)?.map(|Wrap(t)| t))
    }
}
