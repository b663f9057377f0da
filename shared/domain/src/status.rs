//! A status webhook in polite's terms, for status-processor: which message it is about, what
//! it says, the error and pricing it carries, and what its error means for the contact.
//!
//! Pure: the webhook model (`webhook::Status`) in, a [`StatusReport`] out. Applying it — the
//! status lattice, counters, opt-outs — happens in the stores and consent rules.

use jiff::Timestamp;

use crate::ContactRef;
use crate::message::{SendError, StatusValue};
use crate::pricing::PricingRecord;
use crate::webhook::Status;
use crate::whatsapp::CONFIRMATION_CALLBACK_PREFIX;

/// Which message a status is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// polite's message id, echoed in `biz_opaque_callback_data` (the sender sets it).
    Message(String),
    /// No callback data: only the wamid, which polite records when Meta accepts a message.
    /// Unknown wamids are messages another system sent on the same number.
    Wamid(String),
    /// A consent confirmation reply (consent-updater's, callback data
    /// `polite-confirmation:<wamid>`): not a message polite tracks, dropped knowingly.
    Confirmation,
}

/// What a status's error means beyond the message itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// 131050: the user stopped marketing messages — a marketing opt-out through the consent
    /// rules.
    OptOutMarketing,
    /// 131026: the number cannot receive WhatsApp messages — the contact is marked
    /// undeliverable for a while and the gate suppresses until then.
    Undeliverable,
    /// 130403: the business blocked this person — the contact is marked `blocked` and the
    /// gate suppresses until the person writes in (a blocked person cannot).
    Blocked,
}

impl Effect {
    /// What an error code of Meta's (on a failed status or a refused send) means for the
    /// contact.
    pub fn of_code(code: i64) -> Option<Self> {
        match code {
            131_050 => Some(Self::OptOutMarketing),
            131_026 => Some(Self::Undeliverable),
            130_403 => Some(Self::Blocked),
            _ => None,
        }
    }
}

/// One status, read.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusReport {
    pub target: Target,
    pub wamid: String,
    pub value: StatusValue,
    pub at: Timestamp,
    /// The recipient as the status names them (a phone number, else a user id), if it does.
    pub recipient: Option<ContactRef>,
    /// The first error (Meta sends one), as stored on a failed message.
    pub error: Option<SendError>,
    pub pricing: Option<PricingRecord>,
    /// `pricing` was present but not readable (kept out; the status itself still counts).
    pub pricing_unreadable: bool,
    pub effect: Option<Effect>,
}

impl StatusReport {
    /// What the status changes on its message: value, time, wamid, error, pricing (the caller
    /// adds the pricing's estimate).
    pub fn update(&self) -> StatusUpdate {
        StatusUpdate {
            value: self.value.clone(),
            at: self.at,
            wamid: Some(self.wamid.clone()),
            error: self.error.clone(),
            pricing: self.pricing.clone(),
            estimate: None,
            allowance: None,
        }
    }
}

/// Reads a status webhook element.
pub fn read(status: &Status<'_>) -> StatusReport {
    let wamid = status.id.clone().into_owned();
    let target = match status.biz_opaque_callback_data.as_deref() {
        Some(data) if data.starts_with(CONFIRMATION_CALLBACK_PREFIX) => Target::Confirmation,
        Some(id) if !id.is_empty() => Target::Message(id.to_owned()),
        _ => Target::Wamid(wamid.clone()),
    };
    let error = status.errors.first().map(|e| SendError {
        code: e.code,
        title: e.title.as_deref().or(e.message.as_deref()).unwrap_or("unknown error").to_owned(),
    });
    let effect = error.as_ref().and_then(|e| Effect::of_code(e.code));
    // Meta's object verbatim, whatever its values; only a `pricing` that is not an object
    // is left out.
    let pricing = status.pricing_raw.map(|raw| serde_json::from_str::<PricingRecord>(raw.get()).ok());
    let pricing_unreadable = matches!(pricing, Some(None));
    let pricing = pricing.flatten();
    StatusReport {
        target,
        wamid,
        value: status.status.clone(),
        at: status.timestamp,
        recipient: crate::people::phone_in(status.recipient_id.as_deref())
            .map(ContactRef::Phone)
            .or_else(|| crate::people::user_in(status.recipient_user_id.as_deref()).map(ContactRef::User)),
        error,
        pricing,
        pricing_unreadable,
        effect,
    }
}

