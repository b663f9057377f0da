//! A campaign (`POST /v1/campaigns`): one approved template to many recipients.
//!
//! A campaign is accepted whole or not at all: every recipient is checked up front (invalid
//! contacts and repeats come back as per-recipient rejections, never failing the rest), and the
//! accepted ones are stored in chunks of [`CHUNK_SIZE`] together with the campaign in one
//! transaction. Each chunk then fans out into ordinary messages — whoever gets there first,
//! the API within its time budget or the scheduler tick — with a per-recipient idempotency
//! key (`<campaign id>:<contact>`), so a chunk fanned out twice creates nothing twice.
//!
//! Recipients are spread over time at the campaign rate ([`slot`]): recipient *i* may go at
//! `start + i / rate`. The queue never holds more than the senders can drain within a lease,
//! and transactional messages still find room beside a big campaign.

use std::collections::BTreeMap;

use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};

use crate::ContactRef;
use crate::audience::{self, Addressed, Recipient};
pub use crate::audience::{RejectReason, Rejection};
use crate::audience_file::{AudienceCursor, AudienceFile, AudienceRequest};
use crate::local_time::{LocalDelivery, LocalSlot};
use crate::message::{Category, MessageState};
use crate::placeholders::TemplateShape;
use crate::pricing::Money;
use crate::request::{Invalid, Payload, TemplateRequest, ValidSend, check_template, check_times, check_token, invalid};
use crate::zone::IanaZone;

/// The most recipients one request may carry (the stored campaign — 50 chunks — is written in
/// one DynamoDB transaction of ≤ 100 items and 4 MB). Bigger audiences: several campaigns.
pub const MAX_RECIPIENTS: usize = 50_000;

/// Recipients per stored chunk: one chunk fans out in about a second on DynamoDB.
pub const CHUNK_SIZE: usize = 1_000;

/// The most chunks one campaign may have: they are written in one transaction (≤ 100 items)
/// with the campaign and its idempotency key.
pub const MAX_CHUNKS: usize = 98;

/// The most one chunk's recipients may take stored (a DynamoDB item holds 400 KB): a chunk of
/// recipients with long personal values holds fewer than [`CHUNK_SIZE`].
pub const MAX_CHUNK_BYTES: usize = 300_000;

/// The most all of a campaign's recipients may take stored: the campaign is written in one
/// transaction, which DynamoDB caps at 4 MB.
pub const MAX_STORED_BYTES: usize = 3_500_000;

/// The body of `POST /v1/campaigns`, as sent.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CampaignRequest {
    pub name: String,
    pub category: Category,
    pub template: TemplateRequest,
    /// Each a contact reference, or `{"to", "parameters"}` / `{"to", "components"}` with what
    /// is personal to that person ([`crate::audience`]).
    #[serde(default)]
    pub recipients: Vec<serde_json::Value>,
    /// Or a file of any size to read them from ([`crate::audience_file`]).
    #[serde(default)]
    pub audience: Option<AudienceRequest>,
    #[serde(default)]
    pub send_at: Option<Timestamp>,
    #[serde(default)]
    pub expires_at: Option<Timestamp>,
    /// Each person at a wall-clock time in their own zone ([`crate::local_time`]).
    #[serde(default)]
    pub deliver_at_local: Option<LocalDelivery>,
    /// At most this many recipients a minute (below the fan-out rate; not with
    /// `deliver_at_local`, which spreads by its window).
    #[serde(default)]
    pub max_per_minute: Option<u32>,
    /// Makes a retried request safe: the same key and body answer the same campaign.
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

/// A checked campaign request.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidCampaign {
    pub name: String,
    pub category: Category,
    pub payload: Payload,
    pub send_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub deliver_at_local: Option<LocalDelivery>,
    pub max_per_minute: Option<u32>,
    pub idempotency_key: Option<String>,
    /// Readable recipients, in the caller's order, each once, with their values.
    pub recipients: Vec<Addressed>,
    pub rejected: Vec<Rejection>,
    /// The file the recipients are read from instead (then `recipients` is empty).
    pub audience: Option<AudienceFile>,
}

/// A campaign's recipients with their values filled into the template: what is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Personalised {
    pub recipients: Vec<Recipient>,
    /// Every rejection: unreadable entries first, then values that do not fit.
    pub rejected: Vec<Rejection>,
}

impl ValidCampaign {
    /// Fills each recipient's values into the template and checks them against `shape` (the
    /// template's variables, when the registry knows them): a recipient whose values do not
    /// fit is rejected, the others kept.
    ///
    /// # Errors
    /// [`Invalid`] on `recipients` when none is left, or when they would take more than one
    /// campaign can store.
    pub fn personalise(&self, shape: Option<&TemplateShape>) -> Result<Personalised, Invalid> {
        if self.audience.is_some() {
            // Read, checked and counted part by part as the file is read.
            return Ok(Personalised { recipients: Vec::new(), rejected: Vec::new() });
        }
        let own = self.payload.template_components();
        let (recipients, misfits) = audience::personalise(&self.recipients, &own, shape);
        let mut rejected = self.rejected.clone();
        rejected.extend(misfits);
        if recipients.is_empty() {
            let first = rejected.first().map(|r| format!(" (the first: {})", r.detail)).unwrap_or_default();
            return Err(invalid("recipients", format!("none of the {} recipients can be sent{first}", rejected.len())));
        }
        let stored: usize = recipients.iter().map(stored_bytes).sum();
        if stored > MAX_STORED_BYTES {
            return Err(invalid(
                "recipients",
                format!(
                    "with their values they take {:.1} MB; one campaign stores at most {:.1} MB: split it into several campaigns",
                    mb(stored),
                    mb(MAX_STORED_BYTES)
                ),
            ));
        }
        Ok(Personalised { recipients, rejected })
    }
}

