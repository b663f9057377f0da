//! The template registry: the business's message templates as Meta last described them
//! (status, category, quality), and what that means for a message about to go.
//!
//! Meta decides a template's category — and re-categorises templates after approval — and
//! charges and limits by the category at the time of use. So the category that governs
//! consent, quiet hours, caps and the endpoint is the registry's, not the caller's word; and a
//! template Meta paused or disabled holds its messages instead of burning them on 132015/132016.
//!
//! The registry is fed by the template webhooks (`message_template_status_update`,
//! `template_category_update`, `message_template_quality_update`) and by Meta's template list
//! (`GET /<WABA_ID>/message_templates`). Each aspect (status, category, quality) keeps the time
//! of the update that set it, so a late, older update never overwrites a newer one.

use std::borrow::Cow;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::message::Category;
use crate::placeholders::TemplateShape;
use crate::unix_seconds;

/// A template is named by its name and language (`order_update`, `pt_BR`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct TemplateKey {
    pub name: String,
    pub language: String,
}

impl TemplateKey {
    pub fn new(name: impl Into<String>, language: impl Into<String>) -> Self {
        TemplateKey { name: name.into(), language: language.into() }
    }
}

impl std::fmt::Display for TemplateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.language)
    }
}

/// Meta's category of a template (`MARKETING`, `UTILITY`, `AUTHENTICATION`, any case);
/// `None` for anything else.
pub fn category_of(meta: &str) -> Option<Category> {
    match meta.to_ascii_uppercase().as_str() {
        "MARKETING" => Some(Category::Marketing),
        "UTILITY" => Some(Category::Utility),
        "AUTHENTICATION" => Some(Category::Authentication),
        _ => None,
    }
}

/// How strict a category's rules are: marketing needs marketing consent, utility needs utility
/// or marketing consent, authentication any.
fn strictness(category: Category) -> u8 {
    match category {
        Category::Marketing => 3,
        Category::Utility => 2,
        Category::Authentication => 1,
        Category::Service => 0,
    }
}

/// One template as the registry knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateRecord {
    #[serde(flatten)]
    pub key: TemplateKey,
    /// Meta's template id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Meta's status, upper case as Meta writes it (`APPROVED`, `PAUSED`, `DISABLED`, …);
    /// values polite does not know are kept as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_at: Option<Timestamp>,
    /// Why Meta set the status (`reason` of the webhook), when it said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The latest completed category.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_at: Option<Timestamp>,
    /// An announced re-categorisation (`template_category_update` with `correct_category`)
    /// and when Meta said it takes effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_category: Option<PendingCategory>,
    /// Meta's quality score (`GREEN`, `YELLOW`, `RED`, `UNKNOWN`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quality_at: Option<Timestamp>,
    /// The template's variables, from Meta's list (webhooks do not carry them): what a
    /// send's parameters are checked against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<TemplateShape>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape_at: Option<Timestamp>,
}

/// A re-categorisation Meta announced.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingCategory {
    pub category: Category,
    /// When it takes effect (`category_update_timestamp`).
    pub effective_at: Timestamp,
}

impl TemplateRecord {
    /// A template the registry has no update for yet.
    pub fn new(key: TemplateKey) -> Self {
        TemplateRecord {
            key,
            id: None,
            status: None,
            status_at: None,
            status_reason: None,
            category: None,
            category_at: None,
            pending_category: None,
            quality: None,
            quality_at: None,
            shape: None,
            shape_at: None,
        }
    }

    /// The category that governs a send at `now`: the latest completed one — or an announced
    /// stricter one once its time has come, even before Meta's "completed" update arrives
    /// (Meta charges and limits by the new category from then on).
    pub fn category_at(&self, now: Timestamp) -> Option<Category> {
        let due = self.pending_category.filter(|p| p.effective_at <= now).map(|p| p.category);
        match (self.category, due) {
            (Some(c), Some(d)) if strictness(d) > strictness(c) => Some(d),
            (None, Some(d)) => Some(d),
            (c, _) => c,
        }
    }