/// A status webhook, as applied to a message.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusUpdate {
    pub value: crate::message::StatusValue,
    pub at: jiff::Timestamp,
    pub wamid: Option<String>,
    /// Kept on the message when it moves to `failed`.
    pub error: Option<crate::message::SendError>,
    /// Meta's pricing, recorded with the message's first pricing only.
    pub pricing: Option<crate::pricing::PricingRecord>,
    /// polite's estimate of what that pricing costs, recorded with it.
    pub estimate: Option<crate::pricing::CostEstimate>,
    /// The monthly allowance of free service messages the pricing draws on
    /// ([`crate::pricing::allowance_key`]), counted once with it.
    pub allowance: Option<String>,
}

impl StatusUpdate {
    /// Just a value at a time (no wamid, error or pricing).
    pub fn plain(value: crate::message::StatusValue, at: jiff::Timestamp) -> Self {
        Self { value, at, wamid: None, error: None, pricing: None, estimate: None, allowance: None }
    }
}

/// When a `failed` status at `at` means "not now" rather than failure: Meta's per-user
/// marketing limit (131049) asks for no retry before a day has passed
/// ([`crate::whatsapp::ENGAGEMENT_DEFERRAL`]), so the message waits until then — unless it expires first, and
/// then it fails as Meta said.
pub fn retry_after_failure(
    message: &crate::record::MessageRecord,
    error: Option<&SendError>,
    at: jiff::Timestamp,
) -> Option<jiff::Timestamp> {
    let code = error?.code;
    if crate::whatsapp::ErrorAction::for_code(code) != crate::whatsapp::ErrorAction::DeferDay {
        return None;
    }
    let until = at.checked_add(crate::whatsapp::ENGAGEMENT_DEFERRAL).ok()?;
    message.expires_at.is_none_or(|expires| until < expires).then_some(until)
}

/// What a status does to a message, to be written in one conditional write: the record after
/// it, the status's history entry, how the state moved, and what the status brings — a wamid
/// the message lacked (its send outcome was unknown), the message's first pricing.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusOutcome {
    pub next: crate::record::MessageRecord,
    pub entry: crate::message::HistoryEntry,
    pub transition: crate::message::Transition,
    pub new_wamid: Option<String>,
    /// The status brings the message's first pricing (counted once, with this write).
    pub priced: bool,
    /// The entry is new to the message's history (every distinct status is kept once).
    pub fresh: bool,
}

