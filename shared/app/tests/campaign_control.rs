//! Pausing, resuming and cancelling a campaign half-way through its fan-out, on in-memory
//! fakes: the scheduler (fan-out, tick, control) and the sender share one messages table, and
//! every recipient either gets the message exactly once or ends with a reason — never twice,
//! never lost, and the counts add up to the recipients accepted.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use jiff::{SignedDuration, Timestamp};
use polite_app::fakes::{MemoryContacts, MemoryMessages, MemoryQueue, MemoryTemplates, MemoryWhatsApp};
use polite_app::scheduler::campaigns::Controlled;
use polite_app::scheduler::{Scheduler, tick};
use polite_app::sending::pacing::Pacer;
use polite_app::sending::{Outcome, Sender};
use polite_domain::ContactRef;
use polite_domain::campaign::{CampaignRequest, CampaignSettings, CampaignStatus, Control, RESUME_CHUNK};
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentSource, ConsentStatus};
use polite_domain::gate::Policy;
use polite_domain::message::{DUE_SHARDS, Due, MessageState};
use polite_domain::ports::prelude::*;

const PEOPLE: usize = 40;
const CHUNK: usize = 5;
/// [`PEOPLE`] as the counts give it.
const EVERYONE: i64 = 40;

struct World {
    scheduler: Scheduler<MemoryMessages, MemoryContacts, MemoryQueue, MemoryTemplates>,
    sender: Sender<MemoryMessages, MemoryContacts, MemoryQueue, MemoryWhatsApp, MemoryTemplates>,
}

/// 12:00 in São Paulo on a Monday.
fn noon() -> Timestamp {
    "2026-11-23T15:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH)
}

fn later(minutes: i64) -> Timestamp {
    noon() + SignedDuration::from_mins(minutes)
}

fn person(n: usize) -> ContactRef {
    ContactRef::parse(&format!("+55119876{n:05}")).unwrap_or_else(|e| panic!("{e}"))
}

