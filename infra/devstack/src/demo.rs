//! `make demo`: polite's story told through the public HTTP API and the simulator only, as a
//! business and its customers would live it. The cast spans eight time zones, so whatever the
//! hour some customers are asleep (their promotions wait for their morning) and some are
//! awake; the parts that need an awake customer pick one.
//!
//! [`run`] writes the transcript and returns what happened ([`Story`]) for the end-to-end
//! tests to check against the truth.

use std::io::Write;
use std::time::Duration;

use anyhow::{Context as _, bail};
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Client, eventually};

/// A customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Person {
    pub name: &'static str,
    pub city: &'static str,
    /// Where the person lives: one of the zones polite infers from the number.
    pub zone: &'static str,
    pub number: &'static str,
}

const fn person(name: &'static str, city: &'static str, zone: &'static str, number: &'static str) -> Person {
    Person { name, city, zone, number }
}

/// Eight zones, never more than 5 hours apart: the 13 sending hours of the default policy
/// (08:00–21:00) always hold at least three of them, and the 11 quiet ones at least one.
pub const CAST: [Person; 8] = [
    person("Ana", "São Paulo", "America/Sao_Paulo", "+5511987654321"),
    person("Bob", "New York", "America/New_York", "+12125551234"),
    person("Carmen", "Mexico City", "America/Mexico_City", "+525512345678"),
    person("Eve", "Lisbon", "Europe/Lisbon", "+351912345678"),
    person("Amara", "Nairobi", "Africa/Nairobi", "+254712345678"),
    // Asia/Calcutta: libphonenumber's (and so polite's) name for Asia/Kolkata.
    person("Dev", "Mumbai", "Asia/Calcutta", "+919812345678"),
    person("Hiro", "Tokyo", "Asia/Tokyo", "+819012345678"),
    person("Tama", "Auckland", "Pacific/Auckland", "+64211234567"),
];

/// The customer who turned marketing off inside WhatsApp (Meta refuses with 131050: the
/// simulator does so for numbers ending in 0050). Whoever's afternoon it is plays the part, so
/// the promotion is really sent and refused.
pub const REFUSERS: [Person; 4] = [
    person("Sofia", "Madrid", "Europe/Madrid", "+34612340050"),
    person("Sofia", "Mexico City", "America/Mexico_City", "+525512340050"),
    person("Sofia", "Bangkok", "Asia/Bangkok", "+66812340050"),
    person("Sofia", "Auckland", "Pacific/Auckland", "+64212340050"),
];

/// How one customer's first promotion ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub person: Person,
    /// The local time when it was requested.
    pub local_time: String,
    pub message_id: String,
    /// `GET /v1/messages/{id}` once settled.
    pub message: Value,
}

/// What happened, for the end-to-end tests.
#[derive(Debug, Clone)]
pub struct Story {
    pub started: Timestamp,
    pub new_collection: Vec<Outcome>,
    /// Who replied "STOP", who tapped "Stop promotions", who WhatsApp refused (131050).
    pub stop_text: Person,
    pub stop_button: Person,
    pub refused: Person,
    /// `GET /v1/contacts/{contact}` of those three once their opt-out was recorded.
    pub opted_out: Vec<Value>,
    pub black_friday_id: String,
    /// `POST /v1/campaigns`'s answer.
    pub black_friday_created: Value,
    /// `GET /v1/campaigns/{id}` of both campaigns at the end.
    pub new_collection_view: Value,
    pub black_friday_view: Value,
    /// Numbers (digits) the simulator received the Black Friday template for.
    pub black_friday_sent_to: Vec<String>,
    /// Messages whose statuses reached polite out of order or twice: wamid and arrival order.
    pub disordered: Vec<(String, Vec<String>)>,
    /// The confirmation texts the simulator received (consent-updater's replies to keywords).
    pub confirmations: Vec<Value>,
    /// `GET /v1/messages/{id}` of the login code whose answer was lost, once settled, and how
    /// many times the simulator accepted it.
    pub lost_answer: Value,
    pub lost_answer_accepted: usize,
    /// Bia, known only by her business-scoped user id: `GET /v1/contacts/{user id}` after her
    /// STOP, and the promotion addressed to that id afterwards, once settled.
    pub username_contact: Value,
    pub username_after_stop: Value,
    /// Caio's order update once decided, after Meta re-categorised its template as MARKETING.
    pub recategorised: Value,
    /// What the business heard on polite's bus: the STOP as `inbound.message` and
    /// `consent.changed`, and the win-back campaign's `campaign.completed`.
    pub heard: Heard,
    /// `(template, endpoint)` of every template the simulator accepted.
    pub endpoints: Vec<(String, String)>,
    /// The personal, local-time campaign: `POST /v1/campaigns`'s answer and its per-recipient
    /// report (every page).
    pub morning: Morning,
    /// The consent import and the evidence document.
    pub imported: Imported,
    /// The campaign paused and cancelled.
    pub halted: Halted,
}

/// Step 13: the CRM's consent list imported (and again), and the evidence for one customer.
#[derive(Debug, Clone)]
pub struct Imported {
    /// `POST /v1/consents:import`'s answer, and its replay as a file on S3 once read
    /// (`GET /v1/consents/imports/{id}`).
    pub first: Value,
    pub replay: Value,
    /// `GET /v1/contacts/{contact}/consent-evidence` of the customer who texted STOP.
    pub evidence: Value,
}

/// Step 14: a campaign paused, then cancelled: the answers of both.
#[derive(Debug, Clone)]
pub struct Halted {
    pub paused: Value,
    pub cancelled: Value,
}