/// Applies `update` to `current` through the status lattice
/// ([`crate::record::MessageRecord::status_transition`]). `Err` with the answer when there is
/// nothing to write: a status of an attempt Meta refused for a per-user limit (the message
/// waits for its retry), or a status the message already holds.
///
/// # Errors
/// The transition to answer without writing anything.
pub fn outcome(
    current: &crate::record::MessageRecord,
    update: &StatusUpdate,
) -> Result<StatusOutcome, crate::message::Transition> {
    use crate::message::{HistoryEntry, IgnoreReason, MessageState, Transition, UNKNOWN_OUTCOME};
    if current.is_refused_attempt(update.wamid.as_deref()) {
        return Err(Transition::Ignored(IgnoreReason::Stale));
    }
    let mut entry = HistoryEntry {
        state: update.value.as_str().to_owned(),
        at: update.at,
        reason: update.error.as_ref().map(|e| format!("{}: {}", e.code, e.title)),
    };
    let mut transition = current.status_transition(&update.value);
    let new_wamid = update
        .wamid
        .as_deref()
        .filter(|_| current.wamid.is_none() && (current.state.takes_statuses() || transition.moved()))
        .map(str::to_owned);
    let priced = update.pricing.is_some() && current.pricing.is_none();
    let mut next = current.clone();
    if let Some(wamid) = &new_wamid {
        next.wamid = Some(wamid.clone());
    }
    if priced {
        next.pricing.clone_from(&update.pricing);
        next.estimated_cost.clone_from(&update.estimate);
    }
    let from = current.state;
    if let Transition::Moved { to, .. } = transition {
        next.state = to;
        let unknown = current.state == MessageState::Failed && current.reason.as_deref() == Some(UNKNOWN_OUTCOME);
        if current.state.is_waiting() || unknown {
            // Settled: the wait (or the unknown outcome) and its reason are over.
            next.reason = None;
            next.not_before = None;
            next.error = None;
        }
        if to == MessageState::Failed {
            next.error.clone_from(&update.error);
        }
        if let (MessageState::Failed, Some(until)) =
            (to, retry_after_failure(current, update.error.as_ref(), update.at))
        {
            // 131049: not a failure but "not today" — scheduled again a day on, this attempt's
            // wamid set aside so its other statuses change nothing.
            next.reschedule_after_refusal(update.wamid.as_deref(), until);
            transition = Transition::Moved { from, to: next.state };
            next.state.as_str().clone_into(&mut entry.state);
        }
    } else if current.history.contains(&entry) && new_wamid.is_none() && !priced {
        // A redelivered status: nothing new.
        return Err(transition);
    }
    let fresh = !current.history.contains(&entry);
    if fresh {
        next.history.push(entry.clone());
    }
    Ok(StatusOutcome { next, entry, transition, new_wamid, priced, fresh })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(json: &str) -> StatusReport {
        let parsed: Status<'_> = serde_json::from_str(json).unwrap();
        read(&parsed)
    }

    #[test]
    fn a_status_names_polites_message_by_its_callback_data_else_its_wamid() {
        let ours = status(
            r#"{"id":"wamid.A","status":"delivered","timestamp":"1763800500","recipient_id":"5511987654321","biz_opaque_callback_data":"msg_1"}"#,
        );
        assert_eq!(ours.target, Target::Message("msg_1".into()));
        assert_eq!((ours.value.clone(), ours.at.as_second()), (StatusValue::Delivered, 1_763_800_500));
        assert_eq!(ours.recipient.unwrap().to_string(), "5511987654321");
        assert_eq!(
            status(r#"{"id":"wamid.B","status":"read","timestamp":"1"}"#).target,
            Target::Wamid("wamid.B".into())
        );
        let confirmation = status(
            r#"{"id":"wamid.C","status":"sent","timestamp":"1","biz_opaque_callback_data":"polite-confirmation:wamid.IN"}"#,
        );
        assert_eq!(confirmation.target, Target::Confirmation);
    }

    #[test]
    fn errors_become_the_messages_error_and_their_effect_on_the_contact() {
        let failed = status(
            r#"{"id":"wamid.A","status":"failed","timestamp":"1","biz_opaque_callback_data":"msg_1","errors":[{"code":131050,"title":"Stopped marketing","message":"…"}]}"#,
        );
        assert_eq!(failed.error, Some(SendError { code: 131_050, title: "Stopped marketing".into() }));
        assert_eq!(failed.effect, Some(Effect::OptOutMarketing));
        let unreachable = status(
            r#"{"id":"wamid.A","status":"failed","timestamp":"1","errors":[{"code":131026,"message":"Undeliverable"}]}"#,
        );
        assert_eq!(unreachable.effect, Some(Effect::Undeliverable));
        assert_eq!(unreachable.error.unwrap().title, "Undeliverable", "the message when there is no title");
        let limited = status(r#"{"id":"wamid.A","status":"failed","timestamp":"1","errors":[{"code":131049}]}"#);
        assert_eq!((limited.effect, limited.error.unwrap().code), (None, 131_049), "no effect on the contact");
        let blocked = status(r#"{"id":"wamid.A","status":"failed","timestamp":"1","errors":[{"code":130403}]}"#);
        assert_eq!(blocked.effect, Some(Effect::Blocked));
    }

    #[test]
    fn pricing_is_kept_as_meta_sent_it_and_only_a_non_object_is_unreadable() {
        let meta = r#"{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing"}"#;
        let with_flag = status(&format!(r#"{{"id":"w","status":"delivered","timestamp":"1","pricing":{meta}}}"#));
        let verbatim: serde_json::Value = serde_json::from_str(meta).unwrap();
        assert_eq!(serde_json::to_value(with_flag.pricing.unwrap()).unwrap(), verbatim);
        let odd =
            status(r#"{"id":"w","status":"read","timestamp":"1","pricing":{"type":5,"category":"group_marketing"}}"#);
        let odd_pricing = odd.pricing.expect("unknown values are kept");
        assert_eq!(
            (odd_pricing.category(), odd_pricing.kind(), odd.pricing_unreadable),
            ("group_marketing", "unspecified", false)
        );
        let text = status(r#"{"id":"w","status":"read","timestamp":"1","pricing":"regular"}"#);
        assert_eq!((text.pricing, text.pricing_unreadable), (None, true));
        let none = status(r#"{"id":"w","status":"sent","timestamp":"1"}"#);
        assert_eq!((none.pricing, none.pricing_unreadable), (None, false));
    }
}