async fn world() -> World {
    let messages = MemoryMessages::default();
    let contacts = MemoryContacts::new(b"test-key");
    // Pages of a chunk's size: a resume goes through the parked messages in several.
    let campaigns = CampaignSettings { chunk_size: CHUNK, sweep_page: CHUNK, ..CampaignSettings::default() };
    let scheduler = Scheduler::on(
        messages.clone(),
        contacts.clone(),
        MemoryTemplates::default(),
        MemoryQueue::default(),
        campaigns,
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
    let at: Timestamp = "2026-01-05T10:00:00Z".parse().unwrap_or(Timestamp::UNIX_EPOCH);
    let source = ConsentSource::business("web_checkout").unwrap_or_else(|e| panic!("{e}"));
    for n in 0..PEOPLE {
        let event = ConsentEvent::from_business(
            &person(n),
            ConsentCategory::Marketing,
            ConsentStatus::OptedIn,
            source.clone(),
            None,
            at,
            at,
        )
        .unwrap_or_else(|e| panic!("{e:?}"));
        scheduler.contacts.append_consent(&person(n), &event).await.unwrap_or_else(|e| panic!("{e}"));
    }
    World { scheduler, sender }
}

/// A campaign to everyone, stored (nothing fanned out yet): its id.
async fn campaign(w: &World) -> String {
    let recipients: Vec<String> = (0..PEOPLE).map(|n| person(n).to_string()).collect();
    let request: CampaignRequest = serde_json::from_value(serde_json::json!({
        "name": "summer", "category": "marketing",
        "template": {"name": "summer_sale", "language": "pt_BR"},
        "recipients": recipients,
    }))
    .unwrap_or_else(|e| panic!("{e}"));
    let valid = request.validate(noon()).unwrap_or_else(|e| panic!("{e:?}"));
    let ready = w.scheduler.personalise(&valid).await.unwrap_or_else(|e| panic!("{e}"));
    let record =
        w.scheduler.create_campaign(&valid, &ready, "h".into(), noon()).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(record.chunks as usize, PEOPLE / CHUNK);
    record.id
}

/// Fans out chunks `from..to` at `now`.
async fn fan_out(w: &World, id: &str, chunks: std::ops::Range<u32>, now: Timestamp) {
    for index in chunks {
        let done = w.scheduler.fan_out(id, index, now).await.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(done.map(|d| d.created), Some(CHUNK), "chunk {index}");
    }
}

/// Hands the jobs on send-queue (the scheduler's) to the sender at `now`, at most `limit`:
/// what each came to.
async fn send_jobs(w: &World, now: Timestamp, limit: usize) -> Vec<Outcome> {
    let mut jobs = w.scheduler.send_queue.take();
    let rest = jobs.split_off(limit.min(jobs.len()));
    w.scheduler.send_queue.send_all(rest).await.unwrap_or_else(|e| panic!("{e}"));
    let mut outcomes = Vec::new();
    for job in jobs {
        outcomes.push(w.sender.process(&job.body, now).await.unwrap_or_else(|e| panic!("{e}")));
    }
    outcomes
}

async fn control(w: &World, id: &str, control: Control, now: Timestamp) -> Controlled {
    w.scheduler.control(id, control, Duration::from_secs(5), now).await.unwrap_or_else(|e| panic!("{e}"))
}

/// Each recipient Meta got a message for, and how many messages it got in all.
fn reached(w: &World) -> (BTreeSet<String>, usize) {
    let sent = w.sender.whatsapp.sent();
    (sent.iter().map(|m| m.to.to_string()).collect(), sent.len())
}

async fn counts(w: &World, id: &str) -> serde_json::Value {
    let report = w.scheduler.report(id).await.ok().flatten().unwrap_or_else(|| panic!("the campaign reads"));
    serde_json::to_value(&report).unwrap_or_default()
}

#[tokio::test]
async fn a_campaign_paused_half_way_sends_nothing_until_resumed_then_everyone_once() {
    let w = world().await;
    let id = campaign(&w).await;
    fan_out(&w, &id, 0..3, noon()).await;

    let paused = control(&w, &id, Control::Pause, noon()).await;
    let Controlled::Done { report, .. } = paused else { panic!("{paused:?}") };
    assert_eq!(report.status, Some(CampaignStatus::Paused));

    // The 15 messages already on send-queue are parked, not sent; the tick fans out no more.
    let outcomes = send_jobs(&w, noon(), usize::MAX).await;
    assert_eq!(outcomes, vec![Outcome::Scheduled; 3 * CHUNK], "each message parked");
    assert_eq!(reached(&w).1, 0, "nothing went to Meta while paused");
    let ticked = tick::run(&w.scheduler, later(2)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ticked.fan_out.created, 0, "{ticked:?}");
    let view = counts(&w, &id).await;
    assert_eq!((view["messages"].as_i64(), view["counts"]["scheduled"].as_i64()), (Some(15), Some(15)), "{view}");
    let parked = w.scheduler.messages.campaign_messages(&id, Some(MessageState::Scheduled), None, 100).await;
    let parked = parked.unwrap_or_else(|e| panic!("{e}")).messages;
    assert!(parked.iter().all(|m| m.reason.as_deref() == Some("campaign_paused")), "{parked:?}");

    // Resumed: the parked messages are queued at once and the fan-out goes on.
    let resumed = control(&w, &id, Control::Resume, later(3)).await;
    let Controlled::Done { report, moved } = resumed else { panic!("{resumed:?}") };
    assert_eq!((report.status, moved), (Some(CampaignStatus::Active), 3 * CHUNK));
    assert_eq!(report.messages, EVERYONE, "the fan-out finished on resume");
    // Jobs come twice now and then (a parked message's own recheck): none sends twice.
    send_jobs(&w, later(3), usize::MAX).await;
    tick::run(&w.scheduler, later(40)).await.unwrap_or_else(|e| panic!("{e}"));
    send_jobs(&w, later(40), usize::MAX).await;

    let (people, sends) = reached(&w);
    assert_eq!((people.len(), sends), (PEOPLE, PEOPLE), "everyone once");
    let view = counts(&w, &id).await;
    assert_eq!(view["counts"]["sent"].as_i64(), Some(EVERYONE), "{view}");
}

/// A campaign paused after its first 3 chunks were fanned out, their messages come due and
/// parked; then resumed at 12:03 with no time to spare, so the request queues one page of them.
async fn parked_then_resumed_with_no_time(w: &World) -> String {
    let id = campaign(w).await;
    fan_out(w, &id, 0..3, noon()).await;
    control(w, &id, Control::Pause, noon()).await;
    let outcomes = send_jobs(w, noon(), usize::MAX).await;
    assert_eq!(outcomes, vec![Outcome::Scheduled; 3 * CHUNK], "each message parked");
    let resumed = w.scheduler.control(&id, Control::Resume, Duration::ZERO, later(3)).await;
    let Controlled::Done { report, moved } = resumed.unwrap_or_else(|e| panic!("{e}")) else { panic!("refused") };
    assert_eq!((report.status, moved), (Some(CampaignStatus::Active), CHUNK));
    id
}

#[tokio::test]
async fn a_resume_the_request_cannot_finish_is_carried_on_by_the_next_tick() {
    let w = world().await;
    // The request queues one page, the tick the rest — not each parked message at its own
    // look, 30 minutes on.
    let id = parked_then_resumed_with_no_time(&w).await;
    let ticked = tick::run(&w.scheduler, later(3)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ticked.resumed, 2 * CHUNK, "{ticked:?}");
    let parked = w.scheduler.messages.campaign_messages(&id, Some(MessageState::Scheduled), None, 100).await;
    assert_eq!(parked.unwrap_or_else(|e| panic!("{e}")).messages, [], "none left parked");
    send_jobs(&w, later(3), usize::MAX).await;
    let (people, sends) = reached(&w);
    assert_eq!((people.len(), sends), (PEOPLE, PEOPLE), "everyone once, within the tick after the resume");

    // Done: the resume has left the due index, whatever time it is.
    for shard in 0..DUE_SHARDS {
        let due = w.scheduler.messages.due(shard, later(600), 1_000).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(!due.contains(&Due::Chunk { campaign_id: id.clone(), index: RESUME_CHUNK }), "shard {shard}");
    }
}

/// Found by the 10 000-person run: a tick that ran out of time half-way through a resume left
/// it under its claim's 5-minute lease, so a resumed morning's parked messages waited minutes
/// past their 10:00 window.
#[tokio::test]
async fn a_resume_a_tick_cannot_finish_goes_on_at_the_next_tick_not_at_the_end_of_its_lease() {
    let w = world().await;
    let id = parked_then_resumed_with_no_time(&w).await;
    // A tick out of time after one page, then the next one two seconds on.
    let moved = w.scheduler.resume_until(&id, Instant::now(), later(3)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(moved, CHUNK, "one page, then out of time");
    let ticked = tick::run(&w.scheduler, later(3)).await.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ticked.resumed, CHUNK, "the next tick goes on with the rest: {ticked:?}");
    send_jobs(&w, later(3), usize::MAX).await;
    let (people, sends) = reached(&w);
    assert_eq!((people.len(), sends), (PEOPLE, PEOPLE), "everyone once");
}

#[tokio::test]
async fn a_campaign_cancelled_half_way_ends_every_message_not_yet_sent_and_the_counts_add_up() {
    let w = world().await;
    let id = campaign(&w).await;
    fan_out(&w, &id, 0..3, noon()).await;
    // Five of the fifteen queued go before the cancellation.
    let first = send_jobs(&w, noon(), 5).await;
    assert_eq!(first, vec![Outcome::Sent; 5]);

    let cancelled = control(&w, &id, Control::Cancel, later(1)).await;
    let Controlled::Done { report, moved } = cancelled else { panic!("{cancelled:?}") };
    assert_eq!((report.status, moved), (Some(CampaignStatus::Cancelled), 10), "the ten still queued");
    assert_eq!(report.messages, EVERYONE, "the recipients not fanned out get a cancelled message each");

    // Their jobs still on send-queue find nothing to send; a later tick fans out nothing.
    let rest = send_jobs(&w, later(1), usize::MAX).await;
    assert!(rest.iter().all(|o| matches!(o, Outcome::Skipped(_))), "{rest:?}");
    tick::run(&w.scheduler, later(10)).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(w.scheduler.send_queue.take_bodies().is_empty(), "nothing queued after the cancellation");

    let (people, sends) = reached(&w);
    assert_eq!((people.len(), sends), (5, 5));
    let view = counts(&w, &id).await;
    assert_eq!((view["counts"]["sent"].as_i64(), view["counts"]["cancelled"].as_i64()), (Some(5), Some(35)), "{view}");
    let reasons = w.scheduler.messages.campaign_messages(&id, Some(MessageState::Cancelled), None, 100).await;
    let reasons = reasons.unwrap_or_else(|e| panic!("{e}")).messages;
    assert!(reasons.iter().all(|m| m.reason.as_deref() == Some("campaign_cancelled")), "{reasons:?}");

    // Cancelled is for good: it cannot be resumed; cancelling again answers the same.
    assert_eq!(control(&w, &id, Control::Resume, later(11)).await, Controlled::Refused(CampaignStatus::Cancelled));
    assert!(matches!(control(&w, &id, Control::Cancel, later(11)).await, Controlled::Done { moved: 0, .. }));
    assert_eq!(control(&w, "cmp_unknown", Control::Pause, later(11)).await, Controlled::Unknown);
}

#[tokio::test]
async fn a_message_that_comes_due_while_its_campaign_is_paused_is_parked_and_cancelled_with_it() {
    let w = world().await;
    let id = campaign(&w).await;
    fan_out(&w, &id, 0..1, noon()).await;
    control(&w, &id, Control::Pause, noon()).await;
    assert_eq!(send_jobs(&w, noon(), usize::MAX).await, vec![Outcome::Scheduled; CHUNK]);
    // Cancelled while parked: the parked messages end cancelled too.
    let cancelled = control(&w, &id, Control::Cancel, later(1)).await;
    assert!(matches!(cancelled, Controlled::Done { moved: CHUNK, .. }), "{cancelled:?}");
    let view = counts(&w, &id).await;
    assert_eq!(view["counts"]["cancelled"].as_i64(), Some(EVERYONE), "{view}");
    assert_eq!(reached(&w).1, 0);
}
