//! polite's events out: what the business's other systems (CRM, shop, support inbox,
//! chatbot) learn from it, on its EventBridge bus (`source` [`SOURCE`]).
//!
//! Each [`Event`] has a `detail-type` ([`DetailType`]) and a `detail` that always carries
//! `version` ([`VERSION`]), a stable `id` (the same fact always gets the same id, so a consumer
//! de-duplicates the at-least-once delivery by it), `occurred_at` and, except for
//! `campaign.completed`, the person (`contact`). An optional field without a value is absent,
//! never `null`. The ids derive from what the fact is (a
//! wamid, a consent ledger entry, a message's history position…) through SHA-256, so no
//! identifier that encodes a phone number shows in an id. The JSON Schema of every detail is
//! in `docs/events/`.

use std::collections::BTreeMap;

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;
use sha2::Digest as _;

use crate::ContactRef;
use crate::consent::ConsentEvent;
use crate::people::Identities;

/// The events' `source`.
pub const SOURCE: &str = "polite";

/// The version of every `detail` this code writes: a change a consumer could trip on (a
/// field removed or retyped) gets a new version; new fields do not.
pub const VERSION: u32 = 1;

/// The kinds of event (their EventBridge `detail-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DetailType {
    /// A person wrote, tapped or called (any field: `messages`, `standby`, `calls`).
    InboundMessage,
    /// The person's current consent for a category changed.
    ConsentChanged,
    /// A message moved to `sent`, `delivered`, `read`, `failed`, `suppressed`, `expired` or
    /// `cancelled`.
    MessageStateChanged,
    /// The last message of a campaign reached a final state.
    CampaignCompleted,
    /// Two identities were found to be one person.
    ContactIdentityLinked,
    /// A person was erased.
    ContactErased,
}

impl DetailType {
    pub const ALL: [DetailType; 6] = [
        Self::InboundMessage,
        Self::ConsentChanged,
        Self::MessageStateChanged,
        Self::CampaignCompleted,
        Self::ContactIdentityLinked,
        Self::ContactErased,
    ];

    /// The kind named `name` (its `detail-type`).
    pub fn parse(name: &str) -> Option<DetailType> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InboundMessage => "inbound.message",
            Self::ConsentChanged => "consent.changed",
            Self::MessageStateChanged => "message.state_changed",
            Self::CampaignCompleted => "campaign.completed",
            Self::ContactIdentityLinked => "contact.identity_linked",
            Self::ContactErased => "contact.erased",
        }
    }
}

impl Serialize for DetailType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// The person an event is about, by every identity polite knows for them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventContact {
    /// polite's id of the person (the identity it is stored under).
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wa_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl EventContact {
    /// The person stored under `id`, by their current phone number and user id.
    pub fn of(id: &ContactRef, identities: &Identities) -> EventContact {
        let mut contact = EventContact::named(id);
        if let Some(phone) = identities.phone() {
            contact.wa_id = Some(phone.to_string());
        }
        if let Some(user) = identities.user_id() {
            contact.user_id = Some(user.to_string());
        }
        contact
    }

    /// A person known only by the identity `id` (a message's recipient).
    pub fn named(id: &ContactRef) -> EventContact {
        let (wa_id, user_id) = match id {
            ContactRef::Phone(p) => (Some(p.to_string()), None),
            ContactRef::User(u) => (None, Some(u.to_string())),
        };
        EventContact { id: id.to_string(), wa_id, user_id }
    }
}

/// One event: its `detail-type` and `detail` (an object with `version`, `id`, `occurred_at`
/// and the kind's own fields).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    #[serde(rename = "detail-type")]
    pub detail_type: DetailType,
    pub detail: Value,
}

impl Event {
    /// The detail's stable id.
    pub fn id(&self) -> &str {
        self.detail["id"].as_str().unwrap_or_default()
    }

    fn new(detail_type: DetailType, id: &str, occurred_at: Timestamp, fields: Value) -> Event {
        let mut detail = serde_json::json!({"version": VERSION, "id": id, "occurred_at": occurred_at});
        // An optional field without a value is left out, never `null`: a consumer tests for
        // presence only.
        if let (Some(out), Value::Object(fields)) = (detail.as_object_mut(), fields) {
            out.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
        }
        Event { detail_type, detail }
    }