#[allow(clippy::cast_precision_loss, reason = "a size in a message")]
fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// What a recipient takes stored (as JSON, close to its DynamoDB size).
fn stored_bytes(recipient: &Recipient) -> usize {
    serde_json::to_vec(recipient).map_or(0, |v| v.len())
}

impl CampaignRequest {
    /// Checks the request at `now`. Bad recipients are rejected one by one; the request as a
    /// whole fails only when no recipient is left, or a campaign-wide field is wrong.
    ///
    /// # Errors
    /// [`Invalid`] naming the first campaign-wide field that is wrong.
    pub fn validate(self, now: Timestamp) -> Result<ValidCampaign, Invalid> {
        let name = self.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(invalid("name", "must be 1–200 characters"));
        }
        if self.category == Category::Service {
            return Err(invalid(
                "category",
                "campaigns send approved templates: use marketing, utility or authentication (service messages are free-form replies inside the 24 h window)",
            ));
        }
        let payload = Payload::Template(check_template(self.template)?);
        check_times(self.send_at, self.expires_at, now)?;
        if let Some(local) = &self.deliver_at_local {
            local.check(now).map_err(|problem| invalid("deliver_at_local", problem))?;
        }
        match (self.max_per_minute, self.deliver_at_local.is_some()) {
            (Some(0), _) => return Err(invalid("max_per_minute", "must be at least 1")),
            (Some(_), true) => {
                return Err(invalid(
                    "max_per_minute",
                    "paces a campaign sent from send_at on; with deliver_at_local, widen window_minutes instead",
                ));
            }
            _ => {}
        }
        let idempotency_key = check_token("idempotency_key", self.idempotency_key)?;
        let file = match (self.audience, self.recipients.is_empty()) {
            (Some(_), false) => {
                return Err(invalid("audience", "give recipients or an audience file, not both"));
            }
            (Some(request), true) => Some(request.check()?),
            (None, true) => {
                return Err(invalid(
                    "recipients",
                    "must list at least one contact (or give an audience file: \"audience\": {\"s3\": \"s3://bucket/key.csv\"})",
                ));
            }
            (None, false) => None,
        };
        if self.recipients.len() > MAX_RECIPIENTS {
            return Err(invalid(
                "recipients",
                format!(
                    "lists {} recipients; one request takes at most {MAX_RECIPIENTS}: put them in a file (\"audience\": {{\"s3\": …}})",
                    self.recipients.len()
                ),
            ));
        }
        // A file's recipients are read, checked and counted as the file is read.
        let (recipients, rejected) =
            if file.is_some() { (Vec::new(), Vec::new()) } else { audience::read(self.recipients) };
        if file.is_none() && recipients.is_empty() {
            return Err(invalid(
                "recipients",
                format!(
                    "none of the {} recipients is valid (a phone number in E.164, e.g. +16505551234, or a business-scoped user id, e.g. US.13491208655302741918)",
                    rejected.len()
                ),
            ));
        }
        Ok(ValidCampaign {
            name: name.to_owned(),
            category: self.category,
            payload,
            send_at: self.send_at,
            expires_at: self.expires_at,
            deliver_at_local: self.deliver_at_local,
            max_per_minute: self.max_per_minute,
            idempotency_key,
            recipients,
            rejected,
            audience: file,
        })
    }
}

/// A campaign as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignRecord {
    pub id: String,
    pub name: String,
    pub category: Category,
    /// The template every recipient gets.
    pub payload: Payload,
    pub send_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    /// Each person at a wall-clock time in their own zone, instead of the campaign rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deliver_at_local: Option<LocalDelivery>,
    /// When the first recipient may go (`send_at`, or acceptance).
    pub start_at: Timestamp,
    /// Recipients per second the fan-out spreads the campaign at.
    pub per_second: u32,
    /// The campaign's own cap, slower than `per_second` (on top of the number's pacing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_per_minute: Option<u32>,
    pub accepted: usize,
    pub rejected: usize,
    pub chunks: u32,
    pub created_at: Timestamp,
    /// Running, paused or cancelled (`POST /v1/campaigns/{id}/pause|resume|cancel`).
    #[serde(default)]
    pub status: CampaignStatus,
    /// The file the recipients are read from (instead of the request's list), and how far:
    /// `accepted` and `rejected` then grow as it is read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceSource>,
}

/// A campaign's audience file and how far it has been read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudienceSource {
    #[serde(flatten)]
    pub file: AudienceFile,
    /// Lines read so far.
    pub read: u64,
    /// The whole file has been read: `accepted` and `rejected` are final.
    pub done: bool,
}

/// The place of a campaign's file reader among its chunks (on the due index like them).
pub const AUDIENCE_CHUNK: u32 = u32::MAX;

/// The place among a campaign's chunks of a resume the request could not finish: a chunk
/// without recipients, on the due index like the others, that the tick claims to go on
/// queueing the messages the pause parked — so a large campaign's parked messages go out
/// within a tick of the resume, not at their own later look.
pub const RESUME_CHUNK: u32 = u32::MAX - 1;

