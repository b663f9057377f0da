//! The parked-webhook tool: what webhook-intake could not route, listed for a person and
//! replayed once polite (or the sender) is fixed — `make parked` and `make replay-parked`.
//!
//! Parked items wait on the webhook parking queue (14 days, alarmed): a whole body that is not
//! a notification, a change of a field polite does not handle, an element that does not
//! match the model, an event too large for SQS (in parts). Listing receives every message
//! with a short visibility timeout and puts nothing back by hand: SQS shows them again when
//! it ends. Replaying rebuilds a webhook body from each item, signs it with the app secret as
//! Meta does, POSTs it to the webhook, and deletes the item once the webhook answered 200 —
//! so a replay interrupted half-way loses nothing and repeats nothing that was taken
//! (webhook-intake's consumers are idempotent by event id anyway).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use aws_sdk_sqs::Client;
use base64::Engine as _;
use polite_domain::envelope::{self, ParkedPart, kinds};
use polite_domain::webhook::{self, ParkReason, Parked, ParkedPayload};
use serde_json::value::RawValue;
use serde_json::{Value, json};

/// One parked item, reassembled when it came in parts.
#[derive(Debug)]
pub struct ParkedItem {
    /// The item's JSON (a [`Parked`]).
    pub json: String,
    /// The receipt handles of its queue messages (one, or one per part).
    pub receipts: Vec<String>,
}

impl ParkedItem {
    /// The item, read.
    ///
    /// # Errors
    /// When its JSON is not a parked item (a queue shared with something else).
    pub fn parked(&self) -> anyhow::Result<Parked<'_>> {
        serde_json::from_str(&self.json).context("reading a parked item")
    }
}

/// What the parking queue holds.
#[derive(Debug, Default)]
pub struct Parking {
    pub items: Vec<ParkedItem>,
    /// Parts of items whose other parts were not received (in flight elsewhere, or lost).
    pub incomplete_parts: usize,
    /// Messages that are not parked items at all.
    pub unreadable: usize,
}

/// Receives everything on the parking queue, hiding it for `hold` (it reappears after).
///
/// # Errors
/// When SQS fails.
pub async fn read(sqs: &Client, queue_url: &str, hold: Duration) -> anyhow::Result<Parking> {
    let hold = i32::try_from(hold.as_secs()).unwrap_or(i32::MAX).clamp(0, 43_200);
    let mut parking = Parking::default();
    let mut parts: BTreeMap<String, Vec<(usize, usize, String, String)>> = BTreeMap::new();
    // With a hold of 0 the same messages come straight back: each is taken once.
    let mut seen = std::collections::HashSet::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(hold)
            .wait_time_seconds(0)
            .send()
            .await
            .context("receiving from the parking queue")?;
        let fresh: Vec<_> =
            out.messages().iter().filter(|m| m.message_id().is_none_or(|id| seen.insert(id.to_owned()))).collect();
        if fresh.is_empty() {
            break;
        }
        for m in fresh {
            let (Some(body), Some(receipt)) = (m.body(), m.receipt_handle()) else { continue };
            if let Ok(item) = envelope::decode::<&RawValue>(kinds::PARKED_WEBHOOK, body) {
                parking.items.push(ParkedItem { json: item.get().to_owned(), receipts: vec![receipt.to_owned()] });
            } else if let Ok(part) = envelope::decode::<ParkedPart<'_>>(kinds::PARKED_WEBHOOK_PART, body) {
                let entry = (part.part, part.parts, part.text.into_owned(), receipt.to_owned());
                parts.entry(part.parking_id.into_owned()).or_default().push(entry);
            } else {
                parking.unreadable += 1;
            }
        }
    }
    for (_, mut pieces) in parts {
        pieces.sort_by_key(|p| p.0);
        pieces.dedup_by_key(|p| p.0);
        let whole = pieces.first().map_or(0, |p| p.1);
        if pieces.len() != whole || pieces.iter().enumerate().any(|(i, p)| p.0 != i + 1) {
            parking.incomplete_parts += pieces.len();
            continue;
        }
        let json = pieces.iter().map(|p| p.2.as_str()).collect();
        parking.items.push(ParkedItem { json, receipts: pieces.into_iter().map(|p| p.3).collect() });
    }
    Ok(parking)
}

/// Why an item cannot be replayed through the webhook.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotReplayable {
    /// An event too large for SQS: it would be parked again. A person reads it.
    TooLarge,
    /// The item lacks what a body needs (the account or field it came from).
    Incomplete,
}