    /// Applies an update unless each aspect it sets already holds a newer one; true when a
    /// value changed (an update that only confirms a value still moves its time forward, so
    /// an older update arriving later cannot undo it).
    pub fn apply(&mut self, update: &TemplateUpdate) -> bool {
        let values = |r: &Self| {
            (
                r.status.clone(),
                r.status_reason.clone(),
                r.category,
                r.pending_category,
                r.quality.clone(),
                r.shape.clone(),
            )
        };
        let before = values(self);
        let newer = |held: Option<Timestamp>| held.is_none_or(|held| held <= update.at);
        if let Some(id) = &update.id {
            self.id.get_or_insert_with(|| id.clone());
        }
        if let Some(status) = &update.status
            && newer(self.status_at)
        {
            self.status = Some(status.to_ascii_uppercase());
            self.status_at = Some(update.at);
            self.status_reason = update.reason.clone().filter(|r| !r.is_empty() && r != "NONE");
        }
        if let Some(category) = update.category
            && newer(self.category_at)
        {
            self.category = Some(category);
            self.category_at = Some(update.at);
            if self.pending_category.is_some_and(|p| p.category == category || p.effective_at <= update.at) {
                self.pending_category = None;
            }
        }
        if let Some(pending) = update.pending_category
            && newer(self.category_at)
        {
            self.pending_category = Some(pending);
        }
        if let Some(quality) = &update.quality
            && newer(self.quality_at)
        {
            self.quality = Some(quality.to_ascii_uppercase());
            self.quality_at = Some(update.at);
        }
        if let Some(shape) = &update.shape
            && newer(self.shape_at)
        {
            self.shape = Some(shape.clone());
            self.shape_at = Some(update.at);
        }
        values(self) != before
    }

    /// What the registry says about sending this template at `now`.
    pub fn verdict(&self, now: Timestamp) -> Verdict {
        match self.status.as_deref() {
            None | Some("APPROVED") => Verdict::Send { category: self.category_at(now) },
            // Paused for quality, or still in review: it may come back.
            Some("PAUSED" | "PENDING" | "IN_APPEAL" | "LIMIT_EXCEEDED") => {
                Verdict::Hold { status: self.status.clone().unwrap_or_default() }
            }
            Some(other) => Verdict::Unavailable { status: other.to_owned() },
        }
    }
}

/// What the registry says about a template for a message about to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Approved (or no status known yet): send, under `category` when the registry knows one.
    Send { category: Option<Category> },
    /// Paused (or in review): defer with reason `template_paused` and look again later (the
    /// policy's `paused_template_recheck_seconds`).
    Hold { status: String },
    /// Disabled, rejected, archived, deleted…: suppress with reason `template_unavailable`.
    Unavailable { status: String },
}

/// The reason a message waits for its paused template.
pub const TEMPLATE_PAUSED: &str = "template_paused";
/// The reason a message of a template that cannot be sent is suppressed.
pub const TEMPLATE_UNAVAILABLE: &str = "template_unavailable";

/// What the registry says about a template at `now`: its record's verdict; for a template it
/// does not hold, once the registry has been loaded from Meta's list, that it is not an approved
/// one (`Unavailable`), and before any load nothing (`Send` under the caller's category).
pub fn verdict(record: Option<&TemplateRecord>, loaded: bool, now: Timestamp) -> Verdict {
    match record {
        Some(r) => r.verdict(now),
        None if loaded => Verdict::Unavailable { status: "UNKNOWN".into() },
        None => Verdict::Send { category: None },
    }
}

/// One update to one template, from a webhook or Meta's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateUpdate {
    pub key: TemplateKey,
    pub id: Option<String>,
    pub status: Option<String>,
    pub reason: Option<String>,
    pub category: Option<Category>,
    pub pending_category: Option<PendingCategory>,
    pub quality: Option<String>,
    /// The template's variables (from Meta's list only).
    pub shape: Option<TemplateShape>,
    /// When it happened (the webhook's `entry.time`, a category update's own time, or the
    /// time the list was read).
    pub at: Timestamp,
}

/// The `value` of a template webhook (any of the three fields: Meta's own examples send a
/// quality change on `message_template_status_update`, so the shape decides, not the field).
#[derive(Debug, Clone, Deserialize)]
pub struct TemplateChange<'a> {
    #[serde(default, deserialize_with = "id_text")]
    pub message_template_id: Option<String>,
    #[serde(borrow, default)]
    pub message_template_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub message_template_language: Option<Cow<'a, str>>,
    /// A status change: `APPROVED`, `REJECTED`, `PAUSED`, `DISABLED`, …
    #[serde(borrow, default)]
    pub event: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub reason: Option<Cow<'a, str>>,
    /// The category at a status change.
    #[serde(borrow, default)]
    pub message_template_category: Option<Cow<'a, str>>,
    /// A category change: completed with `previous_category`, announced with `correct_category`.
    #[serde(borrow, default)]
    pub new_category: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub previous_category: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    pub correct_category: Option<Cow<'a, str>>,
    #[serde(with = "unix_seconds::lenient", default)]
    pub category_update_timestamp: Option<Timestamp>,
    /// A quality change.
    #[serde(borrow, default)]
    pub new_quality_score: Option<Cow<'a, str>>,
}