/// Where the reader of a campaign's audience file stands: the file's cursor, and what the
/// lines read so far came to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reader {
    pub cursor: AudienceCursor,
    pub accepted: u64,
    pub rejected: u64,
    /// Recipients given a place in the campaign's pace so far (accepted ones, and repeats of
    /// an earlier line found only when their message is created).
    pub positions: u64,
}

impl CampaignRecord {
    /// How far its audience file (if any) has been read.
    pub fn audience_view(&self) -> Option<AudienceView> {
        self.audience.as_ref().map(|a| AudienceView {
            s3: a.file.to_string(),
            format: a.file.format,
            read: a.read,
            accepted: self.accepted as u64,
            rejected: self.rejected as u64,
            done: a.done,
        })
    }

    /// Whether the campaign may complete: every recipient is known (its file, if any, read to
    /// the end) and the tally says none waits.
    pub fn may_complete(&self, tally: &CampaignTally) -> bool {
        self.audience.as_ref().is_none_or(|a| a.done) && tally.is_complete(self.accepted)
    }
}

/// Whether a campaign's messages may go: the caller pauses, resumes and cancels it.
///
/// The campaign item holds the truth; the fan-out reads it before each chunk and the sender
/// before each of the campaign's messages, so a pause or a cancellation holds for every
/// message not yet handed to Meta — however far the fan-out has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CampaignStatus {
    #[default]
    Active,
    /// Nothing more goes until it is resumed: the fan-out waits, and each message that comes
    /// due is parked (`scheduled`, reason [`CAMPAIGN_PAUSED`]).
    Paused,
    /// Nothing more goes, ever: each message not yet handed to Meta ends `cancelled` (reason
    /// [`CAMPAIGN_CANCELLED`]), and the recipients not yet fanned out get a `cancelled`
    /// message too, so the counts still add up to `accepted`.
    Cancelled,
}

impl CampaignStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CampaignStatus::Active => "active",
            CampaignStatus::Paused => "paused",
            CampaignStatus::Cancelled => "cancelled",
        }
    }
}

/// The reason of a campaign message parked while its campaign is paused.
pub const CAMPAIGN_PAUSED: &str = "campaign_paused";

/// The reason of a campaign message cancelled with its campaign.
pub const CAMPAIGN_CANCELLED: &str = "campaign_cancelled";

/// How long a message of a paused campaign stays parked before the sender looks again (a
/// resume releases parked messages at once; this bounds the wait if that release is cut short).
pub const PAUSED_MESSAGE_RECHECK: SignedDuration = SignedDuration::from_mins(30);

/// How long a chunk of a paused campaign waits before the fan-out looks again.
pub const PAUSED_CHUNK_RECHECK: SignedDuration = SignedDuration::from_mins(1);

/// What the caller asks of a campaign.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Pause,
    Resume,
    Cancel,
}

impl Control {
    /// The action named in the path (`pause`, `resume`, `cancel`).
    pub fn parse(action: &str) -> Option<Control> {
        match action {
            "pause" => Some(Control::Pause),
            "resume" => Some(Control::Resume),
            "cancel" => Some(Control::Cancel),
            _ => None,
        }
    }

    /// The status the campaign ends in.
    pub fn to(self) -> CampaignStatus {
        match self {
            Control::Pause => CampaignStatus::Paused,
            Control::Resume => CampaignStatus::Active,
            Control::Cancel => CampaignStatus::Cancelled,
        }
    }

    /// The statuses it may come from: a cancelled campaign stays cancelled; asking twice
    /// answers the same.
    pub fn from(self) -> &'static [CampaignStatus] {
        match self {
            Control::Pause | Control::Resume => &[CampaignStatus::Active, CampaignStatus::Paused],
            Control::Cancel => &[CampaignStatus::Active, CampaignStatus::Paused, CampaignStatus::Cancelled],
        }
    }
}

/// What changing a campaign's status came to.
#[derive(Debug, Clone, PartialEq)]
pub enum StatusChange {
    /// The campaign as it is now.
    Changed(Box<CampaignRecord>),
    /// Its status does not allow it (a cancelled campaign cannot be paused or resumed).
    Refused(CampaignStatus),
    Unknown,
}

impl CampaignRecord {
    /// The message for the recipient at `position`: the campaign's template, due at its
    /// [`slot`], keyed `<campaign id>:<contact>` so fanning a chunk out twice creates it once.
    pub fn message_for(&self, recipient: Recipient, position: usize) -> ValidSend {
        self.message_at(recipient, self.paced(position))
    }

    /// When the recipient `to` at `position` goes: at `deliver_at_local`'s time in their
    /// `zones` (see [`crate::local_time`]), or else at their place in the campaign's rate
    /// ([`slot`]).
    pub fn send_at_for(&self, to: &ContactRef, position: usize, zones: &[IanaZone]) -> LocalSlot {
        match &self.deliver_at_local {
            Some(local) => local.slot(zones, self.start_at, &format!("{}:{to}", self.id)),
            None => LocalSlot::At(self.paced(position)),
        }
    }

