//! Who is who: consent belongs to a person, not to a number (docs/architecture.md, "Consent and erasure").
//!
//! A person is known by identities — a phone number (`wa_id`), a business-scoped user id, a
//! parent user id — and WhatsApp shows them together (a webhook's `contacts[]` with both, a
//! status's `contacts`, a send answer) or moves them (`user_changed_number`,
//! `user_changed_user_id`, the `user_id_update` field). [`Identities`] is what polite knows of
//! one person: for every identity ever seen, the last time it was seen attached to them and the
//! last time it was retired from them. Its current identities are those attached later than
//! retired.
//!
//! Everything here is a maximum of timestamps, so applying observations is commutative and
//! idempotent: webhooks that arrive twice or out of order end in the same person, and merging
//! two persons who turn out to be one is the same union whichever way round it is done. The
//! person's consent is the fold of both ledgers ([`crate::consent::ConsentState::merge`]).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::webhook::{Contact, Message, Status};
use crate::{BusinessScopedUserId, ContactRef, WaId};

/// Something WhatsApp said about a person's identities, at the time it says it happened.
/// Queued as JSON (`{"together": {...}}`, …) when the function that reads it does not own the
/// contacts table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(clippy::large_enum_variant, reason = "a few per webhook, short-lived; a WaId carries its cached phone facts")]
pub enum Observation {
    /// These identities belong to one person, as one `contacts[]` entry (or a message's
    /// `from`/`from_user_id`/`from_parent_user_id`, a status's recipient fields, a send
    /// answer's `contacts[]`) shows them. A parent id is known as one by the field it came in
    /// (not every parent id has `ENT` in it).
    Together {
        phone: Option<WaId>,
        user: Option<BusinessScopedUserId>,
        parent: Option<BusinessScopedUserId>,
        at: Timestamp,
    },
    /// `user_changed_number`: the person moved from `old` to `new`; `old` is theirs no more
    /// (carriers recycle numbers).
    NumberChanged { old: WaId, new: WaId, at: Timestamp },
    /// `user_changed_user_id` or `user_id_update`: WhatsApp gave the person a new BSUID (it
    /// does when they change number).
    UserIdChanged { old: BusinessScopedUserId, new: BusinessScopedUserId, at: Timestamp },
}

impl Observation {
    /// Whether it relates identities at all: more than one named together, or a move. A lone
    /// identity links nothing (the person is stored under it anyway).
    pub fn links(&self) -> bool {
        !matches!(self, Self::Together { .. }) || self.identities().len() > 1
    }

    /// Every identity the observation names (attached or retired).
    pub fn identities(&self) -> Vec<ContactRef> {
        match self {
            Self::Together { phone, user, parent, .. } => {
                let users = user.iter().chain(parent).cloned().map(ContactRef::User);
                phone.iter().cloned().map(ContactRef::Phone).chain(users).collect()
            }
            Self::NumberChanged { old, new, .. } => {
                vec![ContactRef::Phone(old.clone()), ContactRef::Phone(new.clone())]
            }
            Self::UserIdChanged { old, new, .. } => vec![ContactRef::User(old.clone()), ContactRef::User(new.clone())],
        }
    }
}

/// When an identity was last seen attached to the person and last retired from them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired: Option<Timestamp>,
}

impl Seen {
    /// Attached later than retired (a retirement at the same instant wins: the change is the
    /// fact, a `contacts[]` at that second may predate it).
    fn is_current(self) -> bool {
        match (self.attached, self.retired) {
            (Some(a), Some(r)) => a > r,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    fn attach(&mut self, at: Timestamp) {
        self.attached = self.attached.max(Some(at));
    }

    fn retire(&mut self, at: Timestamp) {
        self.retired = self.retired.max(Some(at));
    }

    fn merge(&mut self, other: Self) {
        self.attached = self.attached.max(other.attached);
        self.retired = self.retired.max(other.retired);
    }
}

/// What polite knows of one person's identities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identities {
    seen: BTreeMap<ContactRef, Seen>,
    /// The user ids seen as a parent id (`parent_user_id`, `from_parent_user_id`, …).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    parents: BTreeSet<BusinessScopedUserId>,
}

impl Identities {
    /// A person first known by `identity` (an API call, a send) at `at`.
    pub fn of(identity: ContactRef, at: Timestamp) -> Self {
        let mut person = Self::default();
        person.seen.entry(identity).or_default().attach(at);
        person
    }