/// Why a template change says nothing the registry can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnreadableChange {
    /// No template name or language.
    NoTemplate,
    /// Neither a status, a category nor a quality.
    NothingToApply,
}

impl TemplateChange<'_> {
    /// The registry update this change makes, dated `at` (the entry's time, else when it
    /// arrived).
    ///
    /// # Errors
    /// [`UnreadableChange`] when it names no template or changes nothing polite keeps.
    pub fn update(&self, at: Timestamp) -> Result<TemplateUpdate, UnreadableChange> {
        let (Some(name), Some(language)) =
            (self.message_template_name.as_deref(), self.message_template_language.as_deref())
        else {
            return Err(UnreadableChange::NoTemplate);
        };
        if name.is_empty() || language.is_empty() {
            return Err(UnreadableChange::NoTemplate);
        }
        let new = self.new_category.as_deref().and_then(category_of);
        let correct = self.correct_category.as_deref().and_then(category_of);
        let (category, pending_category) = match (self.previous_category.is_some(), correct) {
            // Announced: `new_category` is the category now, `correct_category` the one to come.
            (false, Some(coming)) if Some(coming) != new => {
                let effective_at = self.category_update_timestamp.unwrap_or(at);
                (None, Some(PendingCategory { category: coming, effective_at }))
            }
            (false, Some(coming)) => (Some(coming), None),
            _ => (new.or_else(|| self.message_template_category.as_deref().and_then(category_of)), None),
        };
        // A completed change is dated by Meta's own time when it gives one.
        let at =
            if pending_category.is_none() && new.is_some() { self.category_update_timestamp.unwrap_or(at) } else { at };
        let update = TemplateUpdate {
            key: TemplateKey::new(name, language),
            id: self.message_template_id.clone(),
            status: self.event.as_deref().filter(|e| !e.is_empty()).map(str::to_owned),
            reason: self.reason.as_deref().map(str::to_owned),
            category,
            pending_category,
            quality: self.new_quality_score.as_deref().filter(|q| !q.is_empty()).map(str::to_owned),
            shape: None,
            at,
        };
        if update.status.is_none()
            && update.category.is_none()
            && update.pending_category.is_none()
            && update.quality.is_none()
        {
            return Err(UnreadableChange::NothingToApply);
        }
        Ok(update)
    }
}

/// One template of Meta's list (`GET /<WABA_ID>/message_templates`).
#[derive(Debug, Clone, Deserialize)]
pub struct ListedTemplate {
    #[serde(default, deserialize_with = "id_text")]
    pub id: Option<String>,
    pub name: String,
    pub language: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    #[serde(default)]
    pub quality_score: Option<QualityScore>,
    /// The header, body, footer and buttons, with their placeholders.
    #[serde(default)]
    pub components: Vec<serde_json::Value>,
    /// `NAMED` (`{{first_name}}`) or `POSITIONAL` (`{{1}}`, the default).
    #[serde(default)]
    pub parameter_format: Option<String>,
}

/// `quality_score` of a listed template.
#[derive(Debug, Clone, Deserialize)]
pub struct QualityScore {
    #[serde(default)]
    pub score: Option<String>,
}

impl ListedTemplate {
    /// The update the list makes, as read at `at`.
    pub fn update(&self, at: Timestamp) -> TemplateUpdate {
        TemplateUpdate {
            key: TemplateKey::new(&self.name, &self.language),
            id: self.id.clone(),
            status: self.status.clone().filter(|s| !s.is_empty()),
            reason: None,
            category: self.category.as_deref().and_then(category_of),
            pending_category: None,
            quality: self.quality_score.as_ref().and_then(|q| q.score.clone()).filter(|q| !q.is_empty()),
            shape: (!self.components.is_empty())
                .then(|| TemplateShape::from_meta(&self.components, self.parameter_format.as_deref())),
            at,
        }
    }
}

