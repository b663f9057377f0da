//! Consent: an append-only ledger of events per contact, and the current state derived
//! from it.
//!
//! Every source — a keyword the user texts, the "Stop promotions" button, WhatsApp's own
//! stop/resume control (`user_preferences`), a send failing with 131050, the business's API —
//! becomes a [`ConsentEvent`] with a deterministic id, so the same webhook replayed by Meta
//! (it retries for up to 7 days) is the same event, and one code path ([`ConsentState::apply`])
//! decides what it changes. Ordering is by event time, never arrival time; on a tie, opt-out
//! wins.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

/// The consent categories a business captures (templates are marketing or utility;
/// authentication needs either).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentCategory {
    Marketing,
    Utility,
}

impl ConsentCategory {
    /// Both categories.
    pub const ALL: [ConsentCategory; 2] = [ConsentCategory::Marketing, ConsentCategory::Utility];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketing => "marketing",
            Self::Utility => "utility",
        }
    }
}

/// Opted in or out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentStatus {
    // Order matters: on equal event times the greater status wins, so opt-out is last.
    OptedIn,
    OptedOut,
}

impl ConsentStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OptedIn => "opted_in",
            Self::OptedOut => "opted_out",
        }
    }
}

/// Where a consent event came from. The automatic sources have fixed names; the business
/// API passes its own label (`"web_checkout"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConsentSource(String);

impl ConsentSource {
    /// A keyword the user sent (STOP, START, PARAR…).
    pub const KEYWORD: &'static str = "whatsapp_keyword";
    /// The template's opt-out quick-reply button ("Stop promotions").
    pub const BUTTON: &'static str = "whatsapp_button";
    /// WhatsApp's own stop/resume marketing control (`user_preferences` webhook).
    pub const USER_PREFERENCES: &'static str = "whatsapp_user_preferences";
    /// A send failed with 131050 (the user stopped marketing messages).
    pub const SEND_FAILURE: &'static str = "send_failure_131050";

    /// A label for a business-side capture: 1–100 printable characters.
    pub fn business(label: &str) -> Result<Self, ConsentError> {
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 100 || label.chars().any(char::is_control) {
            return Err(ConsentError::InvalidSource);
        }
        Ok(Self(label.to_owned()))
    }

    fn fixed(name: &'static str) -> Self {
        Self(name.to_owned())
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A consent event was malformed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsentError {
    #[error("source must be 1 to 100 printable characters naming where consent was captured (e.g. \"web_checkout\")")]
    InvalidSource,
    #[error("evidence must be at most 2000 characters")]
    EvidenceTooLong,
}

/// A ledger event id. Derived from the event's origin, so a replay has the same id and the
/// ledger's conditional write makes it a no-op.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EventId(String);

impl EventId {
    /// `ce_` and 32 hex digits of SHA-256 over the parts (unit-separated).
    pub fn derive(parts: &[&str]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update(p.as_bytes());
            h.update([0x1f]);
        }
        let digest = h.finalize();
        Self(format!("ce_{}", hex::encode(&digest[..16])))
    }

    /// An id as stored.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One entry of a contact's consent ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentEvent {
    pub id: EventId,
    pub category: ConsentCategory,
    pub status: ConsentStatus,
    pub source: ConsentSource,
    /// What proves it: the checkbox text and page, the wamid of the user's message…
    pub evidence: Option<String>,
    /// When it happened (event time; orders the ledger).
    pub occurred_at: Timestamp,
    /// When polite recorded it.
    pub recorded_at: Timestamp,
}

/// A `user_preferences` marketing value: WhatsApp's own stop/resume control, or Meta's in-app
/// signup (an opt-in whose evidence is its `signup_id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preference<'a> {
    Stop,
    Resume,
    Signup { signup_id: &'a str },
}

impl ConsentEvent {
    /// A business-side capture through the API. The id covers the contact reference and every
    /// field the caller sent, so retrying the same request records one event.
    pub fn from_business(
        contact: &impl std::fmt::Display,
        category: ConsentCategory,
        status: ConsentStatus,
        source: ConsentSource,
        evidence: Option<String>,
        occurred_at: Timestamp,
        recorded_at: Timestamp,
    ) -> Result<Self, ConsentError> {
        if evidence.as_ref().is_some_and(|e| e.chars().count() > 2000) {
            return Err(ConsentError::EvidenceTooLong);
        }
        let when = occurred_at.to_string();
        let contact = contact.to_string();
        let id = EventId::derive(&[
            "business",
            &contact,
            category.as_str(),
            status.as_str(),
            source.as_str(),
            evidence.as_deref().unwrap_or(""),
            &when,
        ]);
        Ok(Self { id, category, status, source, evidence, occurred_at, recorded_at })
    }

