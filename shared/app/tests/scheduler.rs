//! The scheduler's use cases on in-memory fakes (no moto): a send placed on the queue or the
//! due index, an idempotent replay, the 24 h window of free-form text, cancellation, the tick
//! releasing what came due, and a campaign fanned out once however often its chunks are
//! claimed — the same behaviour messages-api's tests check over HTTP against moto, in
//! milliseconds.

use jiff::{SignedDuration, Timestamp};
use polite_app::fakes::{MemoryContacts, MemoryMessages, MemoryQueue, MemoryTemplates};
use polite_app::scheduler::{Cancel, Scheduler, SubmitError, tick};
use polite_domain::ContactRef;
use polite_domain::campaign::{CampaignRequest, CampaignSettings};
use polite_domain::envelope::{self, kinds};
use polite_domain::message::{Category, MessageState};
use polite_domain::ports::prelude::*;
use polite_domain::request::{Payload, SendJob, ValidSend};

type Fakes = Scheduler<MemoryMessages, MemoryContacts, MemoryQueue, MemoryTemplates>;

fn scheduler() -> Fakes {
    let campaigns = CampaignSettings { chunk_size: 2, ..CampaignSettings::default() };
    Scheduler::on(
        MemoryMessages::default(),
        MemoryContacts::new(b"test-key"),
        MemoryTemplates::default(),
        MemoryQueue::default(),
        campaigns,
    )
}

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

fn ana() -> ContactRef {
    ContactRef::parse("+5511987654321").unwrap_or_else(|e| panic!("{e}"))
}

fn template(send_at: Option<Timestamp>, key: Option<&str>) -> ValidSend {
    ValidSend {
        to: ana(),
        category: Category::Utility,
        payload: Payload::Template(serde_json::json!({"name": "order_shipped", "language": {"code": "en_US"}})),
        send_at,
        expires_at: None,
        campaign_id: None,
        idempotency_key: key.map(str::to_owned),
    }
}

/// The message ids on send-queue, in order (each a versioned send job).
fn queued_ids(s: &Fakes) -> Vec<String> {
    s.send_queue
        .take_bodies()
        .iter()
        .map(|b| envelope::decode::<SendJob>(kinds::SEND_JOB, b).map_or_else(|e| panic!("{e}"), |j| j.id))
        .collect()
}