    /// When the recipient at `position` may go at the campaign's pace: [`slot`] at the
    /// fan-out rate, or slower when the campaign caps itself at `max_per_minute`.
    pub fn paced(&self, position: usize) -> Timestamp {
        match self.max_per_minute {
            Some(per_minute) => {
                let millis = (position as u64).saturating_mul(60_000) / u64::from(per_minute.max(1));
                self.start_at + SignedDuration::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
            }
            None => slot(self.start_at, position, self.per_second),
        }
    }

    /// The recipient's message, due at `send_at`, keyed `<campaign id>:<contact>`.
    pub fn message_at(&self, recipient: Recipient, send_at: Timestamp) -> ValidSend {
        let Recipient { to, components } = recipient;
        ValidSend {
            idempotency_key: Some(format!("{}:{to}", self.id)),
            to,
            category: self.category,
            payload: match components {
                Some(personal) => self.payload.with_components(&personal),
                None => self.payload.clone(),
            },
            send_at: Some(send_at),
            expires_at: self.expires_at,
            campaign_id: Some(self.id.clone()),
        }
    }
}

/// A part of a campaign's recipients, fanned out as a unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignChunk {
    pub index: u32,
    /// The position of the chunk's first recipient in the campaign (for [`slot`]).
    pub first_position: usize,
    pub recipients: Vec<Recipient>,
    /// The file reader ([`AUDIENCE_CHUNK`]): a chunk whose recipients are read from the
    /// campaign's audience file a part at a time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reader: Option<Reader>,
}

/// Splits accepted recipients into chunks of `size` (made larger when needed to stay within
/// [`MAX_CHUNKS`]), a chunk closing early when it would take more than [`MAX_CHUNK_BYTES`].
pub fn chunks(recipients: &[Recipient], size: usize) -> Vec<CampaignChunk> {
    let size = size.max(recipients.len().div_ceil(MAX_CHUNKS)).max(1);
    let mut out: Vec<CampaignChunk> = Vec::new();
    let mut bytes = 0;
    for (position, recipient) in recipients.iter().enumerate() {
        let weight = stored_bytes(recipient);
        let full = out.last().is_none_or(|c| c.recipients.len() >= size || bytes + weight > MAX_CHUNK_BYTES);
        if full {
            let index = u32::try_from(out.len()).unwrap_or(u32::MAX);
            out.push(CampaignChunk { index, first_position: position, recipients: Vec::new(), reader: None });
            bytes = 0;
        }
        bytes += weight;
        if let Some(chunk) = out.last_mut() {
            chunk.recipients.push(recipient.clone());
        }
    }
    out
}

/// When the recipient at `position` may go: `start + position / per_second`, to the
/// millisecond (a steady stream rather than a burst each second).
pub fn slot(start: Timestamp, position: usize, per_second: u32) -> Timestamp {
    let per_second = u64::from(per_second.max(1));
    let millis = (position as u64).saturating_mul(1000) / per_second;
    start + SignedDuration::from_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

/// Messages of one Meta pricing category in a campaign.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PricedCount {
    /// Messages Meta reported pricing for.
    pub priced: i64,
    /// Of those, the ones Meta charges.
    pub billable: i64,
    /// By Meta's pricing `type` (`regular`, `free_customer_service`, `free_entry_point`, and
    /// whatever Meta adds), each priced message once.
    pub types: BTreeMap<String, i64>,
    /// Of the priced, those the rate card could estimate.
    pub estimated: i64,
    /// Their estimated cost by currency (the rate card's; one unless the card's currency was
    /// changed while the campaign was priced).
    pub estimated_cost: BTreeMap<String, Money>,
}

/// What a campaign's priced messages are estimated to cost.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CampaignCost {
    /// By currency (`{"USD": "12.5000"}`): amounts in different currencies are never added.
    pub amounts: BTreeMap<String, Money>,
    /// Priced messages the amounts cover.
    pub estimated: i64,
    /// Priced messages the rate card has no rate for (not in the amount).
    pub not_estimated: i64,
    /// Always the same words: this is an estimate, not Meta's bill.
    pub note: &'static str,
}

/// What every estimated cost says of itself.
pub const ESTIMATE_NOTE: &str = "an estimate from polite's rate card (Meta's rates by pricing category and recipient country); Meta's invoice is the authority";

/// A campaign's counters, summed over their shards: messages per state, and Meta's pricing
/// per pricing category. Each message counts once in `states` (in its current state) and, once
/// priced, once in `pricing`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CampaignTally {
    pub states: BTreeMap<MessageState, i64>,
    pub pricing: BTreeMap<String, PricedCount>,
}

impl CampaignTally {
    /// Messages in `state` now.
    pub fn count(&self, state: MessageState) -> i64 {
        self.states.get(&state).copied().unwrap_or(0)
    }

    /// Messages created for the campaign so far.
    pub fn messages(&self) -> i64 {
        self.states.values().sum()
    }

    /// Whether a campaign of `accepted` recipients is complete: every recipient's message
    /// exists and none is still waiting or being sent — polite has done all it will do (Meta
    /// may still report deliveries and reads; those go on as `message.state_changed`).
    pub fn is_complete(&self, accepted: usize) -> bool {
        let accepted = i64::try_from(accepted).unwrap_or(i64::MAX);
        self.messages() >= accepted && self.states.iter().all(|(state, n)| *n <= 0 || !state.is_waiting())
    }