    /// Events for a keyword the user texted, keyed by the message's wamid (one per category:
    /// a STOP revokes every kind of business message, a START restores both).
    pub fn from_keyword(
        intent: KeywordIntent,
        wamid: &str,
        occurred_at: Timestamp,
        recorded_at: Timestamp,
    ) -> Vec<Self> {
        let status = intent.status();
        ConsentCategory::ALL
            .into_iter()
            .map(|category| Self {
                id: EventId::derive(&["keyword", wamid, category.as_str()]),
                category,
                status,
                source: ConsentSource::fixed(ConsentSource::KEYWORD),
                evidence: Some(format!("message {wamid}")),
                occurred_at,
                recorded_at,
            })
            .collect()
    }

    /// A marketing opt-out from the template's opt-out button, keyed by the tap's wamid.
    pub fn from_button(wamid: &str, occurred_at: Timestamp, recorded_at: Timestamp) -> Self {
        Self {
            id: EventId::derive(&["button", wamid]),
            category: ConsentCategory::Marketing,
            status: ConsentStatus::OptedOut,
            source: ConsentSource::fixed(ConsentSource::BUTTON),
            evidence: Some(format!("button tap {wamid}")),
            occurred_at,
            recorded_at,
        }
    }

    /// WhatsApp's own marketing control (`user_preferences`) from the user known as
    /// `identity`. Meta identifies stop/resume by (user, value, timestamp), so the id does too;
    /// a signup by its `signup_id`, which is also its evidence.
    pub fn from_user_preference(
        identity: &str,
        preference: Preference<'_>,
        occurred_at: Timestamp,
        recorded_at: Timestamp,
    ) -> Self {
        let when = occurred_at.as_second().to_string();
        let (status, id, evidence) = match preference {
            Preference::Stop | Preference::Resume => {
                let (status, word) = match preference {
                    Preference::Stop => (ConsentStatus::OptedOut, "stop"),
                    _ => (ConsentStatus::OptedIn, "resume"),
                };
                let id = EventId::derive(&["user_preferences", identity, status.as_str(), &when]);
                (status, id, format!("user_preferences {word}"))
            }
            Preference::Signup { signup_id } => (
                ConsentStatus::OptedIn,
                EventId::derive(&["user_preferences_signup", signup_id]),
                format!("user_preferences signup {signup_id}"),
            ),
        };
        Self {
            id,
            category: ConsentCategory::Marketing,
            status,
            source: ConsentSource::fixed(ConsentSource::USER_PREFERENCES),
            evidence: Some(evidence),
            occurred_at,
            recorded_at,
        }
    }

    /// A marketing opt-out because a send failed with 131050; keyed by the failed message so
    /// duplicate failure statuses record one event.
    pub fn from_send_failure(message_id: &str, occurred_at: Timestamp, recorded_at: Timestamp) -> Self {
        Self {
            id: EventId::derive(&["send_failure_131050", message_id]),
            category: ConsentCategory::Marketing,
            status: ConsentStatus::OptedOut,
            source: ConsentSource::fixed(ConsentSource::SEND_FAILURE),
            evidence: Some(format!("message {message_id} failed with 131050")),
            occurred_at,
            recorded_at,
        }
    }