    /// Learns from an observation about this person. Commutative and idempotent.
    pub fn observe(&mut self, observation: &Observation) {
        match observation {
            Observation::Together { parent, at, .. } => {
                for id in observation.identities() {
                    self.seen.entry(id).or_default().attach(*at);
                }
                self.parents.extend(parent.iter().cloned());
            }
            Observation::NumberChanged { old, new, at } => {
                self.seen.entry(ContactRef::Phone(old.clone())).or_default().retire(*at);
                self.seen.entry(ContactRef::Phone(new.clone())).or_default().attach(*at);
            }
            Observation::UserIdChanged { old, new, at } => {
                self.seen.entry(ContactRef::User(old.clone())).or_default().retire(*at);
                self.seen.entry(ContactRef::User(new.clone())).or_default().attach(*at);
            }
        }
    }

    /// Two persons who turned out to be one: the union of what is known of both.
    pub fn merge(&mut self, other: &Identities) {
        for (id, seen) in &other.seen {
            self.seen.entry(id.clone()).or_default().merge(*seen);
        }
        self.parents.extend(other.parents.iter().cloned());
    }

    /// The identities that are the person's now.
    pub fn current(&self) -> impl Iterator<Item = &ContactRef> {
        self.seen.iter().filter(|(_, s)| s.is_current()).map(|(id, _)| id)
    }

    /// Every identity ever seen for the person, current or retired (erasure forgets them all).
    pub fn all(&self) -> impl Iterator<Item = &ContactRef> {
        self.seen.keys()
    }

    /// Whether `identity` spoke for this person at `at`: a current identity always; a retired
    /// one for what happened before it was retired (a STOP sent from the old number before the
    /// change still counts for the person).
    pub fn spoke_for(&self, identity: &ContactRef, at: Timestamp) -> bool {
        self.seen.get(identity).is_some_and(|s| s.is_current() || s.retired.is_some_and(|r| at < r))
    }

    /// The person's phone number now: the current one attached last (WhatsApp may withhold it).
    pub fn phone(&self) -> Option<&WaId> {
        self.latest(|id| match id {
            ContactRef::Phone(p) => Some(p),
            ContactRef::User(_) => None,
        })
    }

    /// The person's business-scoped user id now (not a parent id).
    pub fn user_id(&self) -> Option<&BusinessScopedUserId> {
        self.latest(|id| match id {
            ContactRef::User(u) if !self.is_parent(u) => Some(u),
            _ => None,
        })
    }

    /// The person's parent business-scoped user id now, if their business has one.
    pub fn parent_user_id(&self) -> Option<&BusinessScopedUserId> {
        self.latest(|id| match id {
            ContactRef::User(u) if self.is_parent(u) => Some(u),
            _ => None,
        })
    }

    fn is_parent(&self, id: &BusinessScopedUserId) -> bool {
        id.is_parent() || self.parents.contains(id)
    }

    fn latest<'a, T>(&'a self, pick: impl Fn(&'a ContactRef) -> Option<&'a T>) -> Option<&'a T> {
        self.seen
            .iter()
            .filter(|(_, s)| s.is_current())
            .filter_map(|(id, s)| pick(id).map(|t| (s.attached, t)))
            .max_by_key(|(attached, _)| *attached)
            .map(|(_, t)| t)
    }
}

/// A phone number from a webhook field; `None` when absent, empty (WhatsApp withholds it) or
/// not a number (a placeholder in Meta's examples).
pub fn phone_in(field: Option<&str>) -> Option<WaId> {
    field.filter(|f| !f.is_empty()).and_then(|f| WaId::parse(f).ok())
}

/// A business-scoped user id from a webhook field, as [`phone_in`].
pub fn user_in(field: Option<&str>) -> Option<BusinessScopedUserId> {
    field.filter(|f| !f.is_empty()).and_then(|f| BusinessScopedUserId::parse(f).ok())
}