/// The webhook body that brings `item` back as Meta sent it: the whole body for a body that
/// was parked whole, the change for a change, and for one element a change holding just
/// that element (its `contacts[]` entry is not kept with it).
///
/// # Errors
/// [`NotReplayable`] for an event too large for SQS or an item without its context.
pub fn replay_body(item: &Parked<'_>) -> Result<Vec<u8>, NotReplayable> {
    let json = |payload: &ParkedPayload<'_>| match payload {
        ParkedPayload::Json(raw) => serde_json::from_str::<Value>(raw.get()).ok(),
        ParkedPayload::Text(_) | ParkedPayload::Base64(_) => None,
    };
    match item.reason {
        ParkReason::TooLarge => return Err(NotReplayable::TooLarge),
        ParkReason::NotUtf8 | ParkReason::NotANotification | ParkReason::WrongObject => {
            return match &item.payload {
                ParkedPayload::Json(raw) => Ok(raw.get().as_bytes().to_vec()),
                ParkedPayload::Text(text) => Ok(text.as_bytes().to_vec()),
                ParkedPayload::Base64(b) => {
                    base64::engine::general_purpose::STANDARD.decode(b).map_err(|_| NotReplayable::Incomplete)
                }
            };
        }
        ParkReason::UnknownField | ParkReason::NoUpdates | ParkReason::MalformedElement => {}
    }
    let (Some(waba), Some(field), Some(payload)) = (&item.waba_id, &item.field, json(&item.payload)) else {
        return Err(NotReplayable::Incomplete);
    };
    let value = match &item.array {
        None => payload,
        Some(array) => {
            let phone_number_id = item.phone_number_id.as_deref().ok_or(NotReplayable::Incomplete)?;
            json!({"messaging_product": "whatsapp",
                "metadata": {"display_phone_number": "", "phone_number_id": phone_number_id},
                array.as_ref(): [payload]})
        }
    };
    let body = json!({"object": "whatsapp_business_account",
        "entry": [{"id": waba, "changes": [{"field": field, "value": value}]}]});
    Ok(body.to_string().into_bytes())
}

/// What a replay came to.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    /// Taken by the webhook (200) and deleted from the parking queue.
    pub accepted: usize,
    /// Answered otherwise, or not reachable: left on the queue.
    pub refused: usize,
    /// Not replayable ([`NotReplayable`]): left for a person.
    pub skipped: usize,
}

/// Replays every item of `parking` to `webhook_url`, signed with `app_secret`; deletes what
/// the webhook took. One line per item on `out` (reason and outcome: no payload, which may
/// name a person).
///
/// # Errors
/// When SQS fails to delete an accepted item (it would be replayed again next time).
pub async fn replay(
    sqs: &Client,
    queue_url: &str,
    parking: &Parking,
    webhook_url: &str,
    app_secret: &str,
    out: &mut impl std::io::Write,
) -> anyhow::Result<Replayed> {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(30)).build()?;
    let mut replayed = Replayed::default();
    for item in &parking.items {
        let parked = item.parked()?;
        let label = format!("{} at {}", parked.reason.as_str(), parked.received_at);
        let body = match replay_body(&parked) {
            Ok(body) => body,
            Err(why) => {
                replayed.skipped += 1;
                writeln!(out, "  skipped  {label}: {why:?} (left on the queue for a person)")?;
                continue;
            }
        };
        let answer = http
            .post(webhook_url)
            .header(webhook::SIGNATURE_HEADER, webhook::sign(app_secret.as_bytes(), &body))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        match answer {
            Ok(a) if a.status() == reqwest::StatusCode::OK => {
                for receipt in &item.receipts {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(receipt)
                        .send()
                        .await
                        .context("deleting a replayed item")?;
                }
                replayed.accepted += 1;
                writeln!(out, "  replayed {label}")?;
            }
            Ok(a) => {
                replayed.refused += 1;
                writeln!(out, "  refused  {label}: the webhook answered {} (left on the queue)", a.status())?;
            }
            Err(e) => {
                replayed.refused += 1;
                writeln!(out, "  refused  {label}: {e} (left on the queue)")?;
            }
        }
    }
    Ok(replayed)
}

/// A listing of `parking` for a terminal: one line per item, then the counts.
///
/// # Errors
/// When an item does not read or `out` fails.
pub fn list(parking: &Parking, out: &mut impl std::io::Write) -> anyhow::Result<()> {
    for item in &parking.items {
        let p = item.parked()?;
        let field = p.field.as_deref().unwrap_or("-");
        let array = p.array.as_deref().map(|a| format!(" {a}[]")).unwrap_or_default();
        let replay = if replay_body(&p).is_ok() { "replayable" } else { "for a person" };
        writeln!(
            out,
            "{}  {:<18} field {field}{array}  {} bytes  {replay}\n    {}",
            p.received_at,
            p.reason.as_str(),
            item.json.len(),
            p.detail
        )?;
    }
    writeln!(
        out,
        "{} parked item(s){}{}",
        parking.items.len(),
        if parking.incomplete_parts > 0 {
            format!(", {} part(s) of incomplete items", parking.incomplete_parts)
        } else {
            String::new()
        },
        if parking.unreadable > 0 { format!(", {} unreadable message(s)", parking.unreadable) } else { String::new() },
    )?;
    Ok(())
}
