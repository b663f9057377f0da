//! The simulator's users as WhatsApp knows them in 2026: every user has a business-scoped user
//! id (BSUID), and a user who adopted a username withholds their phone number from webhooks
//! (`wa_id`/`from`/`recipient_id` empty) — the business then knows them by the BSUID only.
//!
//! Deterministic, like the rest of the simulator: a number's BSUID derives from the number
//! (stable across runs), and a number ending `0077` belongs to a username user.

use polite_domain::WaId;
use polite_domain::ids::stable_hash;
use serde_json::{Value, json};

/// The ending of numbers whose users adopted a username and withhold their phone.
pub const USERNAME_ENDING: &str = "0077";

/// One user, as webhooks show them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimUser {
    /// The number, digits only (the simulator's truth; webhooks may withhold it).
    pub phone: String,
    /// `<region>.<20 digits>`, e.g. `BR.04567812340987654321`.
    pub user_id: String,
    /// `@user0077`-style, for username users.
    pub username: Option<String>,
}

impl SimUser {
    /// The user behind `phone` (digits or E.164).
    pub fn of(phone: &WaId) -> Self {
        let digits = phone.as_str().to_owned();
        let region = phone.main_region().unwrap_or_else(|| "US".to_owned());
        let user_id = format!("{region}.{:020}", stable_hash(&format!("bsuid:{digits}")));
        let username = digits.ends_with(USERNAME_ENDING).then(|| format!("@user{}", &digits[digits.len() - 6..]));
        Self { phone: digits, user_id, username }
    }

    /// Whether webhooks withhold this user's phone number.
    pub fn withholds_phone(&self) -> bool {
        self.username.is_some()
    }

    /// The phone as webhooks show it: `""` when withheld.
    pub fn shown_phone(&self) -> &str {
        if self.withholds_phone() { "" } else { &self.phone }
    }

    /// The user's `contacts[]` entry.
    pub fn contact(&self, name: &str) -> Value {
        let mut profile = json!({"name": name});
        if let Some(username) = &self.username {
            profile["username"] = json!(username);
        }
        json!({"profile": profile, "wa_id": self.shown_phone(), "user_id": self.user_id})
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_id_is_stable_well_formed_and_theirs_alone() {
        let ana = SimUser::of(&WaId::parse("+5511987654321").unwrap());
        assert_eq!(ana, SimUser::of(&WaId::parse("5511987654321").unwrap()));
        assert!(polite_domain::BusinessScopedUserId::parse(&ana.user_id).is_ok(), "{}", ana.user_id);
        assert!(ana.user_id.starts_with("BR."));
        assert_ne!(ana.user_id, SimUser::of(&WaId::parse("+5511987654322").unwrap()).user_id);
        assert!(!ana.withholds_phone());
        assert_eq!(ana.contact("Ana")["wa_id"], "5511987654321");
    }

    #[test]
    fn a_username_user_withholds_their_phone() {
        let user = SimUser::of(&WaId::parse("+5511987650077").unwrap());
        assert_eq!(user.username.as_deref(), Some("@user650077"));
        assert_eq!(user.shown_phone(), "");
        let contact = user.contact("Lia");
        assert_eq!(
            (contact["wa_id"].as_str(), contact["profile"]["username"].as_str()),
            (Some(""), Some("@user650077"))
        );
    }
}