    /// The order of events: event time, then opt-out over opt-in, then id (so that any two
    /// distinct events compare the same way everywhere).
    fn order_key(&self) -> (Timestamp, ConsentStatus, &EventId) {
        (self.occurred_at, self.status, &self.id)
    }
}

/// The current consent for one category: the winning event's facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CategoryConsent {
    pub status: ConsentStatus,
    /// The winning event's `occurred_at`.
    pub changed_at: Timestamp,
    pub source: ConsentSource,
    pub event_id: EventId,
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The event is now the category's current state.
    Changed,
    /// A newer event (or the same one) already decides the category; the ledger keeps the
    /// event, the state does not move.
    Stale,
}

/// A contact's current consent, derived from the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentState {
    pub marketing: Option<CategoryConsent>,
    pub utility: Option<CategoryConsent>,
}

impl ConsentState {
    /// Folds a ledger (in any order, duplicates included) into the current state.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a ConsentEvent>) -> Self {
        let mut state = Self::default();
        for e in events {
            state.apply(e);
        }
        state
    }

    /// Applies one event: it wins its category when it orders after the current winner.
    /// Order-independent: any sequence of the same events ends in the same state.
    pub fn apply(&mut self, event: &ConsentEvent) -> Applied {
        let slot = match event.category {
            ConsentCategory::Marketing => &mut self.marketing,
            ConsentCategory::Utility => &mut self.utility,
        };
        let newer = slot.as_ref().is_none_or(|cur| (cur.changed_at, cur.status, &cur.event_id) < event.order_key());
        if !newer {
            return Applied::Stale;
        }
        *slot = Some(CategoryConsent {
            status: event.status,
            changed_at: event.occurred_at,
            source: event.source.clone(),
            event_id: event.id.clone(),
        });
        Applied::Changed
    }

    /// Two persons who turned out to be one: per category, the later of the two winners
    /// (opt-out on a tie) — what folding both ledgers together would give.
    pub fn merge(&mut self, other: &ConsentState) {
        let key = |c: &CategoryConsent| (c.changed_at, c.status, c.event_id.clone());
        for (mine, theirs) in [(&mut self.marketing, &other.marketing), (&mut self.utility, &other.utility)] {
            if let Some(theirs) = theirs
                && mine.as_ref().is_none_or(|m| key(m) < key(theirs))
            {
                *mine = Some(theirs.clone());
            }
        }
    }

    /// The current status of `category`, if any event decided it.
    pub fn status(&self, category: ConsentCategory) -> Option<ConsentStatus> {
        let slot = match category {
            ConsentCategory::Marketing => &self.marketing,
            ConsentCategory::Utility => &self.utility,
        };
        slot.as_ref().map(|c| c.status)
    }

    /// Whether `category` is opted in now.
    pub fn is_opted_in(&self, category: ConsentCategory) -> bool {
        self.status(category) == Some(ConsentStatus::OptedIn)
    }
}

/// What a keyword asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeywordIntent {
    OptOut,
    OptIn,
}

impl KeywordIntent {
    fn status(self) -> ConsentStatus {
        match self {
            Self::OptOut => ConsentStatus::OptedOut,
            Self::OptIn => ConsentStatus::OptedIn,
        }
    }
}

/// The words and button payloads that change consent. Configurable and localised; matching
/// is on the whole trimmed message, case- and accent-insensitive ("Arrêt", "ARRET", "arret!"
/// all match `ARRÊT`; "please stop" does not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "KeywordsConfig")]
pub struct ConsentKeywords {
    pub opt_out: Vec<String>,
    pub opt_in: Vec<String>,
    /// The payload the business sets on its templates' "Stop promotions" button.
    pub optout_payload: String,
    /// Button labels that mean the same when a template was sent without a payload (then
    /// WhatsApp reports the label, localised).
    pub optout_button_labels: Vec<String>,
}

