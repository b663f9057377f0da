//! Typed configuration from the environment, read once at init. Every missing or invalid key
//! is reported at once, so a misconfigured deploy fails with one complete message.

use std::str::FromStr;

/// Environment variable names the deployed template and the local stack both set.
pub mod keys {
    pub const CONTACTS_TABLE: &str = "CONTACTS_TABLE";
    pub const MESSAGES_TABLE: &str = "MESSAGES_TABLE";
    pub const INBOUND_EVENTS_QUEUE_URL: &str = "INBOUND_EVENTS_QUEUE_URL";
    pub const STATUS_EVENTS_QUEUE_URL: &str = "STATUS_EVENTS_QUEUE_URL";
    pub const SEND_QUEUE_URL: &str = "SEND_QUEUE_URL";
    pub const TEMPLATE_EVENTS_QUEUE_URL: &str = "TEMPLATE_EVENTS_QUEUE_URL";
    pub const TEMPLATES_TABLE: &str = "TEMPLATES_TABLE";
    pub const AUDIENCE_BUCKET: &str = "AUDIENCE_BUCKET";
    pub const WEBHOOK_PARKING_QUEUE_URL: &str = "WEBHOOK_PARKING_QUEUE_URL";
    /// The sending policy (quiet hours, caps, …) as JSON: message-sender decides by it; consent-updater keeps echoed sends for its longest cap window.
    pub const SEND_POLICY: &str = "SEND_POLICY";
}

/// What was wrong with the environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration is incomplete: {}", .problems.join("; "))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

/// Collects values and problems; [`Env::finish`] reports every problem together.
#[derive(Debug)]
pub struct Env<F: Fn(&str) -> Option<String>> {
    lookup: F,
    problems: Vec<String>,
}

impl Env<fn(&str) -> Option<String>> {
    /// Reads the process environment.
    pub fn process() -> Self {
        Env { lookup: |k| std::env::var(k).ok(), problems: Vec::new() }
    }
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Reads from any lookup (tests pass a map).
    pub fn from_lookup(lookup: F) -> Self {
        Env { lookup, problems: Vec::new() }
    }

    /// A required, non-empty value.
    pub fn required(&mut self, key: &str) -> String {
        let value = self.optional(key);
        if value.is_none() {
            self.problems.push(format!("{key} is not set"));
        }
        value.unwrap_or_default()
    }

    /// Records a problem found in a value read with [`Env::optional`], reported with the rest.
    pub fn report(&mut self, problem: String) {
        self.problems.push(problem);
    }

    /// An optional value (`None` when unset or empty).
    pub fn optional(&self, key: &str) -> Option<String> {
        (self.lookup)(key).filter(|v| !v.trim().is_empty())
    }

    /// A value parsed with `FromStr`, `default` when unset.
    pub fn parsed<T: FromStr>(&mut self, key: &str, default: T) -> T
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(key) {
            None => default,
            Some(raw) => raw.trim().parse().unwrap_or_else(|e| {
                self.problems.push(format!("{key}={raw:?} is invalid: {e}"));
                default
            }),
        }
    }

    /// A switch written `enabled` or `disabled` (as the template's parameters are), `default`
    /// when unset.
    pub fn switch(&mut self, key: &str, default: bool) -> bool {
        match self.optional(key).as_deref().map(str::trim) {
            None => default,
            Some("enabled") => true,
            Some("disabled") => false,
            Some(other) => {
                self.problems.push(format!("{key}={other:?} is invalid: use enabled or disabled"));
                default
            }
        }
    }

    /// A JSON value (e.g. the sending policy), `default` when unset.
    pub fn json<T: serde::de::DeserializeOwned>(&mut self, key: &str, default: T) -> T {
        match self.optional(key) {
            None => default,
            Some(raw) => serde_json::from_str(&raw).unwrap_or_else(|e| {
                self.problems.push(format!("{key} is not valid: {e}"));
                default
            }),
        }
    }

    /// Ok when every value was present and valid.
    ///
    /// # Errors
    /// [`ConfigError`] listing every problem found.
    pub fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() { Ok(()) } else { Err(ConfigError { problems: self.problems }) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_missing_or_invalid_key_is_reported_at_once() {
        let vars = HashMap::from([("CONTACTS_TABLE", "c"), ("BATCH", "ten"), ("EMPTY", " ")]);
        let mut env = Env::from_lookup(|k| vars.get(k).map(|v| (*v).to_owned()));
        assert_eq!(env.required(keys::CONTACTS_TABLE), "c");
        env.required(keys::MESSAGES_TABLE);
        env.required("EMPTY");
        assert_eq!(env.parsed("BATCH", 10u32), 10);
        assert_eq!(env.parsed("UNSET", 7u32), 7);
        let err = env.finish().unwrap_err();
        assert_eq!(err.problems.len(), 3, "{err}");
        let text = err.to_string();
        assert!(
            text.contains("MESSAGES_TABLE is not set")
                && text.contains("EMPTY is not set")
                && text.contains("BATCH=\"ten\""),
            "{text}"
        );
    }

    #[test]
    fn a_complete_environment_is_ok() {
        let mut env = Env::from_lookup(|_| Some("x".to_owned()));
        env.required(keys::SEND_QUEUE_URL);
        assert!(env.finish().is_ok());
    }

    #[test]
    fn json_values_are_validated() {
        let mut env = Env::from_lookup(|_| Some(r#"{"pair_spacing_seconds":"six"}"#.to_owned()));
        let _policy = env.json("POLITE_POLICY", polite_domain::gate::Policy::default());
        assert!(env.finish().unwrap_err().to_string().contains("POLITE_POLICY is not valid"));
    }
}
