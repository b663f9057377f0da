//! template-registry's configuration, read once at init.
//!
//! | variable | meaning |
//! |---|---|
//! | `TEMPLATES_TABLE` | the template registry |
//! | `WHATSAPP_BUSINESS_ACCOUNT_ID` | the WABA whose template list is loaded (`GET /<WABA_ID>/message_templates`); empty: webhooks only, no load |
//! | `WHATSAPP_ACCESS_TOKEN[_PARAM]`, `GRAPH_API_BASE_URL`, `GRAPH_API_VERSION`, `GRAPH_API_TIMEOUT_MS` | the Graph API, needed only with a WABA id |

use polite_adapters::config::{ConfigError, Env, keys};
use polite_adapters::graph::GraphConfig;
use polite_adapters::secrets::{self, keys as secret};
use secrecy::SecretString;

/// The environment variable naming the WhatsApp Business Account.
pub const WHATSAPP_BUSINESS_ACCOUNT_ID: &str = "WHATSAPP_BUSINESS_ACCOUNT_ID";

/// Everything template-registry needs to start.
#[derive(Debug)]
pub struct Config {
    pub templates_table: String,
    /// The WABA and the Graph API its list is read from, when a WABA id is configured.
    pub catalog: Option<(String, GraphConfig)>,
}

impl Config {
    /// Reads the environment and the access token (from SSM when named there), reporting every
    /// problem at once.
    ///
    /// # Errors
    /// [`ConfigError`] listing each missing or invalid value.
    pub async fn load<F: Fn(&str) -> Option<String>>(
        mut env: Env<F>,
        sdk: &aws_config::SdkConfig,
    ) -> Result<Self, ConfigError> {
        let templates_table = env.required(keys::TEMPLATES_TABLE);
        let waba_id = env.optional(WHATSAPP_BUSINESS_ACCOUNT_ID).filter(|id| !id.trim().is_empty());
        let wanted: &[&'static str] = if waba_id.is_some() { &[secret::WHATSAPP_ACCESS_TOKEN] } else { &[] };
        let graph = waba_id.is_some().then(|| GraphConfig::from_env_without_number(&mut env, SecretString::default()));
        let mut secrets = secrets::finish(env, sdk, wanted).await?;
        let catalog = match (waba_id, graph) {
            (Some(id), Some(graph)) => {
                Some((id, GraphConfig { token: secrets.take(secret::WHATSAPP_ACCESS_TOKEN)?, ..graph }))
            }
            _ => None,
        };
        Ok(Config { templates_table, catalog })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn load(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = Env::from_lookup(|key: &str| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()));
        Config::load(env, &aws_config::SdkConfig::builder().build()).await
    }

    #[tokio::test]
    async fn without_a_waba_id_no_token_is_needed_and_with_one_it_is() {
        let config = load(&[("TEMPLATES_TABLE", "t")]).await.unwrap();
        assert!(config.catalog.is_none());
        let problems = load(&[("TEMPLATES_TABLE", "t"), ("WHATSAPP_BUSINESS_ACCOUNT_ID", "102290129340398")])
            .await
            .unwrap_err()
            .problems
            .join("\n");
        assert!(problems.contains("WHATSAPP_ACCESS_TOKEN"), "{problems}");
        let vars = [
            ("TEMPLATES_TABLE", "t"),
            ("WHATSAPP_BUSINESS_ACCOUNT_ID", "102290129340398"),
            ("WHATSAPP_ACCESS_TOKEN", "tok"),
        ];
        let (waba, graph) = load(&vars).await.unwrap().catalog.unwrap();
        assert_eq!((waba.as_str(), graph.base_url.as_str()), ("102290129340398", "https://graph.facebook.com"));
        assert!(load(&[]).await.unwrap_err().problems.join("\n").contains("TEMPLATES_TABLE"));
    }
}