    /// A person wrote, tapped or called: `element` is the `messages[]`, `standby` message or
    /// `calls[]` element exactly as Meta sent it, `kind` its `type`, `wamid` its id (the
    /// event's identity: a retried webhook gives the same event).
    pub fn inbound_message(
        contact: &EventContact,
        wamid: &str,
        kind: &str,
        element: &Value,
        phone_number_id: Option<&str>,
        window_open_until: Option<Timestamp>,
        occurred_at: Timestamp,
    ) -> Event {
        let fields = serde_json::json!({
            "contact": contact,
            "type": kind,
            "message": element,
            "phone_number_id": phone_number_id,
            "window_open_until": window_open_until,
        });
        Event::new(DetailType::InboundMessage, &stable_id(&["inbound.message", wamid]), occurred_at, fields)
    }

    /// The person's current consent changed to `entry` (a ledger entry; its id is the
    /// event's, so a redelivered change is the same event).
    pub fn consent_changed(contact: &EventContact, entry: &ConsentEvent) -> Event {
        let fields = serde_json::json!({
            "contact": contact,
            "category": entry.category.as_str(),
            "status": entry.status.as_str(),
            "source": entry.source.as_str(),
            "evidence": entry.evidence,
        });
        let id = stable_id(&["consent.changed", &entry.id.to_string()]);
        Event::new(DetailType::ConsentChanged, &id, entry.occurred_at, fields)
    }

    /// Message `change.message_id` reached `change.state`; `change.step` is the position of
    /// that move in the message's history, so the same move is always the same event and a
    /// state reached twice (sent again after Meta's "not today") is two.
    pub fn message_state_changed(contact: &EventContact, change: &StateChange) -> Event {
        let step = change.step.to_string();
        let id = stable_id(&["message.state_changed", &change.message_id, &step]);
        let fields = serde_json::json!({
            "contact": contact,
            "message_id": change.message_id,
            "campaign_id": change.campaign_id,
            "state": change.state,
            "reason": change.reason,
            "error": change.error,
            "pricing": change.pricing,
        });
        Event::new(DetailType::MessageStateChanged, &id, change.at, fields)
    }

    /// `message.state_changed` for `record` having entered its state by `entry`, when the state
    /// is one the business hears about.
    pub fn of_move(record: &crate::record::MessageRecord, entry: &crate::message::HistoryEntry) -> Option<Event> {
        let state = record.state.as_str();
        if !REPORTED_STATES.contains(&state) {
            return None;
        }
        let step = record.history.iter().rposition(|h| h == entry).unwrap_or(record.history.len());
        let change = StateChange {
            message_id: record.id.clone(),
            campaign_id: record.campaign_id.clone(),
            state: state.to_owned(),
            reason: record.reason.clone(),
            error: record.error.clone(),
            pricing: record.pricing.clone(),
            step,
            at: entry.at,
        };
        Some(Self::message_state_changed(&EventContact::named(&record.to), &change))
    }

    /// Campaign `campaign_id`'s last message reached a final state; `counts` per state.
    pub fn campaign_completed(campaign_id: &str, counts: &BTreeMap<String, i64>, at: Timestamp) -> Event {
        let fields = serde_json::json!({"campaign_id": campaign_id, "counts": counts});
        Event::new(DetailType::CampaignCompleted, &stable_id(&["campaign.completed", campaign_id]), at, fields)
    }

    /// `identities` (phone numbers, user ids) were found to be one person.
    pub fn identity_linked(contact: &EventContact, identities: &[String], at: Timestamp) -> Event {
        let mut sorted = identities.to_vec();
        sorted.sort();
        sorted.dedup();
        let mut parts = vec!["contact.identity_linked"];
        parts.extend(sorted.iter().map(String::as_str));
        let fields = serde_json::json!({"contact": contact, "identities": sorted});
        Event::new(DetailType::ContactIdentityLinked, &stable_id(&parts), at, fields)
    }

    /// A person was erased: named only by the keyed hashes polite keeps (its erasure
    /// tombstones), never an identity in clear.
    pub fn contact_erased(hashes: &[String], at: Timestamp) -> Event {
        let mut sorted = hashes.to_vec();
        sorted.sort();
        let mut parts = vec!["contact.erased"];
        parts.extend(sorted.iter().map(String::as_str));
        let fields = serde_json::json!({"contact": {"hashes": sorted}});
        Event::new(DetailType::ContactErased, &stable_id(&parts), at, fields)
    }
}