/// Step 13: the shop's CRM sends its consent list — an opt-in for every customer, taken at
/// sign-up a month ago — twice (a retried sync), and an auditor asks why the customer who
/// texted STOP gets no promotions.
async fn consent_import(
    client: &Client,
    out: &mut dyn Write,
    stopper: Person,
    started: Timestamp,
) -> anyhow::Result<Imported> {
    writeln!(out, "\n13. The CRM imports its consent list, then again as a file; an auditor asks for the evidence")?;
    let signed_up = Timestamp::from_second(started.as_second() - 30 * 86_400)?;
    let mut records: Vec<Value> = CAST
        .iter()
        .map(|p| {
            json!({"contact": p.number, "category": "marketing", "status": "opted_in", "source": "crm_sync",
                "evidence": format!("sign-up form, shop account of {}", p.name), "occurred_at": signed_up.to_string()})
        })
        .collect();
    records.push(json!({"contact": "+1 555 CALL ME", "category": "marketing", "status": "opted_in",
        "source": "crm_sync", "occurred_at": signed_up.to_string()}));
    let body = json!({ "records": records });
    let first =
        client.api(Method::POST, "/v1/consents:import", Some(&body)).await?.expect(200, "POST /v1/consents:import")?;
    writeln!(
        out,
        "   POST /v1/consents:import ({} records): {} recorded, {} already recorded, {} rejected ({})",
        records.len(),
        first["recorded"],
        first["already_recorded"],
        first["rejected"].as_array().map_or(0, Vec::len),
        first["rejected"][0]["reason"].as_str().unwrap_or("-"),
    )?;
    // The same list again, as the CRM's nightly file on S3 (read by consent-updater).
    let lines: Vec<String> = records.iter().map(Value::to_string).collect();
    let key = format!("crm-consent-{}.jsonl", started.as_second());
    let file = client.upload(&key, lines.join("\n").into_bytes()).await?;
    let import = json!({ "s3": file });
    let import = client
        .api(Method::POST, "/v1/consents:import", Some(&import))
        .await?
        .expect(202, "POST /v1/consents:import")?;
    let path = format!("/v1/consents/imports/{}", import["id"].as_str().context("no import id")?);
    let replay = eventually("the import from the file", Duration::from_mins(1), || async {
        let view = client.get(&path).await?;
        Ok((view["done"] == true).then_some(view))
    })
    .await?;
    writeln!(
        out,
        "   the same list again, as a file on S3 ({file}): {} recorded, {} already recorded, {} rejected (each record is one ledger event); results in {}",
        replay["recorded"],
        replay["already_recorded"],
        replay["rejected"],
        replay["result"].as_str().unwrap_or("?")
    )?;
    let path = format!("/v1/contacts/{}/consent-evidence", stopper.number);
    let evidence = client.get(&path).await?;
    let current = &evidence["current"]["marketing"];
    writeln!(
        out,
        "   {}'s consent evidence (GET …/consent-evidence): marketing {} since {} by {}; the month-old sign-up opt-in is kept, and the later STOP decides:",
        stopper.name,
        current["status"].as_str().unwrap_or("?"),
        current["since"].as_str().unwrap_or("?"),
        current["source"].as_str().unwrap_or("?"),
    )?;
    for e in evidence["events"].as_array().into_iter().flatten().filter(|e| e["category"] == "marketing") {
        let at: Timestamp = e["occurred_at"].as_str().context("an event has its time")?.parse()?;
        writeln!(
            out,
            "     {} {:<9} {:<18} {}{}",
            at.strftime("%Y-%m-%d %H:%M:%S"),
            e["status"].as_str().unwrap_or("?"),
            e["source"].as_str().unwrap_or("?"),
            e["evidence"].as_str().unwrap_or("-"),
            if e["decides"] == true { "   ← decides" } else { "" },
        )?;
    }
    Ok(Imported { first, replay, evidence })
}

/// Step 14: a flash sale planned for tomorrow, paused when stock runs late, then called off:
/// nothing of it ever goes, and its numbers still add up.
async fn halted_campaign(client: &Client, out: &mut dyn Write, started: Timestamp) -> anyhow::Result<Halted> {
    writeln!(out, "\n14. A flash sale for tomorrow, paused, then cancelled")?;
    let recipients: Vec<&str> = CAST.iter().map(|p| p.number).collect();
    let body = json!({"name": "Flash sale", "category": "marketing",
        "template": {"name": "black_friday", "language": "en"}, "recipients": recipients,
        "send_at": (started + SignedDuration::from_hours(24)).to_string(),
        "idempotency_key": format!("flash-{}", started.as_second())});
    let created = client.api(Method::POST, "/v1/campaigns", Some(&body)).await?.expect(202, "POST /v1/campaigns")?;
    let id = created["id"].as_str().context("no campaign id")?.to_owned();
    let paused = client.api(Method::POST, &format!("/v1/campaigns/{id}/pause"), None).await?.expect(200, "pause")?;
    writeln!(
        out,
        "   campaign {id} for {} customers: {} ({})",
        created["accepted"],
        paused["status"].as_str().unwrap_or("?"),
        counts_line(&paused)
    )?;
    let cancelled =
        client.api(Method::POST, &format!("/v1/campaigns/{id}/cancel"), None).await?.expect(200, "cancel")?;
    writeln!(out, "   cancelled: {} — every customer accounted for, none will get it", counts_line(&cancelled))?;
    Ok(Halted { paused, cancelled })
}