impl Default for ConsentKeywords {
    fn default() -> Self {
        let words = |w: &[&str]| w.iter().map(|s| (*s).to_owned()).collect();
        Self {
            opt_out: words(&[
                "STOP",
                "UNSUBSCRIBE",
                "CANCEL",
                "END",
                "QUIT",
                "STOPALL",
                "OPTOUT",
                "REVOKE",
                "PARAR",
                "SAIR",
                "BAJA",
                "ARRÊT",
            ]),
            opt_in: words(&["START", "UNSTOP"]),
            optout_payload: "OPTOUT_MARKETING".to_owned(),
            // "Unsubscribe" is the quick reply of Meta's own button example: a tap on it is as
            // clear a no as "Stop promotions".
            optout_button_labels: words(&[
                "Stop promotions",
                "Parar promoções",
                "Detener promociones",
                "Arrêter les promotions",
                "Unsubscribe",
            ]),
        }
    }
}

/// The keywords as configured: each list given *extends* the defaults (a business adding
/// "HALT" must not lose STOP), unless `replace_defaults` says the lists replace them; a list
/// not given keeps its defaults either way.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct KeywordsConfig {
    opt_out: Option<Vec<String>>,
    opt_in: Option<Vec<String>>,
    optout_payload: Option<String>,
    optout_button_labels: Option<Vec<String>>,
    replace_defaults: bool,
}

impl From<KeywordsConfig> for ConsentKeywords {
    fn from(config: KeywordsConfig) -> Self {
        let defaults = ConsentKeywords::default();
        let merge = |default: Vec<String>, given: Option<Vec<String>>| match given {
            None => default,
            Some(given) if config.replace_defaults => given,
            Some(given) => {
                let mut all = default;
                all.extend(
                    given.into_iter().filter(|w| !all.iter().any(|d| normalize(d) == normalize(w))).collect::<Vec<_>>(),
                );
                all
            }
        };
        ConsentKeywords {
            opt_out: merge(defaults.opt_out, config.opt_out),
            opt_in: merge(defaults.opt_in, config.opt_in),
            optout_payload: config.optout_payload.unwrap_or(defaults.optout_payload),
            optout_button_labels: merge(defaults.optout_button_labels, config.optout_button_labels),
        }
    }
}

impl ConsentKeywords {
    /// What a text message asks for, if it is one of the keywords.
    pub fn classify_text(&self, body: &str) -> Option<KeywordIntent> {
        let text = normalize(body);
        if text.is_empty() {
            return None;
        }
        // Opt-out first: a word configured in both lists must not opt anyone in.
        if self.opt_out.iter().any(|w| normalize(w) == text) {
            Some(KeywordIntent::OptOut)
        } else if self.opt_in.iter().any(|w| normalize(w) == text) {
            Some(KeywordIntent::OptIn)
        } else {
            None
        }
    }

    /// Whether a quick-reply button tap is the marketing opt-out: its payload is the
    /// configured one, or (no payload set) its text is one of the localised labels.
    pub fn is_optout_button(&self, payload: Option<&str>, text: Option<&str>) -> bool {
        if payload.is_some_and(|p| p.trim() == self.optout_payload) {
            return true;
        }
        let Some(label) = text.or(payload).map(normalize) else { return false };
        self.optout_button_labels.iter().any(|l| normalize(l) == label)
    }
}