/// The identities one element shows together, when it shows any: its own phone, user id and
/// parent id fields, each completed by its `contacts[]` entry's when empty or absent.
fn together(contact: Option<&Contact<'_>>, own: [Option<&Cow<'_, str>>; 3], at: Timestamp) -> Option<Observation> {
    fn set<'v>(v: Option<&'v Cow<'_, str>>) -> Option<&'v str> {
        v.map(AsRef::as_ref).filter(|v| !v.is_empty())
    }
    let theirs = contact.map(|c| [c.wa_id.as_ref(), c.user_id.as_ref(), c.parent_user_id.as_ref()]);
    let entry = |i: usize| theirs.and_then(|t| set(t[i]));
    let (own_phone, own_user) = (phone_in(set(own[0])), user_in(set(own[1])));
    // An entry that names another phone or user id than the element's own is someone else's
    // (test data and batched values do that): it completes nothing.
    let contradicts = matches!((&own_phone, phone_in(entry(0))), (Some(a), Some(b)) if *a != b)
        || matches!((&own_user, user_in(entry(1))), (Some(a), Some(b)) if *a != b);
    let entry = |i: usize| if contradicts { None } else { entry(i) };
    // The element's own field, else its entry's — also when the own field is a placeholder
    // (`<WHATSAPP_USER_PHONE_NUMBER>` in Meta's examples) that names no one.
    let phone = own_phone.or_else(|| phone_in(entry(0)));
    let user = own_user.or_else(|| user_in(entry(1)));
    let parent = user_in(set(own[2])).or_else(|| user_in(entry(2)));
    (phone.is_some() || user.is_some() || parent.is_some()).then_some(Observation::Together { phone, user, parent, at })
}

/// What an inbound message says about its sender: their identities together (the message's
/// `from`, `from_user_id`, `from_parent_user_id`, completed by their `contacts[]` entry), and
/// for a `user_changed_number` or `user_changed_user_id` system message, the move. `at` is when
/// the message was sent ([`Message::sent_at`]).
pub fn in_message(contact: Option<&Contact<'_>>, message: &Message<'_>, at: Timestamp) -> Vec<Observation> {
    let own = [message.from.as_ref(), message.from_user_id.as_ref(), message.from_parent_user_id.as_ref()];
    let seen = together(contact, own, at);
    let (phone, user) = match &seen {
        Some(Observation::Together { phone, user, .. }) => (phone.clone(), user.clone()),
        _ => (None, None),
    };
    let mut out: Vec<Observation> = seen.into_iter().collect();
    let Some(system) = message.system.as_ref() else { return out };
    match system.kind.as_deref() {
        Some("user_changed_number") => {
            let new = phone_in(system.wa_id.as_deref().or(system.new_wa_id.as_deref()));
            if let (Some(old), Some(new)) = (phone, new) {
                out.push(Observation::NumberChanged { old, new, at });
            }
        }
        Some("user_changed_user_id") => {
            if let (Some(old), Some(new)) = (user, user_in(system.user_id.as_deref())) {
                out.push(Observation::UserIdChanged { old, new, at });
            }
        }
        _ => {}
    }
    out
}

/// What a user's call says about the caller: their `from`/`from_user_id` together, completed
/// by their `contacts[]` entry.
pub fn in_call(contact: Option<&Contact<'_>>, call: &crate::webhook::Call<'_>, at: Timestamp) -> Vec<Observation> {
    together(contact, [call.from.as_ref(), call.from_user_id.as_ref(), None], at).into_iter().collect()
}

/// Who a `user_preferences` item is about: its own `wa_id`/`user_id`/`parent_user_id`,
/// completed by its value's `contacts[]` entry (an item may carry no id of its own).
pub fn in_user_preference(
    contact: Option<&Contact<'_>>,
    pref: &crate::webhook::UserPreference<'_>,
) -> Option<Observation> {
    together(contact, [pref.wa_id.as_ref(), pref.user_id.as_ref(), pref.parent_user_id.as_ref()], pref.timestamp)
}

/// What an echo (a message the business sent from the WhatsApp Business app) says about its
/// recipient: their `to`/`to_user_id`/`to_parent_user_id` together, completed by their
/// `contacts[]` entry.
pub fn in_echo(contact: Option<&Contact<'_>>, echo: &crate::webhook::Echo<'_>, at: Timestamp) -> Vec<Observation> {
    together(contact, [echo.to.as_ref(), echo.to_user_id.as_ref(), echo.to_parent_user_id.as_ref()], at)
        .into_iter()
        .collect()
}