/// Step 12's campaign.
#[derive(Debug, Clone)]
pub struct Morning {
    pub created: Value,
    /// `GET /v1/campaigns/{id}` once its audience file was read.
    pub view: Value,
    pub messages: Vec<Value>,
    /// The report's export once written (`GET /v1/campaigns/{id}/exports/{export_id}`), and
    /// its file's lines.
    pub export: Value,
    pub exported: Vec<String>,
}

/// Step 12: a morning offer with each customer's own first name, at 10:00 where each of them
/// is, what polite planned for each (the per-recipient report), and the report exported to S3.
async fn morning_offer(client: &Client, out: &mut dyn Write, started: Timestamp) -> anyhow::Result<Morning> {
    writeln!(out, "\n12. A morning offer, personal and at 10:00 where each customer is (deliver_at_local)")?;
    // The shop's list, as its spreadsheet exports it; one row lost its offer, which Meta
    // would refuse (132000).
    let rows: Vec<String> = CAST.iter().map(|p| format!("{},{},20% off", p.number, p.name)).collect();
    let list = format!("to,first_name,offer\n{}\n+5511987650099,Lia,\n", rows.join("\n"));
    let file = client.upload(&format!("morning-{}.csv", started.as_second()), list.into_bytes()).await?;
    writeln!(out, "   the shop uploads its list to {file} ({} customers, one row without its offer)", CAST.len() + 1)?;
    let body = json!({"name": "Morning offer", "category": "marketing",
        "template": {"name": "morning_offer", "language": "en"}, "audience": {"s3": file},
        "deliver_at_local": {"time": "10:00", "window_minutes": 30},
        "idempotency_key": format!("morning-{}", started.as_second())});
    let created = client.api(Method::POST, "/v1/campaigns", Some(&body)).await?.expect(202, "POST /v1/campaigns")?;
    let id = created["id"].as_str().context("no campaign id")?.to_owned();
    let view = eventually("the audience file read", Duration::from_mins(1), || async {
        let view = client.get(&format!("/v1/campaigns/{id}")).await?;
        Ok((view["audience"]["done"] == true).then_some(view))
    })
    .await?;
    let audience = &view["audience"];
    writeln!(
        out,
        "   campaign {id}: the file read ({} lines): {} accepted, {} rejected (a value missing: Meta would refuse it, 132000)",
        audience["read"], audience["accepted"], audience["rejected"]
    )?;
    let mut messages = Vec::new();
    let mut cursor = String::new();
    loop {
        let path = format!("/v1/campaigns/{id}/messages?limit=5&cursor={cursor}");
        let page = client.get(&path).await?;
        messages.extend(page["messages"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => next.clone_into(&mut cursor),
            None => break,
        }
    }
    writeln!(out, "   the per-recipient report (GET /v1/campaigns/{id}/messages, 5 a page):")?;
    for m in &messages {
        let to = m["to"].as_str().unwrap_or_default();
        let Some(p) = CAST.iter().find(|p| digits(p.number) == to) else { continue };
        let at: Timestamp = m["not_before"].as_str().context("a local-time message has its time")?.parse()?;
        let local_at = local(p.zone, at)?;
        let why = if local_at.hour() == 10 { "" } else { "  (the latest 10:00 of the zones the number may be in)" };
        writeln!(
            out,
            "   {:<7} {:<12} {} at {} local ({} UTC){why}",
            p.name,
            p.city,
            m["state"].as_str().unwrap_or("?"),
            local_at.strftime("%a %H:%M"),
            at.strftime("%H:%M"),
        )?;
    }
    let (export, exported) = export_report(client, out, &id).await?;
    Ok(Morning { created, view, messages, export, exported })
}

/// The campaign's report exported to S3 as CSV (the tick writes it): the export when done,
/// and its one file's lines.
async fn export_report(client: &Client, out: &mut dyn Write, id: &str) -> anyhow::Result<(Value, Vec<String>)> {
    let path = format!("/v1/campaigns/{id}/exports");
    let started = client.api(Method::POST, &path, Some(&json!({"format": "csv"}))).await?.expect(202, "export")?;
    let path = format!("{path}/{}", started["id"].as_str().context("no export id")?);
    let export = eventually("the export", Duration::from_mins(1), || async {
        let view = client.get(&path).await?;
        Ok((view["done"] == true).then_some(view))
    })
    .await?;
    let file = format!("{}part-00000.csv", export["location"].as_str().context("no location")?);
    let text = String::from_utf8(client.download(&file).await?)?;
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    writeln!(
        out,
        "   the report exported to S3 by the tick (POST /v1/campaigns/{{id}}/exports, CSV): {} rows, {} file and manifest.json in",
        export["rows"], export["files"]
    )?;
    writeln!(out, "     {}", export["location"].as_str().unwrap_or("?"))?;
    for line in lines.iter().take(2) {
        writeln!(out, "     {line}")?;
    }
    Ok((export, lines))
}

/// Caio agreed to order updates only.
const CAIO: &str = "+5511987664444";

/// Bia adopted a WhatsApp username: the simulator never shows the business her number.
const BIA: &str = "+5511987650077";

/// Omar, whose login code Meta takes while the answer is lost on the way (the simulator answers
/// a number ending `0504` with a gateway's 504 page after accepting it).
const OMAR: &str = "+971501230504";

/// The id both the first promotion's messages and its campaign view share.
pub const NEW_COLLECTION: &str = "new-collection-2026-11";

/// Settled: nothing more will happen to it in the next minutes.
fn settled(message: &Value) -> bool {
    match message["state"].as_str() {
        Some("read" | "failed" | "suppressed" | "expired" | "cancelled") => true,
        Some("scheduled" | "deferred") => message["reason"] == "quiet_hours",
        _ => false,
    }
}

fn digits(number: &str) -> String {
    number.trim_start_matches('+').to_owned()
}

fn local(zone: &str, at: Timestamp) -> anyhow::Result<jiff::Zoned> {
    Ok(at.to_zoned(TimeZone::get(zone).with_context(|| format!("time zone {zone}"))?))
}

/// Tells the story against the stack `client` talks to.
///
/// # Errors
/// When a step does not go as polite promises (the message says which), or the stack fails.
#[allow(clippy::too_many_lines, reason = "a story reads top to bottom")]
pub async fn run(client: &Client, out: &mut dyn Write) -> anyhow::Result<Story> {
    let started = Timestamp::now();
    let refused = *REFUSERS
        .iter()
        .find(|p| local(p.zone, started).is_ok_and(|t| (10..18).contains(&t.hour())))
        .unwrap_or(&REFUSERS[0]);
    let cast: Vec<Person> = CAST.iter().copied().chain([refused]).collect();

    writeln!(out, "polite demo — {} UTC\n", started.strftime("%Y-%m-%d %H:%M"))?;
    writeln!(out, "1. Acme's shop records marketing opt-ins, with evidence, as customers check out")?;
    for (i, p) in cast.iter().enumerate() {
        let body = json!({
            "category": "marketing", "status": "opted_in", "source": "web_checkout",
            "evidence": format!("Ticked 'WhatsApp offers from Acme' at checkout, order #{}", 4_100 + i),
            "occurred_at": (started - SignedDuration::from_hours(72)).to_string(),
        });
        let path = format!("/v1/contacts/{}/consent", p.number);
        let contact = client.api(Method::PUT, &path, Some(&body)).await?.expect(200, &format!("PUT {path}"))?;
        writeln!(
            out,
            "   {:<7} {:<12} {:<15} marketing: {}",
            p.name,
            p.city,
            p.number,
            contact["consent"]["marketing"]["status"].as_str().unwrap_or("?")
        )?;
    }
    let history = client.get(&format!("/v1/contacts/{}/consent-history", cast[0].number)).await?;
    writeln!(out, "   {}'s consent history: {}", cast[0].name, history["events"][0]["evidence"])?;

    writeln!(
        out,
        "\n2. The \"new collection\" promotion goes to each customer (POST /v1/messages, campaign_id {NEW_COLLECTION})"
    )?;
    let mut pending = Vec::new();
    for p in &cast {
        let body = json!({
            "to": p.number, "category": "marketing", "campaign_id": NEW_COLLECTION,
            "idempotency_key": format!("{NEW_COLLECTION}:{}", digits(p.number)),
            "template": {"name": "new_collection", "language": "en",
                "components": [{"type": "body", "parameters": [{"type": "text", "text": p.name}]}]},
        });
        let created = client.api(Method::POST, "/v1/messages", Some(&body)).await?.expect(202, "POST /v1/messages")?;
        let id = created["id"].as_str().context("POST /v1/messages answered without an id")?.to_owned();
        pending.push((*p, local(p.zone, Timestamp::now())?.strftime("%a %H:%M").to_string(), id));
    }
    let mut new_collection = Vec::new();
    for (person, local_time, id) in pending {
        let path = format!("/v1/messages/{id}");
        let message = eventually(&format!("{}'s promotion to settle", person.name), Duration::from_mins(1), || async {
            let m = client.get(&path).await?;
            Ok(settled(&m).then_some(m))
        })
        .await?;
        writeln!(
            out,
            "   {:<7} {:<12} {:<10} → {}",
            person.name,
            person.city,
            local_time,
            describe(&person, &message)?
        )?;
        new_collection.push(Outcome { person, local_time, message_id: id, message });
    }

    writeln!(out, "\n3. Black Friday early access is scheduled for everyone in 30 s (POST /v1/campaigns)")?;
    let send_at = Timestamp::now() + SignedDuration::from_secs(30);
    let mut recipients: Vec<&str> = cast.iter().map(|p| p.number).collect();
    recipients.extend(["+4412", cast[1].number]); // a typo and a repeat, as real lists have
    let body = json!({
        "name": "Black Friday early access", "category": "marketing",
        "template": {"name": "black_friday", "language": "en"},
        "recipients": recipients, "send_at": send_at.to_string(),
        "idempotency_key": format!("black-friday-{}", started.as_second()),
    });
    let black_friday_created =
        client.api(Method::POST, "/v1/campaigns", Some(&body)).await?.expect(202, "POST /v1/campaigns")?;
    let black_friday_id = black_friday_created["id"].as_str().context("no campaign id")?.to_owned();
    writeln!(out, "   campaign {black_friday_id}: {} accepted", black_friday_created["accepted"])?;
    for r in black_friday_created["rejected"].as_array().into_iter().flatten() {
        writeln!(out, "   rejected {}: {} ({})", r["to"], r["reason"], r["detail"].as_str().unwrap_or(""))?;
    }

    writeln!(out, "\n4. Replies while it waits")?;
    let awake: Vec<Outcome> =
        new_collection.iter().filter(|o| o.person != refused && o.message["state"] == "read").cloned().collect();
    let [stop_text, stop_button, ..] = awake.as_slice() else {
        bail!("fewer than two customers are awake in their sending hours; the cast should make that impossible");
    };
    let reply = |o: &Outcome| o.message["wamid"].as_str().unwrap_or_default().to_owned();
    let text = json!({"from": stop_text.person.number, "name": stop_text.person.name, "text": "STOP", "context": reply(stop_text)});
    client.sim(Method::POST, "/_sim/inbound", Some(&text)).await?.expect(200, "POST /_sim/inbound (STOP)")?;
    writeln!(out, "   {} replies \"STOP\" to the promotion", stop_text.person.name)?;
    let tap = json!({"from": stop_button.person.number, "name": stop_button.person.name,
        "button": {"payload": client.endpoints.optout_payload, "text": "Stop promotions"}, "context": reply(stop_button)});
    client.sim(Method::POST, "/_sim/inbound", Some(&tap)).await?.expect(200, "POST /_sim/inbound (button)")?;
    writeln!(out, "   {} taps the template's \"Stop promotions\" button", stop_button.person.name)?;
    let mut opted_out = Vec::new();
    for p in [stop_text.person, stop_button.person, refused] {
        let path = format!("/v1/contacts/{}", p.number);
        let contact = eventually(&format!("{}'s opt-out", p.name), Duration::from_secs(30), || async {
            let c = client.get(&path).await?;
            Ok((c["consent"]["marketing"]["status"] == "opted_out").then_some(c))
        })
        .await?;
        writeln!(
            out,
            "   {:<7} marketing: opted_out (source {}, at {})",
            p.name, contact["consent"]["marketing"]["source"], contact["consent"]["marketing"]["changed_at"]
        )?;
        opted_out.push(contact);
    }
    writeln!(
        out,
        "   ({} was never asked: WhatsApp refused the promotion with 131050 and polite synced it)",
        refused.name
    )?;
    let confirmations: Vec<Value> = sim_messages(client)
        .await?
        .into_iter()
        .filter(|m| m["type"] == "text" && m["to"] == digits(stop_text.person.number))
        .collect();
    for c in &confirmations {
        writeln!(out, "   polite answers {}: {}", stop_text.person.name, c["text"])?;
    }

    writeln!(out, "\n5. Meta's statuses arrive out of order and twice; polite keeps the truth")?;
    let disordered = disordered(client).await?;
    let ids: std::collections::HashMap<String, &Outcome> =
        new_collection.iter().map(|o| (o.message["wamid"].as_str().unwrap_or_default().to_owned(), o)).collect();
    for (wamid, order) in disordered.iter().filter(|(w, _)| ids.contains_key(w)).take(3) {
        let o = ids[wamid];
        let now = client.get(&format!("/v1/messages/{}", o.message_id)).await?;
        writeln!(out, "   {:<7} statuses arrived as {} → polite: {}", o.person.name, order.join(", "), now["state"])?;
    }
    if disordered.is_empty() {
        writeln!(out, "   (this run, every status arrived once and in order)")?;
    }

    writeln!(out, "\n6. Black Friday goes out at {}", send_at.strftime("%H:%M:%S UTC"))?;
    let path = format!("/v1/campaigns/{black_friday_id}");
    let black_friday_view = eventually("the Black Friday campaign to settle", Duration::from_mins(2), || async {
        let view = client.get(&path).await?;
        let c = &view["counts"];
        let n = |state: &str| c[state].as_u64().unwrap_or(0);
        let busy = n("queued") + n("sending") + n("sent") + n("delivered");
        // A `read` may overtake its `delivered`, which carries the pricing: wait for it too.
        let priced = view["pricing"]["marketing"]["priced"].as_u64().unwrap_or(0);
        let done = view["messages"] == view["accepted"] && busy == 0 && priced == n("read");
        Ok((Timestamp::now() > send_at && done).then_some(view))
    })
    .await?;
    let black_friday_sent_to: Vec<String> = sim_messages(client)
        .await?
        .iter()
        .filter(|m| m["template"] == "black_friday")
        .filter_map(|m| m["to"].as_str().map(str::to_owned))
        .collect();
    for p in &cast {
        let got = black_friday_sent_to.contains(&digits(p.number));
        let why = if got {
            "received it"
        } else if *p == refused {
            "suppressed: WhatsApp told polite they stopped marketing (131050)"
        } else if [stop_text.person, stop_button.person].contains(p) {
            "suppressed: opted out while the campaign was queued"
        } else {
            "waits for their morning (quiet hours)"
        };
        writeln!(out, "   {:<7} {why}", p.name)?;
    }

    writeln!(out, "\n7. The numbers")?;
    let new_collection_view = client.get(&format!("/v1/campaigns/{NEW_COLLECTION}")).await?;
    for (title, view) in [("new collection", &new_collection_view), ("Black Friday", &black_friday_view)] {
        writeln!(out, "   {title:<15} {}", counts_line(view))?;
        let priced = view["pricing"]["marketing"]["priced"].as_u64().unwrap_or(0);
        let billable = view["pricing"]["marketing"]["billable"].as_u64().unwrap_or(0);
        writeln!(
            out,
            "   {:<15} delivered {}, read {}; Meta priced {priced} marketing messages, {billable} billable",
            "",
            percent(&view["rates"]["delivered"]),
            percent(&view["rates"]["read"]),
        )?;
        writeln!(out, "   {:<15} estimated cost {} (polite's rate card; Meta's invoice decides)", "", cost(view))?;
    }
    writeln!(out, "\n8. An answer lost on the way: Meta takes Omar's login code, but a gateway answers 504")?;
    opt_in_for_codes(client, started).await?;
    let body = json!({"to": OMAR, "category": "authentication",
        "template": {"name": "login_code", "language": "en",
            "components": [{"type": "body", "parameters": [{"type": "text", "text": "482913"}]}]}});
    let created = client.api(Method::POST, "/v1/messages", Some(&body)).await?.expect(202, "POST /v1/messages")?;
    let path = format!("/v1/messages/{}", created["id"].as_str().unwrap_or_default());
    let lost_answer = eventually("the login code's statuses to settle it", Duration::from_mins(1), || async {
        let m = client.get(&path).await?;
        Ok((m["state"] == "read").then_some(m))
    })
    .await?;
    let lost_answer_accepted = sim_messages(client).await?.iter().filter(|m| m["to"] == digits(OMAR)).count();
    let states: Vec<&str> =
        lost_answer["history"].as_array().into_iter().flatten().filter_map(|h| h["state"].as_str()).collect();
    writeln!(out, "   polite does not send it again (Meta may have it): it waits in `sending` for Meta's word")?;
    writeln!(
        out,
        "   Meta's statuses settle it: {} — accepted by Meta {}",
        states.join(" → "),
        if lost_answer_accepted == 1 { "once".to_owned() } else { format!("{lost_answer_accepted} times") }
    )?;

    writeln!(out, "\n9. Bia uses a WhatsApp username: polite never learns her phone number")?;
    let bia = whatsapp_sim::SimUser::of(&polite_domain::WaId::parse(BIA)?).user_id;
    let consent = json!({"category": "marketing", "status": "opted_in", "source": "web_checkout",
        "evidence": "Ticked 'WhatsApp offers' at checkout (chat handle shown by WhatsApp)", "occurred_at": started.to_string()});
    let path = format!("/v1/contacts/{bia}");
    client.api(Method::PUT, &format!("{path}/consent"), Some(&consent)).await?.expect(200, "PUT consent")?;
    writeln!(out, "   the shop's CRM opts her in by her business-scoped user id {}", mask(&bia))?;
    let stop = json!({"from": BIA, "name": "Bia", "text": "STOP"});
    client.sim(Method::POST, "/_sim/inbound", Some(&stop)).await?.expect(200, "POST /_sim/inbound")?;
    writeln!(out, "   she replies STOP — the webhook's `from` is \"\", only `from_user_id` names her")?;
    let username_contact = eventually("Bia's STOP to be recorded", Duration::from_mins(1), || async {
        let c = client.get(&path).await?;
        Ok((c["consent"]["marketing"]["status"] == "opted_out").then_some(c))
    })
    .await?;
    writeln!(
        out,
        "   her contact: known by user id only, shown as {} (her username, for display: never an address)",
        username_contact["username"].as_str().unwrap_or("?")
    )?;
    let body = json!({"to": bia, "category": "marketing", "template": {"name": "new_collection", "language": "pt_BR"}});
    let created = client.api(Method::POST, "/v1/messages", Some(&body)).await?.expect(202, "POST /v1/messages")?;
    let message_path = format!("/v1/messages/{}", created["id"].as_str().unwrap_or_default());
    let username_after_stop = eventually("Bia's next promotion to be decided", Duration::from_mins(1), || async {
        let m = client.get(&message_path).await?;
        Ok(settled(&m).then_some(m))
    })
    .await?;
    writeln!(
        out,
        "   her opt-out is recorded on her person; the next promotion to her user id: {} ({})",
        username_after_stop["state"].as_str().unwrap_or("?"),
        username_after_stop["reason"].as_str().unwrap_or("-")
    )?;

    let recategorised = Box::pin(meta_decides(client, out, started)).await?;
    let endpoints: Vec<(String, String)> = sim_messages(client)
        .await?
        .iter()
        .filter(|m| m["type"] == "template")
        .map(|m| {
            (
                m["template"].as_str().unwrap_or_default().to_owned(),
                m["endpoint"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let on = |e: &str| endpoints.iter().filter(|(_, endpoint)| endpoint == e).count();
    writeln!(
        out,
        "   with the Marketing Messages API on, promotions went to /marketing_messages ({}), the rest to /messages ({})",
        on("marketing_messages"),
        on("messages")
    )?;

    let heard = events_out(client, out, stop_text.person, stop_button.person, refused).await?;
    let morning = morning_offer(client, out, started).await?;
    let imported = consent_import(client, out, stop_text.person, started).await?;
    let halted = halted_campaign(client, out, started).await?;

    Ok(Story {
        morning,
        imported,
        halted,
        heard,
        recategorised,
        endpoints,
        username_contact,
        username_after_stop,
        lost_answer,
        lost_answer_accepted,
        started,
        new_collection,
        stop_text: stop_text.person,
        stop_button: stop_button.person,
        refused,
        opted_out,
        black_friday_id,
        black_friday_created,
        new_collection_view,
        black_friday_view,
        black_friday_sent_to,
        disordered,
        confirmations,
    })
}

/// The events the demo shows (each as an EventBridge target receives it).
#[derive(Debug, Clone)]
pub struct Heard {
    /// The `inbound.message` of the "STOP" reply.
    pub stop_message: Value,
    /// The `consent.changed` (marketing) of each of the three who opted out.
    pub opt_outs: Vec<Value>,
    /// The win-back campaign's `campaign.completed`.
    pub completed: Value,
}

/// The events on the dev stack's bus of `detail_type` that `keep` picks, newest first, once
/// there are `n` (EventBridge delivers in seconds).
async fn bus_events(
    client: &Client,
    detail_type: &str,
    n: usize,
    keep: impl Fn(&Value) -> bool,
) -> anyhow::Result<Vec<Value>> {
    eventually(&format!("{n} {detail_type} event(s)"), Duration::from_mins(1), || async {
        let found: Vec<Value> = client.events(detail_type).await?.into_iter().filter(|e| keep(e)).collect();
        Ok((found.len() >= n).then_some(found))
    })
    .await
}

/// Step 11: what the shop's other systems heard, and a win-back campaign to the three who said
/// no — all suppressed, so it completes at once and says so.
async fn events_out(
    client: &Client,
    out: &mut dyn Write,
    stop_text: Person,
    stop_button: Person,
    refused: Person,
) -> anyhow::Result<Heard> {
    writeln!(out, "\n11. What the shop's CRM heard: polite's events on EventBridge (locally GET /_dev/events)")?;
    let from = |p: Person| move |e: &Value| e["detail"]["contact"]["wa_id"] == digits(p.number);
    let stop = bus_events(client, "inbound.message", 1, |e| {
        from(stop_text)(e) && e["detail"]["message"]["text"]["body"] == "STOP"
    })
    .await?;
    let stop_message = stop[0].clone();
    writeln!(
        out,
        "   inbound.message    {} wrote {} (window open until {})",
        stop_text.name, stop_message["detail"]["message"]["text"]["body"], stop_message["detail"]["window_open_until"]
    )?;
    let mut opt_outs = Vec::new();
    for p in [stop_text, stop_button, refused] {
        let changed = bus_events(client, "consent.changed", 1, |e| {
            from(p)(e) && e["detail"]["category"] == "marketing" && e["detail"]["status"] == "opted_out"
        })
        .await?;
        writeln!(
            out,
            "   consent.changed    {:<7} marketing opted_out (source {})",
            p.name, changed[0]["detail"]["source"]
        )?;
        opt_outs.push(changed[0].clone());
    }
    let recipients: Vec<&str> = [stop_text, stop_button, refused].iter().map(|p| p.number).collect();
    let body = json!({"name": "Win-back", "category": "marketing", "recipients": recipients,
        "template": {"name": "newsletter", "language": "en"}});
    let created = client.api(Method::POST, "/v1/campaigns", Some(&body)).await?.expect(202, "POST /v1/campaigns")?;
    let id = created["id"].as_str().unwrap_or_default().to_owned();
    writeln!(out, "   the shop tries a win-back campaign on those three ({id})")?;
    let completed = bus_events(client, "campaign.completed", 1, |e| e["detail"]["campaign_id"] == id.as_str()).await?;
    let completed = completed[0].clone();
    writeln!(
        out,
        "   campaign.completed {id}: {} — not one message to anyone who said no",
        completed["detail"]["counts"]
    )?;
    let moves = client.events("message.state_changed").await?.len();
    writeln!(
        out,
        "   message.state_changed: {moves} so far, one per real move (Meta's duplicated and reversed statuses add none)"
    )?;
    Ok(Heard { stop_message, opt_outs, completed })
}

/// Meta re-categorises a utility template as MARKETING while Caio's order update waits for its
/// time: it goes under Meta's category, so without marketing consent it is suppressed.
async fn meta_decides(client: &Client, out: &mut dyn Write, started: Timestamp) -> anyhow::Result<Value> {
    writeln!(out, "\n10. Meta decides a template's category")?;
    let consent = json!({"category": "utility", "status": "opted_in", "source": "checkout",
        "evidence": "Order updates on WhatsApp: yes", "occurred_at": started.to_string()});
    let path = format!("/v1/contacts/{CAIO}/consent");
    client.api(Method::PUT, &path, Some(&consent)).await?.expect(200, "PUT consent")?;
    let due = Timestamp::now() + SignedDuration::from_secs(25);
    let body = json!({"to": CAIO, "category": "utility", "send_at": due.to_string(),
        "template": {"name": "order_update", "language": "en"}});
    let created = client.api(Method::POST, "/v1/messages", Some(&body)).await?.expect(202, "POST /v1/messages")?;
    writeln!(out, "   Caio agreed to order updates only; his order update (order_update, utility) is due in 25 s")?;
    let change = json!({"name": "order_update", "language": "en", "category": "MARKETING"});
    client.sim(Method::POST, "/_sim/templates", Some(&change)).await?.expect(200, "POST /_sim/templates")?;
    writeln!(out, "   meanwhile Meta re-categorises order_update as MARKETING (a template_category_update webhook)")?;
    let path = format!("/v1/messages/{}", created["id"].as_str().unwrap_or_default());
    let decided = eventually("Caio's order update to be decided", Duration::from_mins(2), || async {
        let m = client.get(&path).await?;
        Ok(matches!(m["state"].as_str(), Some("read" | "failed" | "suppressed")).then_some(m))
    })
    .await?;
    writeln!(
        out,
        "   when due it goes under Meta's category, {} (asked: {}): {} ({}) — no marketing consent",
        decided["category"].as_str().unwrap_or("?"),
        decided["requested_category"].as_str().unwrap_or("-"),
        decided["state"].as_str().unwrap_or("?"),
        decided["reason"].as_str().unwrap_or("-")
    )?;
    Ok(decided)
}

/// A business-scoped user id for the transcript: its country and last two characters.
fn mask(user_id: &str) -> String {
    polite_domain::BusinessScopedUserId::parse(user_id).map_or_else(|_| "(invalid)".to_owned(), |u| u.masked())
}

/// Omar agreed to WhatsApp messages when he signed up (a login code needs some consent).
async fn opt_in_for_codes(client: &Client, started: Timestamp) -> anyhow::Result<()> {
    let body = json!({"category": "utility", "status": "opted_in", "source": "signup_form",
        "evidence": "Ticked 'Send my login codes on WhatsApp' at sign-up",
        "occurred_at": (started - SignedDuration::from_hours(24)).to_string()});
    let path = format!("/v1/contacts/{OMAR}/consent");
    client.api(Method::PUT, &path, Some(&body)).await?.expect(200, &format!("PUT {path}"))?;
    Ok(())
}

/// One settled message in words.
fn describe(person: &Person, m: &Value) -> anyhow::Result<String> {
    Ok(match m["state"].as_str().unwrap_or("?") {
        "read" => "sent, delivered, read".to_owned(),
        "failed" => format!("failed: {} {}", m["error"]["code"], m["error"]["title"].as_str().unwrap_or("")),
        "scheduled" | "deferred" => {
            let at: Timestamp = m["not_before"].as_str().unwrap_or_default().parse().context("not_before")?;
            format!(
                "{} ({}) until {} local",
                m["state"].as_str().unwrap_or(""),
                m["reason"].as_str().unwrap_or(""),
                local(person.zone, at)?.strftime("%a %H:%M")
            )
        }
        other => format!("{other} ({})", m["reason"].as_str().unwrap_or("")),
    })
}

/// `0.8` → `80 %`; `null` (nothing went) → `–`.
/// A campaign view's estimated cost, `USD 0.1875` (per currency), `nothing yet` before any.
fn cost(view: &Value) -> String {
    let amounts = view["estimated_cost"]["amounts"].as_object().into_iter().flatten();
    let shown: Vec<String> =
        amounts.map(|(currency, amount)| format!("{currency} {}", amount.as_str().unwrap_or("?"))).collect();
    if shown.is_empty() { "nothing yet".to_owned() } else { shown.join(" + ") }
}

fn percent(rate: &Value) -> String {
    rate.as_f64().map_or_else(|| "–".to_owned(), |r| format!("{:.0} %", r * 100.0))
}

/// `state: n` for every non-zero count, and the total.
pub fn counts_line(view: &Value) -> String {
    let counts = view["counts"].as_object().map(|c| {
        c.iter().filter(|(_, n)| n.as_u64().unwrap_or(0) > 0).map(|(s, n)| format!("{s} {n}")).collect::<Vec<_>>()
    });
    format!("{} of {} messages", counts.unwrap_or_default().join(", "), view["messages"])
}

async fn sim_messages(client: &Client) -> anyhow::Result<Vec<Value>> {
    let all = client.sim(Method::GET, "/_sim/messages", None).await?.expect(200, "GET /_sim/messages")?;
    Ok(all["messages"].as_array().cloned().unwrap_or_default())
}

/// Messages whose status webhooks were posted out of lattice order or more than once.
async fn disordered(client: &Client) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let all = client.sim(Method::GET, "/_sim/webhooks", None).await?.expect(200, "GET /_sim/webhooks")?;
    let mut by_message: Vec<(String, Vec<String>)> = Vec::new();
    for w in all["webhooks"].as_array().into_iter().flatten().filter(|w| w["kind"] == "status") {
        let (Some(wamid), Some(status)) = (w["wamid"].as_str(), w["status"].as_str()) else { continue };
        match by_message.iter_mut().find(|(id, _)| id == wamid) {
            Some((_, order)) => order.push(status.to_owned()),
            None => by_message.push((wamid.to_owned(), vec![status.to_owned()])),
        }
    }
    let rank = |s: &str| ["sent", "delivered", "read"].iter().position(|x| *x == s).unwrap_or(3);
    by_message.retain(|(_, order)| order.windows(2).any(|w| rank(&w[0]) >= rank(&w[1])));
    Ok(by_message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cast_is_valid_numbers_in_the_zones_they_claim_and_avoids_the_simulators_fates() {
        for p in CAST.iter().chain(&REFUSERS) {
            let id = polite_domain::WaId::parse(p.number).unwrap();
            let zones = polite_domain::ids::zones_for_number(&id).zones;
            assert!(zones.contains(&p.zone), "{} ({}): {zones:?}", p.number, p.city);
        }
        for p in CAST {
            assert_eq!(whatsapp_sim::outcome_for(&digits(p.number)), None, "{} would meet a simulated fate", p.number);
        }
        for p in REFUSERS {
            assert!(whatsapp_sim::outcome_for(&digits(p.number)).is_some(), "{} must be refused", p.number);
        }
    }

    #[test]
    fn at_every_hour_of_the_year_someone_is_awake_and_someone_asleep() {
        let mut at: Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let end: Timestamp = "2027-01-01T00:00:00Z".parse().unwrap();
        while at < end {
            let hours: Vec<i8> = CAST.iter().map(|p| local(p.zone, at).unwrap().hour()).collect();
            let awake = hours.iter().filter(|h| (8..21).contains(*h)).count();
            assert!(awake >= 3, "{at}: {hours:?}");
            assert!(awake < CAST.len(), "{at}: {hours:?}");
            let refuser = REFUSERS.iter().any(|p| (10..18).contains(&local(p.zone, at).unwrap().hour()));
            assert!(refuser, "{at}: no refuser in their afternoon");
            at += SignedDuration::from_mins(30);
        }
    }
}