/// Lower-case, accents removed, surrounding whitespace and punctuation trimmed, inner
/// whitespace collapsed.
fn normalize(s: &str) -> String {
    let stripped: String = s.nfd().filter(|c| !is_combining_mark(*c)).collect::<String>().to_lowercase();
    let trimmed =
        stripped.trim_matches(|c: char| c.is_whitespace() || c.is_ascii_punctuation() || "¡¿“”«»".contains(c));
    trimmed.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn business(status: ConsentStatus, at: &str) -> ConsentEvent {
        ConsentEvent::from_business(
            &crate::WaId::parse("+5511987654321").unwrap(),
            ConsentCategory::Marketing,
            status,
            ConsentSource::business("web_checkout").unwrap(),
            Some("Ticked 'Send me offers on WhatsApp' on /checkout".into()),
            t(at),
            t("2026-06-01T00:00:00Z"),
        )
        .unwrap()
    }

    #[test]
    fn newer_event_wins_regardless_of_arrival_order() {
        let opt_in = business(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z");
        let opt_out = business(ConsentStatus::OptedOut, "2026-05-02T10:00:00Z");
        let mut a = ConsentState::default();
        assert_eq!(a.apply(&opt_out), Applied::Changed);
        assert_eq!(a.apply(&opt_in), Applied::Stale);
        assert_eq!(a, ConsentState::fold([&opt_in, &opt_out]));
        assert_eq!(a.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    }

    #[test]
    fn opt_out_wins_a_tie_on_event_time() {
        let opt_in = business(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z");
        let opt_out = business(ConsentStatus::OptedOut, "2026-05-01T10:00:00Z");
        assert!(!ConsentState::fold([&opt_out, &opt_in]).is_opted_in(ConsentCategory::Marketing));
        assert!(!ConsentState::fold([&opt_in, &opt_out]).is_opted_in(ConsentCategory::Marketing));
    }

    #[test]
    fn the_same_capture_for_two_contacts_is_two_events() {
        let at = t("2026-05-01T10:00:00Z");
        let capture = |n: &str| {
            ConsentEvent::from_business(
                &crate::WaId::parse(n).unwrap(),
                ConsentCategory::Marketing,
                ConsentStatus::OptedIn,
                ConsentSource::business("web").unwrap(),
                None,
                at,
                at,
            )
            .unwrap()
            .id
        };
        assert_ne!(capture("+5511987654321"), capture("+12125551234"));
    }

    #[test]
    fn the_same_event_twice_changes_the_state_once() {
        let opt_in = business(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z");
        let again = business(ConsentStatus::OptedIn, "2026-05-01T10:00:00Z");
        assert_eq!(opt_in.id, again.id, "a retried API call is the same event");
        let mut s = ConsentState::default();
        assert_eq!(s.apply(&opt_in), Applied::Changed);
        assert_eq!(s.apply(&again), Applied::Stale);
    }

    #[test]
    fn replayed_webhook_events_have_the_same_ids() {
        let now = t("2026-06-01T00:00:00Z");
        let at = t("2026-05-01T10:00:00Z");
        assert_eq!(
            ConsentEvent::from_keyword(KeywordIntent::OptOut, "wamid.A", at, now),
            ConsentEvent::from_keyword(KeywordIntent::OptOut, "wamid.A", at, t("2026-06-07T00:00:00Z"))
                .into_iter()
                .map(|mut e| {
                    e.recorded_at = now;
                    e
                })
                .collect::<Vec<_>>()
        );
        assert_eq!(ConsentEvent::from_button("wamid.B", at, now).id, ConsentEvent::from_button("wamid.B", at, now).id);
        assert_ne!(ConsentEvent::from_button("wamid.B", at, now).id, ConsentEvent::from_button("wamid.C", at, now).id);
        assert_eq!(
            ConsentEvent::from_user_preference("5511", Preference::Stop, at, now).id,
            ConsentEvent::from_user_preference("5511", Preference::Stop, at, now).id
        );
        assert_eq!(
            ConsentEvent::from_send_failure("msg_1", at, now).id,
            ConsentEvent::from_send_failure("msg_1", at, now).id
        );
    }

    #[test]
    fn a_stop_keyword_opts_out_of_marketing_and_utility() {
        let events = ConsentEvent::from_keyword(
            KeywordIntent::OptOut,
            "wamid.A",
            t("2026-05-01T10:00:00Z"),
            t("2026-05-01T10:00:01Z"),
        );
        let state = ConsentState::fold(&events);
        assert_eq!(state.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
        assert_eq!(state.status(ConsentCategory::Utility), Some(ConsentStatus::OptedOut));
    }

    #[test]
    fn button_user_preferences_and_131050_opt_out_of_marketing_only() {
        let at = t("2026-05-01T10:00:00Z");
        for e in [
            ConsentEvent::from_button("wamid.B", at, at),
            ConsentEvent::from_user_preference("5511", Preference::Stop, at, at),
            ConsentEvent::from_send_failure("msg_1", at, at),
        ] {
            let s = ConsentState::fold([&e]);
            assert_eq!(s.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut), "{}", e.source.as_str());
            assert_eq!(s.status(ConsentCategory::Utility), None);
        }
    }

    #[test]
    fn resume_after_stop_opts_back_in() {
        let stop = ConsentEvent::from_user_preference(
            "5511",
            Preference::Stop,
            t("2026-05-01T10:00:00Z"),
            t("2026-05-01T10:00:00Z"),
        );
        let resume = ConsentEvent::from_user_preference(
            "5511",
            Preference::Resume,
            t("2026-05-02T10:00:00Z"),
            t("2026-05-02T10:00:00Z"),
        );
        assert!(ConsentState::fold([&resume, &stop]).is_opted_in(ConsentCategory::Marketing));
    }

    #[test]
    fn keywords_match_whole_message_case_and_accent_insensitively() {
        let k = ConsentKeywords::default();
        for text in ["STOP", "stop", "  Stop  ", "Stop!", "arrêt", "ARRET", "Arret.", "parar", "StopAll", "¡BAJA!"] {
            assert_eq!(k.classify_text(text), Some(KeywordIntent::OptOut), "{text}");
        }
        for text in ["START", "unstop", " Start "] {
            assert_eq!(k.classify_text(text), Some(KeywordIntent::OptIn), "{text}");
        }
        for text in ["please stop", "stop it", "stopp", "", "   ", "STOP 🙂 now", "bus stop"] {
            assert_eq!(k.classify_text(text), None, "{text}");
        }
    }

    #[test]
    fn localised_keyword_lists_are_configurable() {
        let k = ConsentKeywords { opt_out: vec!["Cancelar inscrição".into()], ..ConsentKeywords::default() };
        assert_eq!(k.classify_text("cancelar   INSCRICAO"), Some(KeywordIntent::OptOut));
        assert_eq!(k.classify_text("STOP"), None);
    }

    #[test]
    fn a_word_in_both_lists_never_opts_in() {
        let k = ConsentKeywords { opt_in: vec!["STOP".into()], ..ConsentKeywords::default() };
        assert_eq!(k.classify_text("stop"), Some(KeywordIntent::OptOut));
    }

    #[test]
    fn the_optout_button_is_matched_by_payload_then_by_localised_label() {
        let k = ConsentKeywords::default();
        assert!(k.is_optout_button(Some("OPTOUT_MARKETING"), Some("Parar promoções")));
        assert!(k.is_optout_button(Some("OPTOUT_MARKETING"), Some("anything the business wrote")));
        assert!(k.is_optout_button(None, Some("parar promocoes")));
        assert!(k.is_optout_button(Some("Stop promotions"), Some("Stop promotions")));
        assert!(k.is_optout_button(Some("Unsubscribe"), Some("Unsubscribe")), "Meta's example button");
        assert!(!k.is_optout_button(Some("BUY_NOW"), Some("Buy now")));
        assert!(!k.is_optout_button(None, None));
    }

    #[test]
    fn business_sources_and_evidence_are_validated() {
        assert!(ConsentSource::business("").is_err());
        assert!(ConsentSource::business(&"x".repeat(101)).is_err());
        assert!(ConsentSource::business("line\nbreak").is_err());
        let long = Some("e".repeat(2001));
        let r = ConsentEvent::from_business(
            &crate::WaId::parse("+5511987654321").unwrap(),
            ConsentCategory::Utility,
            ConsentStatus::OptedIn,
            ConsentSource::business("crm").unwrap(),
            long,
            t("2026-05-01T10:00:00Z"),
            t("2026-05-01T10:00:00Z"),
        );
        assert_eq!(r, Err(ConsentError::EvidenceTooLong));
    }
}