    /// The counts `campaign.completed` reports: messages per state, the states with none left
    /// out.
    pub fn counts(&self) -> BTreeMap<String, i64> {
        self.states.iter().filter(|(_, n)| **n > 0).map(|(state, n)| (state.as_str().to_owned(), *n)).collect()
    }
}

/// What `GET /v1/campaigns/{id}` shows: the contract's `id`, `name` and `counts`, plus what
/// the campaign was created with, delivery rates and Meta's pricing.
///
/// A `campaign_id` given on `POST /v1/messages` has counters but no campaign: it reports with
/// `name: null` and without the creation fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CampaignReport {
    pub id: String,
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Category>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// Recipients accepted and rejected by `POST /v1/campaigns`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub accepted: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<usize>,
    /// `active`, `paused` or `cancelled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<CampaignStatus>,
    /// The audience file and how far it has been read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub audience: Option<AudienceView>,
    /// Each person at this wall-clock time in their own zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliver_at_local: Option<LocalDelivery>,
    /// Messages created so far: the fan-out is complete when this reaches `accepted`.
    pub messages: i64,
    /// Messages per state, every state listed.
    pub counts: BTreeMap<MessageState, i64>,
    pub rates: Rates,
    /// By Meta's pricing category (`marketing`, `utility`, …): messages priced, billable, by
    /// type, and their estimated cost.
    pub pricing: BTreeMap<String, PricedCount>,
    /// The whole campaign's estimated cost so far (messages Meta has priced).
    pub estimated_cost: CampaignCost,
}

/// A campaign's audience file as its report shows it: the progress of its reading.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AudienceView {
    pub s3: String,
    pub format: crate::audience_file::FileFormat,
    /// Lines read so far.
    pub read: u64,
    /// Of the lines read, recipients accepted and lines rejected (unreadable, invalid, values
    /// that do not fit the template, or a person named again).
    pub accepted: u64,
    pub rejected: u64,
    /// The whole file has been read.
    pub done: bool,
}

/// Delivery rates, as fractions rounded to 4 places; `null` while the denominator is zero.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rates {
    /// Of the messages that went to Meta (`sent`, `delivered`, `read` or `failed`), the share
    /// that reached a phone (`delivered` or `read`).
    pub delivered: Option<f64>,
    /// Of the messages that reached a phone, the share read.
    pub read: Option<f64>,
}

impl Rates {
    /// The rates of a tally.
    pub fn of(tally: &CampaignTally) -> Rates {
        use MessageState as S;
        let reached = tally.count(S::Delivered) + tally.count(S::Read);
        let went = tally.count(S::Sent) + reached + tally.count(S::Failed);
        Rates { delivered: fraction(reached, went), read: fraction(tally.count(S::Read), reached) }
    }
}

#[expect(clippy::cast_precision_loss, reason = "message counts are far below 2^52")]
fn fraction(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 / whole as f64 * 10_000.0).round() / 10_000.0)
}

impl CampaignReport {
    /// The report of campaign `id`, from its record (absent for an id only ever given on
    /// `POST /v1/messages`) and its tally. `None` when polite knows nothing by that id.
    pub fn new(id: &str, record: Option<CampaignRecord>, tally: CampaignTally) -> Option<CampaignReport> {
        let messages = tally.messages();
        if record.is_none() && messages == 0 {
            return None;
        }
        let rates = Rates::of(&tally);
        let mut amounts: BTreeMap<String, Money> = BTreeMap::new();
        for (currency, amount) in tally.pricing.values().flat_map(|p| &p.estimated_cost) {
            *amounts.entry(currency.clone()).or_default() += *amount;
        }
        let estimated_cost = CampaignCost {
            amounts,
            estimated: tally.pricing.values().map(|p| p.estimated).sum(),
            not_estimated: tally.pricing.values().map(|p| p.priced - p.estimated).sum(),
            note: ESTIMATE_NOTE,
        };
        let mut counts = tally.states;
        for state in MessageState::ALL {
            counts.entry(state).or_insert(0);
        }
        let mut report = CampaignReport {
            id: id.to_owned(),
            name: None,
            category: None,
            created_at: None,
            accepted: None,
            rejected: None,
            status: None,
            audience: None,
            deliver_at_local: None,
            messages,
            counts,
            rates,
            pricing: tally.pricing,
            estimated_cost,
        };
        if let Some(r) = record {
            report.audience = r.audience_view();
            report.name = Some(r.name);
            report.category = Some(r.category);
            report.created_at = Some(r.created_at);
            report.accepted = Some(r.accepted);
            report.rejected = Some(r.rejected);
            report.status = Some(r.status);
            report.deliver_at_local = r.deliver_at_local;
        }
        Some(report)
    }
}

/// A campaign to create: the record, its recipients in chunks, and the idempotency key with
/// the hash of the request body it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCampaign {
    pub record: CampaignRecord,
    pub chunks: Vec<CampaignChunk>,
    pub idempotency_key: Option<String>,
    pub body_hash: String,
}