/// Meta writes ids as numbers in webhooks and strings in the Graph API.
fn id_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(d)? {
        Some(serde_json::Value::String(s)) => Some(s),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

/// One page of Meta's template list.
#[derive(Debug, Clone, Default)]
pub struct TemplatePage {
    pub templates: Vec<crate::template::ListedTemplate>,
    /// The cursor of the next page, when there is one.
    pub after: Option<String>,
}

/// Why Meta's template list could not be read.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("Meta refused the template list: {code} {message}")]
    Refused { code: i64, message: String },
    #[error("the template list could not be read")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap()
    }

    fn change(json: &str) -> TemplateUpdate {
        serde_json::from_str::<TemplateChange<'_>>(json).unwrap().update(t(1_000)).unwrap()
    }

    const KEY: &str = r#""message_template_id":278077987957091,"message_template_name":"welcome","message_template_language":"en_US""#;

    #[test]
    fn a_status_webhook_sets_status_and_category() {
        let u =
            change(&format!(r#"{{{KEY},"event":"APPROVED","reason":"NONE","message_template_category":"UTILITY"}}"#));
        let mut r = TemplateRecord::new(u.key.clone());
        assert!(r.apply(&u));
        assert_eq!(
            (r.status.as_deref(), r.category, r.status_reason.as_deref()),
            (Some("APPROVED"), Some(Category::Utility), None)
        );
        assert_eq!(r.id.as_deref(), Some("278077987957091"));
        assert!(!r.apply(&u), "a replay changes nothing");
    }

    #[test]
    fn an_announced_recategorisation_governs_from_its_time_and_a_completed_one_at_once() {
        let announced = change(&format!(
            r#"{{{KEY},"new_category":"UTILITY","correct_category":"MARKETING","category_update_timestamp":2000}}"#
        ));
        assert_eq!(announced.category, None);
        let mut r = TemplateRecord::new(announced.key.clone());
        r.apply(&change(&format!(r#"{{{KEY},"event":"APPROVED","message_template_category":"UTILITY"}}"#)));
        r.apply(&announced);
        assert_eq!(r.category_at(t(1_999)), Some(Category::Utility));
        assert_eq!(r.category_at(t(2_000)), Some(Category::Marketing), "stricter once due");

        let completed = change(&format!(
            r#"{{{KEY},"previous_category":"UTILITY","new_category":"MARKETING","category_update_timestamp":2000}}"#
        ));
        assert_eq!(completed.at, t(2_000));
        r.apply(&completed);
        assert_eq!((r.category, r.pending_category), (Some(Category::Marketing), None));
    }

    #[test]
    fn an_older_update_arriving_late_does_not_overwrite_a_newer_one() {
        let key = TemplateKey::new("welcome", "en_US");
        let mut r = TemplateRecord::new(key.clone());
        let at = |s, status: &str| TemplateUpdate {
            key: key.clone(),
            id: None,
            status: Some(status.into()),
            reason: None,
            category: None,
            pending_category: None,
            quality: None,
            shape: None,
            at: t(s),
        };
        r.apply(&at(2_000, "APPROVED"));
        assert!(!r.apply(&at(1_000, "PAUSED")));
        assert_eq!(r.status.as_deref(), Some("APPROVED"));
        r.apply(&at(3_000, "PAUSED"));
        assert!(matches!(r.verdict(t(3_000)), Verdict::Hold { .. }));
        r.apply(&at(4_000, "DISABLED"));
        assert_eq!(r.verdict(t(4_000)), Verdict::Unavailable { status: "DISABLED".into() });
    }

    #[test]
    fn a_quality_change_on_the_status_field_is_read_by_its_shape() {
        let u = change(&format!(r#"{{{KEY},"previous_quality_score":"GREEN","new_quality_score":"YELLOW"}}"#));
        assert_eq!((u.quality.as_deref(), u.status.as_deref()), (Some("YELLOW"), None));
        let keyonly = format!("{{{KEY}}}");
        let none = serde_json::from_str::<TemplateChange<'_>>(&keyonly).unwrap();
        assert_eq!(none.update(t(1)), Err(UnreadableChange::NothingToApply));
        let nameless = serde_json::from_str::<TemplateChange<'_>>(r#"{"event":"APPROVED"}"#).unwrap();
        assert_eq!(nameless.update(t(1)), Err(UnreadableChange::NoTemplate));
    }

    #[test]
    fn an_unknown_template_is_unavailable_only_once_the_registry_was_loaded() {
        assert_eq!(verdict(None, false, t(1)), Verdict::Send { category: None });
        assert!(matches!(verdict(None, true, t(1)), Verdict::Unavailable { .. }));
    }
}
