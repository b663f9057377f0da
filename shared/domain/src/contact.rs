//! A person as stored — identities, derived consent, settings — and what the contact store's
//! writes report back.

/// A person as stored: their identities, derived consent and settings. The send history
/// lives apart (its own items) so consent updates and sends never overwrite each other.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactRecord {
    /// The identity the person is stored under (their first one polite knew, or the one they
    /// kept when two contacts turned out to be one person): the answer's `id`, and the key of
    /// their send log.
    pub id: crate::ContactRef,
    /// Every identity polite has seen for the person.
    pub identities: crate::people::Identities,
    pub consent: crate::consent::ConsentState,
    pub timezone: Option<crate::IanaZone>,
    pub quiet_hours: Option<crate::hours::QuietHours>,
    pub locale: Option<String>,
    pub last_inbound_at: Option<jiff::Timestamp>,
    /// The WhatsApp username (`@someone`) their latest message showed; display only.
    pub username: Option<String>,
    pub undeliverable_until: Option<jiff::Timestamp>,
    pub blocked: bool,
    /// The identity was erased and no explicit opt-in came since: sends are suppressed.
    pub erased: bool,
}

impl ContactRecord {
    /// When the 24 h customer-service window opened by the contact's last message closes.
    pub fn window_open_until(&self) -> Option<jiff::Timestamp> {
        self.last_inbound_at.and_then(crate::window::window_closes)
    }

    /// A person polite has never heard of, known by `id`: no consent, no settings.
    pub fn new(id: crate::ContactRef) -> Self {
        Self {
            identities: crate::people::Identities::of(id.clone(), jiff::Timestamp::UNIX_EPOCH),
            id,
            consent: crate::consent::ConsentState::default(),
            timezone: None,
            quiet_hours: None,
            locale: None,
            last_inbound_at: None,
            username: None,
            undeliverable_until: None,
            blocked: false,
            erased: false,
        }
    }

    /// The person's phone number, when polite knows it (WhatsApp may withhold it).
    pub fn phone(&self) -> Option<&crate::WaId> {
        self.identities.phone()
    }
}

/// What appending a consent event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentAppend {
    /// A new ledger event; `changed` says whether it is now the category's current state
    /// (false: a newer event already decides it).
    Recorded { changed: bool },
    /// The same event id was already in the ledger (a replay): nothing changed.
    Duplicate,
}

/// What an identity observation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Linked {
    /// Identities that now find the person and did not before (or no longer do).
    pub links_changed: usize,
    /// Other stored persons that turned out to be this one and were folded into it.
    pub merged: usize,
    /// Ledger events carried over from them (replays of events the person had excluded).
    pub events_moved: usize,
}

impl Linked {
    /// Nothing was written: a replay, or nothing new.
    pub fn is_unchanged(&self) -> bool {
        *self == Self::default()
    }
}

/// Settings a business may change on a contact (`PATCH /v1/contacts/{contact}`); `None`
/// leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactSettings {
    pub timezone: Option<crate::IanaZone>,
    pub quiet_hours: Option<crate::hours::QuietHours>,
    pub locale: Option<String>,
}
