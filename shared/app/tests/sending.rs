//! message-sender's use case on in-memory fakes (no moto, no simulator): the gate decides at
//! send time — a consenting person gets the message once however often its job comes, an
//! opted-out one gets nothing, a message at night waits for the morning.

use jiff::{SignedDuration, Timestamp};
use polite_app::fakes::{MemoryContacts, MemoryMessages, MemoryQueue, MemoryTemplates, MemoryWhatsApp};
use polite_app::scheduler::Scheduler;
use polite_app::sending::pacing::Pacer;
use polite_app::sending::{Outcome, Sender};
use polite_domain::ContactRef;
use polite_domain::campaign::CampaignSettings;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
use polite_domain::gate::Policy;
use polite_domain::message::MessageState;
use polite_domain::ports::prelude::*;
use polite_domain::request::SendRequest;

type FakeSender = Sender<MemoryMessages, MemoryContacts, MemoryQueue, MemoryWhatsApp, MemoryTemplates>;

/// 12:00 in São Paulo on a Monday.
fn noon() -> Timestamp {
    "2026-11-23T15:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

const ANA: &str = "+5511987654321";

struct World {
    scheduler: Scheduler<MemoryMessages, MemoryContacts, MemoryQueue, MemoryTemplates>,
    sender: FakeSender,
}

fn world() -> World {
    let messages = MemoryMessages::default();
    let contacts = MemoryContacts::new(b"test-key");
    let scheduler = Scheduler::on(
        messages.clone(),
        contacts.clone(),
        MemoryTemplates::default(),
        MemoryQueue::default(),
        CampaignSettings::default(),
    );
    let sender = Sender {
        messages,
        contacts,
        send_queue: MemoryQueue::default(),
        inbound: MemoryQueue::default(),
        whatsapp: MemoryWhatsApp::default(),
        templates: MemoryTemplates::default(),
        marketing_messages_api: false,
        policy: Policy::default(),
        pacer: Pacer::new(0.0),
    };
    World { scheduler, sender }
}

async fn consent(w: &World, status: ConsentStatus) {
    let ana = ContactRef::parse(ANA).unwrap_or_else(|e| panic!("{e}"));
    let at: Timestamp = "2026-01-05T10:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let source = ConsentSource::business("web_checkout").unwrap_or_else(|e| panic!("{e}"));
    let event = ConsentEvent::from_business(&ana, ConsentCategory::Marketing, status, source, None, at, at)
        .unwrap_or_else(|e| panic!("{e:?}"));
    w.sender.contacts.append_consent(&ana, &event).await.unwrap_or_else(|e| panic!("{e}"));
}

/// A marketing template to Ana requested at `now`: its id and its send job's body.
async fn request(w: &World, now: Timestamp) -> (String, String) {
    let json =
        format!(r#"{{"to":"{ANA}","category":"marketing","template":{{"name":"spring_sale","language":"pt_BR"}}}}"#);
    let request: SendRequest = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}"));
    let send = request.validate(now).unwrap_or_else(|e| panic!("{e:?}"));
    let id = w.scheduler.submit(send, json, now).await.unwrap_or_else(|e| panic!("{e}")).id;
    let jobs = w.scheduler.send_queue.take_bodies();
    assert_eq!(jobs.len(), 1, "one job on send-queue");
    (id, jobs[0].clone())
}

#[tokio::test]
async fn a_consenting_person_gets_the_message_once_however_often_the_job_comes() {
    let w = world();
    consent(&w, ConsentStatus::OptedIn).await;
    let (id, job) = request(&w, noon()).await;
    assert_eq!(w.sender.process(&job, noon()).await.ok(), Some(Outcome::Sent));
    let again = w.sender.process(&job, noon() + SignedDuration::from_secs(30)).await.ok();
    assert!(matches!(again, Some(Outcome::Skipped(_))), "{again:?}");
    assert_eq!(w.sender.whatsapp.sent().len(), 1, "one send to Meta");
    let stored = w.sender.messages.get(&id).await.ok().flatten().unwrap_or_else(|| panic!("stored"));
    assert_eq!(stored.state, MessageState::Sent);
    assert_eq!(stored.wamid.as_deref(), Some("wamid.FAKE1"));
}

#[tokio::test]
async fn an_opted_out_person_gets_nothing() {
    let w = world();
    consent(&w, ConsentStatus::OptedOut).await;
    let (id, job) = request(&w, noon()).await;
    assert_eq!(w.sender.process(&job, noon()).await.ok(), Some(Outcome::Suppressed));
    assert!(w.sender.whatsapp.sent().is_empty());
    let stored = w.sender.messages.get(&id).await.ok().flatten().map(|m| (m.state, m.reason));
    assert_eq!(stored, Some((MessageState::Suppressed, Some("opted_out".into()))));
}

#[tokio::test]
async fn a_message_at_night_waits_for_the_morning() {
    let w = world();
    consent(&w, ConsentStatus::OptedIn).await;
    // 23:00 in São Paulo.
    let night = noon() + SignedDuration::from_hours(11);
    let (id, job) = request(&w, night).await;
    let outcome = w.sender.process(&job, night).await.ok();
    assert!(matches!(outcome, Some(Outcome::Scheduled | Outcome::Deferred)), "{outcome:?}");
    assert!(w.sender.whatsapp.sent().is_empty(), "nothing at night");
    let stored = w.sender.messages.get(&id).await.ok().flatten().unwrap_or_else(|| panic!("stored"));
    assert_eq!(stored.reason.as_deref(), Some("quiet_hours"));
    assert!(stored.not_before.is_some_and(|t| t > night + SignedDuration::from_hours(8)), "{:?}", stored.not_before);
}