/// A message's move, as `message.state_changed` tells it.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChange {
    pub message_id: String,
    pub campaign_id: Option<String>,
    pub state: String,
    pub reason: Option<String>,
    pub error: Option<crate::message::SendError>,
    pub pricing: Option<crate::pricing::PricingRecord>,
    /// The move's position in the message's history.
    pub step: usize,
    pub at: Timestamp,
}

/// The states `message.state_changed` reports (the ones a business acts on).
pub const REPORTED_STATES: [&str; 7] = ["sent", "delivered", "read", "failed", "suppressed", "expired", "cancelled"];

/// `evt_` and 32 hex digits of the SHA-256 of `parts` (length-prefixed, so no two part lists
/// collide).
fn stable_id(parts: &[&str]) -> String {
    let mut hash = sha2::Sha256::new();
    for part in parts {
        hash.update(u64::try_from(part.len()).unwrap_or(u64::MAX).to_be_bytes());
        hash.update(part.as_bytes());
    }
    format!("evt_{}", &hex::encode(hash.finalize())[..32])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at() -> Timestamp {
        "2026-12-02T10:00:00Z".parse().unwrap()
    }

    fn ana() -> EventContact {
        EventContact { id: "5511987654321".into(), wa_id: Some("5511987654321".into()), user_id: None }
    }

    #[test]
    fn the_same_fact_is_the_same_event_and_ids_never_show_a_number() {
        let element =
            serde_json::json!({"from": "5511987654321", "id": "wamid.HBgN", "type": "text", "text": {"body": "Oi"}});
        let once = Event::inbound_message(&ana(), "wamid.HBgN", "text", &element, Some("700"), None, at());
        let again = Event::inbound_message(&ana(), "wamid.HBgN", "text", &element, Some("700"), None, at());
        assert_eq!(once, again, "a retried webhook is the same event");
        assert!(once.id().starts_with("evt_") && once.id().len() == 36);
        assert!(!once.id().contains("5511") && !once.id().contains("HBgN"));
        let other = Event::campaign_completed("cmp_1", &BTreeMap::new(), at());
        assert_ne!(once.id(), other.id());
        assert_ne!(stable_id(&["ab", "c"]), stable_id(&["a", "bc"]), "parts do not run together");
    }

    #[test]
    fn an_inbound_message_carries_the_element_as_meta_sent_it() {
        let element = serde_json::json!({"from": "5511987654321", "id": "wamid.X", "type": "button",
            "button": {"payload": "STOP", "text": "Stop promotions"}, "unknown_new_field": [1]});
        let until: Timestamp = "2026-12-03T10:00:00Z".parse().unwrap();
        let event = Event::inbound_message(&ana(), "wamid.X", "button", &element, Some("700"), Some(until), at());
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["detail-type"], "inbound.message");
        let d = &json["detail"];
        assert_eq!((d["version"].as_u64(), d["type"].as_str()), (Some(1), Some("button")));
        assert_eq!(d["message"], element);
        assert_eq!(d["contact"], serde_json::json!({"id": "5511987654321", "wa_id": "5511987654321"}));
        assert_eq!(
            (d["occurred_at"].as_str(), d["window_open_until"].as_str()),
            (Some("2026-12-02T10:00:00Z"), Some("2026-12-03T10:00:00Z"))
        );
    }

    #[test]
    fn a_state_reached_twice_is_two_events_and_the_same_move_one() {
        let change = StateChange {
            message_id: "msg_1".into(),
            campaign_id: Some("cmp_1".into()),
            state: "sent".into(),
            reason: None,
            error: None,
            pricing: None,
            step: 3,
            at: at(),
        };
        let first = Event::message_state_changed(&ana(), &change);
        assert_eq!(first, Event::message_state_changed(&ana(), &change.clone()));
        let again = Event::message_state_changed(&ana(), &StateChange { step: 6, ..change });
        assert_ne!(first.id(), again.id());
        assert_eq!(first.detail["campaign_id"], "cmp_1");
    }

    #[test]
    fn identities_link_in_any_order_to_one_event_and_erasure_names_only_hashes() {
        let a = Event::identity_linked(&ana(), &["US.1".into(), "5511987654321".into()], at());
        let b = Event::identity_linked(&ana(), &["5511987654321".into(), "US.1".into(), "US.1".into()], at());
        assert_eq!(a, b);
        let erased = Event::contact_erased(&["h2".into(), "h1".into()], at());
        assert_eq!(erased.detail["contact"], serde_json::json!({"hashes": ["h1", "h2"]}));
        assert!(erased.detail.get("wa_id").is_none());
    }
}