/// What a `user_id_update` says: the user id (and the parent id, when it changed too) moved
/// to a new one, and the phone, when given, is the person's.
pub fn in_user_id_update(update: &crate::webhook::UserIdUpdate<'_>) -> Vec<Observation> {
    let at = update.timestamp;
    let change =
        |c: &crate::webhook::IdChange<'_>| Some((user_in(c.previous.as_deref())?, user_in(c.current.as_deref())?));
    let mut out = Vec::new();
    let user = change(&update.user_id);
    let parent = update.parent_user_id.as_ref().and_then(change);
    let current = user_in(update.user_id.current.as_deref());
    let parent_now = update.parent_user_id.as_ref().and_then(|p| user_in(p.current.as_deref()));
    if let Some((old, new)) = user {
        out.push(Observation::UserIdChanged { old, new, at });
    }
    if let Some((old, new)) = parent.filter(|(old, new)| old != new) {
        out.push(Observation::UserIdChanged { old, new, at });
    }
    let phone = phone_in(update.wa_id.as_deref());
    if phone.is_some() || parent_now.is_some() {
        out.push(Observation::Together { phone, user: current, parent: parent_now, at });
    }
    out
}

/// What a status says about the person the message went to: the recipient fields together
/// with their `contacts[]` entry. A status of a message to a group says nothing about a person.
pub fn in_status(contact: Option<&Contact<'_>>, status: &Status<'_>) -> Vec<Observation> {
    if status.recipient_type.as_deref() == Some("group") {
        return Vec::new();
    }
    let own =
        [status.recipient_id.as_ref(), status.recipient_user_id.as_ref(), status.recipient_parent_user_id.as_ref()];
    together(contact, own, status.timestamp).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentState, ConsentStatus};

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_790_000_000 + s).unwrap()
    }
    fn phone(n: &str) -> WaId {
        WaId::parse(n).unwrap()
    }
    fn user(u: &str) -> BusinessScopedUserId {
        BusinessScopedUserId::parse(u).unwrap()
    }
    const OLD_PHONE: &str = "+5511987650001";
    const NEW_PHONE: &str = "+5511987650002";
    const OLD_USER: &str = "BR.1111111111";
    const NEW_USER: &str = "BR.2222222222";
    const PARENT: &str = "BR.ENT.9999999999";
    const PARENT_PLAIN: &str = "BR.8888888888";

    #[test]
    fn identities_seen_together_are_one_person_and_a_change_moves_them() {
        let mut p = Identities::of(ContactRef::Phone(phone(OLD_PHONE)), t(0));
        p.observe(&Observation::Together {
            phone: Some(phone(OLD_PHONE)),
            user: Some(user(OLD_USER)),
            // A parent id without `ENT` in it (as whatsapp-api-js's v25 examples have): known
            // as a parent by its field.
            parent: Some(user(PARENT_PLAIN)),
            at: t(10),
        });
        assert_eq!(p.phone(), Some(&phone(OLD_PHONE)));
        assert_eq!(p.user_id(), Some(&user(OLD_USER)));
        assert_eq!(p.parent_user_id(), Some(&user(PARENT_PLAIN)));

        p.observe(&Observation::NumberChanged { old: phone(OLD_PHONE), new: phone(NEW_PHONE), at: t(20) });
        p.observe(&Observation::UserIdChanged { old: user(OLD_USER), new: user(NEW_USER), at: t(20) });
        assert_eq!(p.phone(), Some(&phone(NEW_PHONE)));
        assert_eq!(p.user_id(), Some(&user(NEW_USER)));
        let current: Vec<String> = p.current().map(ToString::to_string).collect();
        assert_eq!(current, ["5511987650002", "BR.2222222222", "BR.8888888888"]);
        assert_eq!(p.all().count(), 5, "retired identities are remembered (erasure forgets them too)");
        // A STOP the old number sent before the change is the person's; after it, not.
        assert!(p.spoke_for(&ContactRef::Phone(phone(OLD_PHONE)), t(15)));
        assert!(!p.spoke_for(&ContactRef::Phone(phone(OLD_PHONE)), t(25)));
        // A `contacts[]` of the same second as the change does not bring the old number back.
        p.observe(&Observation::Together { phone: Some(phone(OLD_PHONE)), user: None, parent: None, at: t(20) });
        assert_eq!(p.phone(), Some(&phone(NEW_PHONE)));
    }

    #[test]
    fn a_person_is_stored_and_read_back_whole() {
        let mut p = Identities::of(ContactRef::Phone(phone(OLD_PHONE)), t(0));
        p.observe(&Observation::Together {
            phone: None,
            user: Some(user(OLD_USER)),
            parent: Some(user(PARENT_PLAIN)),
            at: t(5),
        });
        p.observe(&Observation::NumberChanged { old: phone(OLD_PHONE), new: phone(NEW_PHONE), at: t(9) });
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["seen"]["5511987650001"], serde_json::json!({"attached": t(0), "retired": t(9)}));
        assert_eq!(json["parents"], serde_json::json!([PARENT_PLAIN]));
        let back: Identities = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
        assert_eq!(back.parent_user_id(), Some(&user(PARENT_PLAIN)));
        assert!(serde_json::from_value::<Identities>(serde_json::json!({"seen": {"not an id": {}}})).is_err());
    }

    /// What one person's webhooks may say: identities together, changes, and consent.
    #[derive(Debug, Clone)]
    enum Event {
        Seen(Observation),
        Consent(ConsentEvent),
    }

    fn event() -> impl Strategy<Value = Event> {
        let phones = prop::option::of(prop::sample::select(vec![OLD_PHONE, NEW_PHONE]));
        let users = prop::option::of(prop::sample::select(vec![OLD_USER, NEW_USER]));
        let parents = prop::option::of(prop::sample::select(vec![PARENT, PARENT_PLAIN]));
        let together = (phones, users, parents, 0i64..100).prop_map(|(p, u, parent, s)| {
            Event::Seen(Observation::Together {
                phone: p.map(phone),
                user: u.map(user),
                parent: parent.map(user),
                at: t(s),
            })
        });
        let number = (0i64..100).prop_map(|s| {
            Event::Seen(Observation::NumberChanged { old: phone(OLD_PHONE), new: phone(NEW_PHONE), at: t(s) })
        });
        let user_id = (0i64..100).prop_map(|s| {
            Event::Seen(Observation::UserIdChanged { old: user(OLD_USER), new: user(NEW_USER), at: t(s) })
        });
        let consent = (any::<bool>(), any::<bool>(), 0i64..100).prop_map(|(marketing, stop, s)| {
            let category = if marketing { ConsentCategory::Marketing } else { ConsentCategory::Utility };
            let status = if stop { ConsentStatus::OptedOut } else { ConsentStatus::OptedIn };
            let source = ConsentSource::business("crm").unwrap();
            let event = ConsentEvent::from_business(&phone(OLD_PHONE), category, status, source, None, t(s), t(s));
            Event::Consent(event.unwrap())
        });
        prop_oneof![together, number, user_id, consent]
    }

    /// One person as polite would hold it after `events`, split over `parts` contacts that
    /// later turn out to be one (each part learnt separately, then merged in order).
    fn person(events: &[Event], parts: usize) -> (Identities, ConsentState) {
        let mut persons = vec![(Identities::default(), ConsentState::default()); parts.max(1)];
        for (i, e) in events.iter().enumerate() {
            let (ids, consent) = &mut persons[i % parts.max(1)];
            match e {
                Event::Seen(o) => ids.observe(o),
                Event::Consent(c) => {
                    consent.apply(c);
                }
            }
        }
        let (mut ids, mut consent) = persons.pop().unwrap_or_default();
        for (other_ids, other_consent) in persons.iter().rev() {
            ids.merge(other_ids);
            consent.merge(other_consent);
        }
        (ids, consent)
    }

    /// One person's events; the same with some duplicated, shuffled; how many contacts they
    /// were split over before polite saw they were one.
    fn histories() -> impl Strategy<Value = (Vec<Event>, Vec<Event>, usize)> {
        let parts = (
            prop::collection::vec(event(), 1..24),
            prop::collection::vec(any::<prop::sample::Index>(), 0..6),
            1usize..4,
        );
        parts.prop_flat_map(|(events, duplicates, parts)| {
            let mut again = events.clone();
            again.extend(duplicates.iter().map(|d| events[d.index(events.len())].clone()));
            (Just(events), Just(again).prop_shuffle(), Just(parts))
        })
    }

    proptest! {
        #[test]
        fn any_order_duplication_and_merge_of_one_persons_events_ends_the_same(
            (events, shuffled, parts) in histories()
        ) {
            prop_assert_eq!(person(&shuffled, parts), person(&events, 1));
        }
    }
}