#[tokio::test]
async fn a_send_due_soon_is_queued_and_a_later_one_waits_on_the_due_index() {
    let s = scheduler();
    let soon = s.submit(template(None, None), "h1".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(soon.state, MessageState::Queued);
    assert_eq!(queued_ids(&s), std::slice::from_ref(&soon.id));
    // The sender claims it (else its lease would run out and the tick queue it again).
    let from = [MessageState::Queued];
    let details = polite_domain::message::TransitionDetails::default();
    s.messages
        .transition(&soon.id, &from, MessageState::Sending, now(), details)
        .await
        .unwrap_or_else(|e| panic!("{e}"));

    let tomorrow = now() + SignedDuration::from_hours(24);
    let later = s.submit(template(Some(tomorrow), None), "h2".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((later.state, later.not_before), (MessageState::Scheduled, Some(tomorrow)));
    assert!(queued_ids(&s).is_empty(), "nothing queued for tomorrow");

    let early = tick::run(&s, now() + SignedDuration::from_hours(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(early.released, 0, "not due yet");
    let report = tick::run(&s, tomorrow).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(report.released, 1);
    assert_eq!(queued_ids(&s), std::slice::from_ref(&later.id));
    let stored = s.messages.get(&later.id).await.ok().flatten().map(|m| m.state);
    assert_eq!(stored, Some(MessageState::Queued));
    let again = tick::run(&s, tomorrow).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.released, 0, "released once");
}

#[tokio::test]
async fn a_queued_message_the_sender_never_claimed_is_queued_again_when_its_lease_runs_out() {
    let s = scheduler();
    let m = s.submit(template(None, None), "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(queued_ids(&s), std::slice::from_ref(&m.id), "then the queue message is lost");
    let within = tick::run(&s, now() + SignedDuration::from_mins(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(within.requeued, 0, "still under its lease");
    let after = tick::run(&s, now() + SignedDuration::from_hours(1)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(after.requeued, 1, "{after:?}");
    assert_eq!(queued_ids(&s), std::slice::from_ref(&m.id));
}

#[tokio::test]
async fn a_replayed_key_gets_the_first_answer_and_another_body_a_conflict() {
    let s = scheduler();
    let first = s.submit(template(None, Some("order-42")), "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    let replay = s.submit(template(None, Some("order-42")), "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(replay.id, first.id);
    assert_eq!(queued_ids(&s), std::slice::from_ref(&first.id), "queued once");
    let other = s.submit(template(None, Some("order-42")), "other".into(), now()).await;
    assert!(matches!(other, Err(SubmitError::IdempotencyConflict)), "{other:?}");
}

#[tokio::test]
async fn free_form_text_needs_the_window_the_persons_message_opened() {
    let s = scheduler();
    let text = ValidSend {
        category: Category::Service,
        payload: Payload::Text("Your order shipped".into()),
        ..template(None, None)
    };
    let closed = s.submit(text.clone(), "h".into(), now()).await;
    assert!(matches!(closed, Err(SubmitError::WindowClosed { open_until: None, .. })), "{closed:?}");
    s.contacts
        .record_inbound(&ana(), now() - SignedDuration::from_hours(1), None)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let open = s.submit(text, "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(open.state, MessageState::Queued);
}

#[tokio::test]
async fn a_waiting_message_is_cancelled_once_and_a_sent_one_is_too_late() {
    let s = scheduler();
    let tomorrow = now() + SignedDuration::from_hours(24);
    let m = s.submit(template(Some(tomorrow), None), "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(s.cancel(&m.id, now()).await, Ok(Cancel::Cancelled(c)) if c.state == MessageState::Cancelled));
    assert!(matches!(s.cancel(&m.id, now()).await, Ok(Cancel::Cancelled(_))), "cancelling again answers the same");
    assert_eq!(tick::run(&s, tomorrow).await.map(|r| r.released).ok(), Some(0), "a cancelled message is not released");
    assert!(matches!(s.cancel("msg_unknown", now()).await, Ok(Cancel::Unknown)));

    let sent = s.submit(template(None, None), "h2".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    let from = [MessageState::Queued];
    let details = polite_domain::message::TransitionDetails::default();
    s.messages
        .transition(&sent.id, &from, MessageState::Sending, now(), details)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(matches!(s.cancel(&sent.id, now()).await, Ok(Cancel::TooLate(MessageState::Sending))));
}

#[tokio::test]
async fn a_campaign_fans_out_one_message_per_recipient_however_often_its_chunks_are_claimed() {
    let s = scheduler();
    let request: CampaignRequest = serde_json::from_value(serde_json::json!({
        "name": "spring", "category": "marketing",
        "template": {"name": "spring_sale", "language": "pt_BR"},
        "recipients": ["+5511987654001", "+5511987654002", "+5511987654003", "+5511987654002", "not a number"]
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let campaign = request.validate(now()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((campaign.recipients.len(), campaign.rejected.len()), (3, 2), "a duplicate and a bad number");
    let ready = s.personalise(&campaign).await.unwrap_or_else(|e| panic!("{e}"));
    let record = s.create_campaign(&campaign, &ready, "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((record.accepted, record.chunks), (3, 2));

    // The tick fans out both chunks; a second tick (a fan-out that stopped half-way and came
    // back after its lease) creates nothing twice.
    let first = tick::run(&s, now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((first.chunks, first.fan_out.created), (2, 3), "{first:?}");
    let later = now() + SignedDuration::from_mins(10);
    let second = tick::run(&s, later).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.fan_out.created, 0, "{second:?}");
    let mut ids = queued_ids(&s);
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3, "one message per recipient on send-queue");
    let report = s.report(&record.id).await.ok().flatten().unwrap_or_else(|| panic!("the campaign reads"));
    let view = serde_json::to_value(&report).unwrap_or_default();
    assert_eq!(view["counts"]["queued"], 3, "{view}");
}

#[tokio::test]
async fn each_recipients_values_are_checked_against_the_template_and_go_into_their_own_message() {
    let s = scheduler();
    let shape = polite_domain::placeholders::TemplateShape::from_meta(
        &[serde_json::json!({"type": "BODY", "text": "Olá {{first_name}}, {{discount}} de desconto"})],
        Some("NAMED"),
    );
    let update = polite_domain::template::TemplateUpdate {
        key: polite_domain::template::TemplateKey::new("spring_offer", "pt_BR"),
        id: None,
        status: Some("APPROVED".into()),
        reason: None,
        category: Some(Category::Marketing),
        pending_category: None,
        quality: None,
        shape: Some(shape),
        at: now() - SignedDuration::from_hours(1),
    };
    s.templates.apply_template(&update).await.unwrap_or_else(|e| panic!("{e}"));
    let request: CampaignRequest = serde_json::from_value(serde_json::json!({
        "name": "spring", "category": "marketing",
        "template": {"name": "spring_offer", "language": "pt_BR"},
        "recipients": [
            {"to": "+5511987654001", "parameters": {"first_name": "Ana", "discount": "20%"}},
            {"to": "+5511987654002", "parameters": {"first_name": "Bia"}},
            {"to": "+5511987654003", "parameters": {"first_name": "Caio", "discount": "15%"}}
        ]
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let campaign = request.validate(now()).unwrap_or_else(|e| panic!("{e:?}"));
    let ready = s.personalise(&campaign).await.unwrap_or_else(|e| panic!("{e}"));
    let rejected: Vec<(&str, String)> = ready
        .rejected
        .iter()
        .map(|r| (r.to.as_str(), serde_json::to_value(r.reason).unwrap_or_default().to_string()))
        .collect();
    assert_eq!(rejected, [("+5511987654002", "\"invalid_parameters\"".to_owned())], "Bia's discount is missing");
    let record = s.create_campaign(&campaign, &ready, "h".into(), now()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((record.accepted, record.rejected), (2, 1));
    tick::run(&s, now()).await.unwrap_or_else(|e| panic!("{e}"));
    let mut names = Vec::new();
    for id in queued_ids(&s) {
        let message = s.messages.get(&id).await.ok().flatten().unwrap_or_else(|| panic!("{id} is stored"));
        let Payload::Template(template) = message.payload else { panic!("a template") };
        let parameters = &template["components"][0]["parameters"];
        names.push((message.to.to_string(), parameters[0]["text"].clone(), parameters[1]["text"].clone()));
    }
    names.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        names,
        [
            ("5511987654001".to_owned(), serde_json::json!("Ana"), serde_json::json!("20%")),
            ("5511987654003".to_owned(), serde_json::json!("Caio"), serde_json::json!("15%")),
        ]
    );
}

#[tokio::test]
async fn a_local_time_campaign_reaches_each_person_at_that_time_in_their_own_zone() {
    use MessageState::{Scheduled, Suppressed};
    let s = scheduler();
    // Rui set his own zone: his +1 number alone would say anywhere from New York to Hawaii.
    let rui = ContactRef::parse("+16505550001").unwrap_or_else(|e| panic!("{e}"));
    let chicago = polite_domain::contact::ContactSettings {
        timezone: polite_domain::IanaZone::parse("America/Chicago").ok(),
        ..Default::default()
    };
    s.contacts.update_settings(&rui, &chicago).await.unwrap_or_else(|e| panic!("{e}"));
    let campaign = |if_passed: &str| -> CampaignRequest {
        serde_json::from_value(serde_json::json!({
            "name": "morning", "category": "marketing",
            "template": {"name": "spring_sale", "language": "pt_BR"},
            "deliver_at_local": {"time": "10:00", "window_minutes": 0, "if_passed": if_passed},
            "recipients": ["+5511987654001", "+351912345678", "+819012345678", "+16505550001"]
        }))
        .unwrap_or_else(|e| panic!("{e}"))
    };
    // 09:00Z on 1 December: 06:00 in São Paulo, 09:00 in Lisbon, 18:00 in Tokyo, 03:00 in Chicago.
    let start: Timestamp = "2026-12-01T09:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let mut times = Vec::new();
    for (if_passed, key) in [("next_day", "a"), ("skip", "b")] {
        let mut request = campaign(if_passed);
        request.idempotency_key = Some(key.into());
        let valid = request.validate(start).unwrap_or_else(|e| panic!("{e:?}"));
        let ready = s.personalise(&valid).await.unwrap_or_else(|e| panic!("{e}"));
        let record = s.create_campaign(&valid, &ready, key.into(), start).await.unwrap_or_else(|e| panic!("{e}"));
        let done = s.fan_out_within(&record, std::time::Duration::from_mins(1), start).await;
        assert_eq!(done.created, 4, "{done:?}");
        let mut these = Vec::new();
        for number in ["5511987654001", "351912345678", "819012345678", "16505550001"] {
            let key = format!("{}:{number}", record.id);
            // A campaign's messages are keyed `<campaign>:<contact>`, hashed by the campaign id.
            let message = s.messages.replay(&key, &record.id).await.ok().flatten().unwrap_or_else(|| panic!("{key}"));
            these.push((number, message.not_before.map(|t| t.to_string()), message.state, message.reason));
        }
        times.push(these);
    }
    let at = |s: &str| Some(s.to_owned());
    assert_eq!(
        times[0],
        [
            ("5511987654001", at("2026-12-01T13:00:00Z"), Scheduled, None),
            // A Portuguese mobile may be in Lisbon or the Azores: 10:00 in the Azores, the later.
            ("351912345678", at("2026-12-01T11:00:00Z"), Scheduled, None),
            ("819012345678", at("2026-12-02T01:00:00Z"), Scheduled, None),
            ("16505550001", at("2026-12-01T16:00:00Z"), Scheduled, None),
        ],
        "each at 10:00 where they are; Tokyo's 10:00 had passed, so the next day's"
    );
    assert_eq!(times[1][2].2, Suppressed, "skipped: Tokyo's 10:00 had passed");
    assert_eq!(times[1][2].3.as_deref(), Some("local_time_passed"));
    assert_eq!(times[1][0].2, Scheduled);
}
