//! Secrets (the app secret, the verify token, the Graph API token…), loaded once at init.
//!
//! In AWS a secret lives in SSM Parameter Store as a SecureString and the function is told its
//! *name* (`<KEY>_PARAM`, e.g. `WHATSAPP_APP_SECRET_PARAM=/polite/whatsapp/app-secret`); all
//! the names a function needs are fetched in one `GetParameters` call (decrypted) during the
//! cold start and kept in memory for the sandbox's life. Locally the value itself is in the
//! environment (`<KEY>`, e.g. `WHATSAPP_APP_SECRET`). Values are `SecretString`s: redacted in
//! `Debug`, zeroised on drop, never logged.

use std::collections::HashMap;

use secrecy::SecretString;

use crate::config::{ConfigError, Env};

/// Secret names the functions use (each also readable as `<NAME>_PARAM`, an SSM name).
pub mod keys {
    pub const WHATSAPP_APP_SECRET: &str = "WHATSAPP_APP_SECRET";
    pub const WHATSAPP_VERIFY_TOKEN: &str = "WHATSAPP_VERIFY_TOKEN";
    /// The Graph API access token (message-sender; consent-updater when confirmations are on).
    pub const WHATSAPP_ACCESS_TOKEN: &str = "WHATSAPP_ACCESS_TOKEN";
    /// Keys the erasure tombstones' hash of a number (consent-updater, message-sender).
    pub const CONTACT_HASH_KEY: &str = "CONTACT_HASH_KEY";
}

/// The suffix naming an SSM parameter instead of a value.
pub const PARAM_SUFFIX: &str = "_PARAM";

/// GetParameters takes at most 10 names per call.
const SSM_BATCH: usize = 10;

/// Loaded secrets by key.
#[derive(Debug)]
pub struct Secrets {
    values: HashMap<&'static str, SecretString>,
}

impl Secrets {
    /// Takes the secret for `key` (each key once).
    ///
    /// # Errors
    /// When `key` was not among those loaded (a wiring bug).
    pub fn take(&mut self, key: &'static str) -> Result<SecretString, ConfigError> {
        self.values.remove(key).ok_or_else(|| ConfigError { problems: vec![format!("secret {key} was not loaded")] })
    }
}

/// Ends configuration loading: loads `keys` (as [`load`]) and reports the environment's
/// problems and the secrets' together, so a function's `Config::load` names everything that
/// is missing in one error.
///
/// # Errors
/// [`ConfigError`] with every problem of `env` and of the secrets.
pub async fn finish<F: Fn(&str) -> Option<String>>(
    env: Env<F>,
    sdk: &aws_config::SdkConfig,
    keys: &[&'static str],
) -> Result<Secrets, ConfigError> {
    let loaded = load(&env, sdk, keys).await;
    let mut problems = env.finish().err().map(|e| e.problems).unwrap_or_default();
    match loaded {
        Ok(secrets) if problems.is_empty() => Ok(secrets),
        Ok(_) => Err(ConfigError { problems }),
        Err(e) => {
            problems.extend(e.problems);
            Err(ConfigError { problems })
        }
    }
}

/// Reads each of `keys`: from SSM when `<KEY>_PARAM` is set (the SDK client is built only
/// then), else from `<KEY>` in the environment. Every problem is reported at once.
///
/// # Errors
/// [`ConfigError`] naming each key that is missing from both places, each SSM parameter that
/// does not exist, or the SSM call's failure.
pub async fn load<F: Fn(&str) -> Option<String>>(
    env: &Env<F>,
    sdk: &aws_config::SdkConfig,
    keys: &[&'static str],
) -> Result<Secrets, ConfigError> {
    let mut values = HashMap::new();
    let mut from_ssm: Vec<(&'static str, String)> = Vec::new();
    let mut problems = Vec::new();
    for &key in keys {
        if let Some(name) = env.optional(&format!("{key}{PARAM_SUFFIX}")) {
            from_ssm.push((key, name.trim().to_owned()));
        } else if let Some(value) = env.optional(key) {
            values.insert(key, SecretString::from(value));
        } else {
            problems
                .push(format!("{key} is not set (give the value, or an SSM parameter name in {key}{PARAM_SUFFIX})"));
        }
    }
    if !from_ssm.is_empty() {
        let client = aws_sdk_ssm::Client::new(sdk);
        for chunk in from_ssm.chunks(SSM_BATCH) {
            let names: Vec<String> = chunk.iter().map(|(_, name)| name.clone()).collect();
            match client.get_parameters().set_names(Some(names)).with_decryption(true).send().await {
                Ok(out) => {
                    for (key, name) in chunk {
                        let found = out.parameters().iter().find(|p| p.name() == Some(name.as_str()));
                        match found.and_then(|p| p.value()) {
                            Some(value) => {
                                values.insert(*key, SecretString::from(value.to_owned()));
                            }
                            None => problems.push(format!("SSM parameter {name} ({key}{PARAM_SUFFIX}) does not exist")),
                        }
                    }
                }
                Err(e) => problems.push(format!(
                    "reading SSM parameters {}: {}",
                    chunk.iter().map(|(_, n)| n.as_str()).collect::<Vec<_>>().join(", "),
                    aws_sdk_ssm::error::DisplayErrorContext(&e)
                )),
            }
        }
    }
    if problems.is_empty() { Ok(Secrets { values }) } else { Err(ConfigError { problems }) }
}