/// How campaigns fan out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CampaignSettings {
    /// Recipients per second a campaign is spread at (`CAMPAIGN_MPS`, default 64: 80 % of the
    /// default 80 messages/s a business number sends, leaving room for transactional sends).
    pub per_second: u32,
    /// How long `POST /v1/campaigns` fans out before answering (`CAMPAIGN_INLINE_BUDGET_MS`,
    /// default 5 000); the tick does the rest.
    pub inline_budget: std::time::Duration,
    /// How long one tick fans out (`CAMPAIGN_TICK_BUDGET_MS`, default 40 000 of its 60 s).
    pub tick_budget: std::time::Duration,
    /// Recipients per chunk (default [`CHUNK_SIZE`]; not an
    /// environment setting — tests use small chunks to exercise several).
    pub chunk_size: usize,
    /// Messages read per page when a resume or cancellation goes through a campaign's
    /// messages (default 200; not an environment setting — tests use small pages to make a
    /// resume outlast its budget).
    pub sweep_page: usize,
}

impl Default for CampaignSettings {
    fn default() -> Self {
        Self {
            per_second: 64,
            inline_budget: std::time::Duration::from_secs(5),
            tick_budget: std::time::Duration::from_secs(40),
            chunk_size: CHUNK_SIZE,
            sweep_page: 200,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ContactRef;

    fn now() -> Timestamp {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn request(json: serde_json::Value) -> CampaignRequest {
        serde_json::from_value(json).unwrap()
    }

    fn body(recipients: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "name": "Black Friday",
            "category": "marketing",
            "template": {"name": "black_friday", "language": "pt_BR"},
            "recipients": recipients,
        })
    }

    #[test]
    fn bad_and_repeated_numbers_are_rejected_one_by_one() {
        let ok = request(body(&["+5511987654321", "12", "+16505551234", "5511987654321", "+55 11 98765-4321"]))
            .validate(now())
            .unwrap();
        let accepted: Vec<String> = ok.recipients.iter().map(|a| a.to.to_string()).collect();
        assert_eq!(accepted, ["5511987654321", "16505551234"]);
        let rejected: Vec<(&str, RejectReason)> = ok.rejected.iter().map(|r| (r.to.as_str(), r.reason)).collect();
        assert_eq!(
            rejected,
            [
                ("12", RejectReason::InvalidNumber),
                ("5511987654321", RejectReason::Duplicate),
                ("+55 11 98765-4321", RejectReason::Duplicate),
            ]
        );
        assert!(!ok.rejected[1].detail.contains("98765"), "numbers are masked in details");
        assert_eq!(
            ok.payload,
            Payload::Template(serde_json::json!({"name": "black_friday", "language": {"code": "pt_BR"}}))
        );
    }

    #[test]
    fn campaign_wide_problems_fail_the_request_naming_the_field() {
        let mut service = body(&["+16505551234"]);
        service["category"] = "service".into();
        let mut no_name = body(&["+16505551234"]);
        no_name["name"] = " ".into();
        let mut past = body(&["+16505551234"]);
        past["send_at"] = "2026-11-23T11:00:00Z".into();
        let mut bad_template = body(&["+16505551234"]);
        bad_template["template"]["name"] = "Black Friday".into();
        let cases = [
            (service, "category"),
            (no_name, "name"),
            (past, "send_at"),
            (bad_template, "template.name"),
            (body(&[]), "recipients"),
            (body(&["12", "nope"]), "recipients"),
        ];
        for (json, field) in cases {
            let text = json.to_string();
            assert_eq!(request(json).validate(now()).unwrap_err().field, field, "{text}");
        }
        let too_many: Vec<String> = (0..=MAX_RECIPIENTS).map(|i| format!("+1650555{i:07}")).collect();
        let mut big = body(&[]);
        big["recipients"] = serde_json::json!(too_many);
        assert!(request(big).validate(now()).unwrap_err().problem.contains("at most 50000"));
    }

    #[test]
    fn chunks_cover_every_recipient_once_with_their_positions() {
        let recipients: Vec<Recipient> =
            (0..2_500).map(|i| Recipient::plain(ContactRef::parse(&format!("+1650555{i:04}")).unwrap())).collect();
        let parts = chunks(&recipients, CHUNK_SIZE);
        assert_eq!(parts.iter().map(|c| c.recipients.len()).collect::<Vec<_>>(), [1_000, 1_000, 500]);
        assert_eq!(
            parts.iter().map(|c| (c.index, c.first_position)).collect::<Vec<_>>(),
            [(0, 0), (1, 1_000), (2, 2_000)]
        );
        let flat: Vec<&Recipient> = parts.iter().flat_map(|c| &c.recipients).collect();
        assert_eq!(flat, recipients.iter().collect::<Vec<_>>());
        // Small chunks are made larger rather than exceed what one transaction can write.
        let parts = chunks(&recipients, 10);
        assert_eq!(parts.len(), 2_500usize.div_ceil(2_500usize.div_ceil(MAX_CHUNKS)));
        assert!(parts.len() <= MAX_CHUNKS);
        assert_eq!(parts.iter().map(|c| c.recipients.len()).sum::<usize>(), 2_500);
    }

    #[test]
    fn chunks_of_long_personal_values_close_early_and_a_campaign_too_big_to_store_is_refused() {
        let long = "x".repeat(1_000);
        let recipients: Vec<Recipient> = (0..1_000)
            .map(|i| Recipient {
                to: ContactRef::parse(&format!("+1650555{i:04}")).unwrap(),
                components: Some(vec![
                    serde_json::json!({"type": "body", "parameters": [{"type": "text", "text": long}]}),
                ]),
            })
            .collect();
        let parts = chunks(&recipients, CHUNK_SIZE);
        assert!(parts.len() >= 4, "{} chunks", parts.len());
        for part in &parts {
            assert!(serde_json::to_vec(&part.recipients).unwrap().len() <= MAX_CHUNK_BYTES + 2);
        }
        let positions: Vec<usize> = parts.iter().map(|c| c.first_position).collect();
        let mut expected = 0;
        for (part, position) in parts.iter().zip(&positions) {
            assert_eq!(*position, expected, "positions follow the recipients");
            expected += part.recipients.len();
        }
        assert_eq!(expected, 1_000);

        let mut big = body(&[]);
        big["recipients"] = (0..4_000)
            .map(|i| serde_json::json!({"to": format!("+1650555{i:04}"), "parameters": {"1": long}}))
            .collect();
        let campaign = request(big).validate(now()).unwrap();
        let refused = campaign.personalise(None).unwrap_err();
        assert_eq!(refused.field, "recipients");
        assert!(refused.problem.contains("split it into several campaigns"), "{}", refused.problem);
    }

    #[test]
    fn each_persons_values_go_into_their_own_message() {
        let mut json = body(&[]);
        json["template"]["components"] = serde_json::json!([{"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/a.png"}}]}]);
        json["recipients"] = serde_json::json!([
            {"to": "+16505551234", "parameters": {"first_name": "Ana"}},
            {"to": "+16505551235", "parameters": {"first_name": "Bo", "code": "X"}},
            "+16505551236"
        ]);
        let campaign = request(json).validate(now()).unwrap();
        let shape = TemplateShape::from_meta(
            &[
                serde_json::json!({"type": "HEADER", "format": "IMAGE"}),
                serde_json::json!({"type": "BODY", "text": "Hi {{first_name}}"}),
            ],
            Some("NAMED"),
        );
        let ready = campaign.personalise(Some(&shape)).unwrap();
        assert_eq!(ready.recipients.len(), 1, "Bo's extra value and the plain one's missing body are refused");
        assert_eq!(ready.rejected.iter().map(|r| r.reason).collect::<Vec<_>>(), [RejectReason::InvalidParameters; 2]);
        let record = CampaignRecord { payload: campaign.payload.clone(), ..black_friday() };
        let send = record.message_for(ready.recipients[0].clone(), 0);
        let Payload::Template(template) = send.payload else { panic!("a template") };
        assert_eq!(template["components"][0]["type"], "header", "the campaign's header stays");
        assert_eq!(template["components"][1]["parameters"][0]["text"], "Ana");
    }

    #[test]
    fn a_campaign_capped_per_minute_goes_slower_than_the_fan_out_rate() {
        let capped = CampaignRecord { max_per_minute: Some(120), ..black_friday() };
        assert_eq!(capped.paced(0), now());
        assert_eq!(capped.paced(1), now() + SignedDuration::from_millis(500));
        assert_eq!(capped.paced(120), now() + SignedDuration::from_mins(1));
        assert_eq!(black_friday().paced(10), now() + SignedDuration::from_secs(1), "10/s without a cap");
        let mut both = body(&["+16505551234"]);
        both["max_per_minute"] = 100.into();
        both["deliver_at_local"] = serde_json::json!({"time": "10:00"});
        assert_eq!(request(both).validate(now()).unwrap_err().field, "max_per_minute");
        let mut zero = body(&["+16505551234"]);
        zero["max_per_minute"] = 0.into();
        assert_eq!(request(zero).validate(now()).unwrap_err().field, "max_per_minute");
    }

    #[test]
    fn recipients_are_spread_at_the_campaign_rate() {
        assert_eq!(slot(now(), 0, 80), now());
        assert_eq!(slot(now(), 80, 80), now() + SignedDuration::from_secs(1));
        assert_eq!(slot(now(), 1, 80), now() + SignedDuration::from_millis(12));
        assert_eq!(slot(now(), 48_000, 80), now() + SignedDuration::from_mins(10));
        assert_eq!(slot(now(), 5, 0), now() + SignedDuration::from_secs(5), "a zero rate is read as 1/s");
    }

    #[test]
    fn recipients_come_from_the_list_or_a_file_never_both() {
        let request = |extra: serde_json::Value| {
            let mut body = serde_json::json!({"name": "spring", "category": "marketing",
                "template": {"name": "spring_sale", "language": "pt_BR"}});
            body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
            serde_json::from_value::<CampaignRequest>(body).unwrap().validate(now())
        };
        let file = request(serde_json::json!({"audience": {"s3": "s3://acme-audiences/spring.jsonl"}})).unwrap();
        assert_eq!(file.audience.map(|f| f.format), Some(crate::audience_file::FileFormat::JsonLines));
        let both = request(
            serde_json::json!({"recipients": ["+5511987654321"], "audience": {"s3": "s3://acme-audiences/a.csv"}}),
        );
        assert_eq!(both.unwrap_err().field, "audience");
        assert_eq!(request(serde_json::json!({})).unwrap_err().field, "recipients");
        let bad = request(serde_json::json!({"audience": {"s3": "https://acme-audiences/a.csv"}}));
        assert_eq!(bad.unwrap_err().field, "audience.s3");
    }

    fn black_friday() -> CampaignRecord {
        CampaignRecord {
            id: "cmp_1".into(),
            name: "Black Friday".into(),
            category: Category::Marketing,
            payload: Payload::Template(serde_json::json!({"name": "black_friday", "language": {"code": "en"}})),
            send_at: None,
            expires_at: Some(now() + SignedDuration::from_hours(6)),
            deliver_at_local: None,
            start_at: now(),
            max_per_minute: None,
            per_second: 10,
            accepted: 30,
            rejected: 0,
            chunks: 1,
            created_at: now(),
            status: CampaignStatus::Active,
            audience: None,
        }
    }

    #[test]
    fn each_recipients_message_is_keyed_by_campaign_and_number() {
        let campaign = black_friday();
        let send = campaign.message_for(Recipient::plain(ContactRef::parse("+16505551234").unwrap()), 25);
        assert_eq!(send.idempotency_key.as_deref(), Some("cmp_1:16505551234"));
        assert_eq!(send.campaign_id.as_deref(), Some("cmp_1"));
        assert_eq!(send.send_at, Some(now() + SignedDuration::from_millis(2_500)));
        assert_eq!(send.expires_at, campaign.expires_at);
        assert!(!send.payload.is_free_form());
    }

    fn tally(states: &[(MessageState, i64)], pricing: &[(&str, i64, i64)]) -> CampaignTally {
        CampaignTally {
            states: states.iter().copied().collect(),
            pricing: pricing
                .iter()
                .map(|&(c, priced, billable)| {
                    // Regular ones cost 0.0625 each; the rest were free entry points.
                    let count = PricedCount {
                        priced,
                        billable,
                        types: [("regular".to_owned(), billable), ("free_entry_point".to_owned(), priced - billable)]
                            .into_iter()
                            .collect(),
                        estimated: priced,
                        estimated_cost: [("USD".to_owned(), Money::from_micros(62_500 * billable))]
                            .into_iter()
                            .collect(),
                    };
                    (c.to_owned(), count)
                })
                .collect(),
        }
    }

    #[test]
    fn the_report_counts_every_state_and_rates_delivery_over_what_went_to_meta() {
        use MessageState as S;
        let counts = tally(
            &[(S::Sent, 2), (S::Delivered, 3), (S::Read, 4), (S::Failed, 1), (S::Suppressed, 5), (S::Queued, 15)],
            &[("marketing", 7, 6)],
        );
        let report = CampaignReport::new("cmp_1", Some(black_friday()), counts).unwrap();
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["name"], "Black Friday");
        assert_eq!(json["accepted"], 30);
        assert_eq!(json["messages"], 30);
        let listed: Vec<&String> = json["counts"].as_object().unwrap().keys().collect();
        assert_eq!(listed.len(), MessageState::ALL.len(), "every state is listed, zeros included");
        assert_eq!(json["counts"]["scheduled"], 0);
        assert_eq!(json["counts"]["suppressed"], 5);
        // 7 of the 10 that went to Meta reached a phone; 4 of those 7 were read.
        assert_eq!(json["rates"], serde_json::json!({"delivered": 0.7, "read": 0.5714}));
        assert_eq!(
            json["pricing"],
            serde_json::json!({"marketing": {
                "priced": 7, "billable": 6, "types": {"regular": 6, "free_entry_point": 1},
                "estimated": 7, "estimated_cost": {"USD": "0.3750"}
            }})
        );
        assert_eq!(
            json["estimated_cost"],
            serde_json::json!({"amounts": {"USD": "0.3750"}, "estimated": 7, "not_estimated": 0, "note": ESTIMATE_NOTE})
        );
    }

    #[test]
    fn messages_the_rate_card_cannot_price_are_counted_outside_the_estimate() {
        let mut counts = tally(&[(MessageState::Delivered, 5)], &[("marketing", 3, 3)]);
        counts.pricing.insert(
            "group_marketing".into(),
            PricedCount {
                priced: 2,
                billable: 2,
                types: [("regular".into(), 2)].into_iter().collect(),
                ..PricedCount::default()
            },
        );
        let report = CampaignReport::new("cmp_1", None, counts).unwrap();
        let cost = report.estimated_cost;
        assert_eq!((cost.amounts["USD"].to_string(), cost.estimated, cost.not_estimated), ("0.1875".into(), 3, 2));
    }

    #[test]
    fn rates_are_null_until_something_went_and_read_without_delivered_counts_as_reached() {
        use MessageState as S;
        let waiting = Rates::of(&tally(&[(S::Scheduled, 3)], &[]));
        assert_eq!(waiting, Rates { delivered: None, read: None });
        let read_only = Rates::of(&tally(&[(S::Read, 2), (S::Failed, 2)], &[]));
        assert_eq!(read_only, Rates { delivered: Some(0.5), read: Some(1.0) });
    }

    #[test]
    fn a_campaign_id_from_post_messages_reports_without_a_name_and_an_unknown_one_not_at_all() {
        let adhoc = CampaignReport::new("spring", None, tally(&[(MessageState::Sent, 2)], &[])).unwrap();
        let json = serde_json::to_value(&adhoc).unwrap();
        assert_eq!(json["name"], serde_json::Value::Null);
        assert!(json.get("accepted").is_none());
        assert_eq!(json["messages"], 2);
        assert_eq!(CampaignReport::new("nothing", None, CampaignTally::default()), None);
        let fresh = CampaignReport::new("cmp_1", Some(black_friday()), CampaignTally::default()).unwrap();
        assert_eq!((fresh.messages, fresh.accepted), (0, Some(30)), "created, not fanned out yet");
    }
}
