//! [`CampaignStore`] and [`CampaignCompletion`]: a campaign stored whole with its chunks (idempotent on its key), chunks
//! due for fan-out at once and claimed by one fan-out at a time under a lease, a chunk scheduled
//! for later (a resume the tick carries on) due at its time, a finished chunk gone from the due
//! index, and completion marked — and told — once, when every recipient's
//! message exists and none is waiting; and [`ExportStore`]: an export due until done, claimed
//! by one step at a time, moved once per stage. [`campaign_store_contract!`] makes one test of
//! each case.

use jiff::{SignedDuration, Timestamp};
use polite_domain::ContactRef;
use polite_domain::audience::Recipient;
use polite_domain::audience_file::{AudienceFile, FileFormat};
use polite_domain::campaign::{
    AUDIENCE_CHUNK, AudienceSource, CampaignChunk, CampaignRecord, CampaignStatus, Control, NewCampaign, RESUME_CHUNK,
    Reader, StatusChange,
};
use polite_domain::export::{ExportFormat, ExportJob};
use polite_domain::message::{Category, DUE_SHARDS, Due, MessageState, TransitionDetails};
use polite_domain::ports::{CampaignCompletion, CampaignStore, CreateError, ExportStore, MessageStore};
use polite_domain::record::{MessageRecord, NewMessage};
use polite_domain::request::Payload;

/// One test per case of the contract, each on a store of its own: `$fresh` is an async
/// closure (or function) making an empty store.
#[macro_export]
macro_rules! campaign_store_contract {
    ($fresh:expr) => {
        #[tokio::test]
        async fn a_campaign_is_stored_once_per_idempotency_key() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::campaigns::a_campaign_is_stored_once_per_idempotency_key(&store)).await;
        }
        #[tokio::test]
        async fn each_chunk_is_due_at_once_and_claimed_by_one_fan_out_at_a_time() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::campaigns::each_chunk_is_due_at_once_and_claimed_by_one_fan_out_at_a_time(
                &store,
            ))
            .await;
        }
        #[tokio::test]
        async fn a_campaign_is_paused_resumed_and_cancelled_by_conditional_writes() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::campaigns::a_campaign_is_paused_resumed_and_cancelled_by_conditional_writes(
                &store,
            ))
            .await;
        }
        #[tokio::test]
        async fn a_chunk_scheduled_later_is_due_then_claimed_once_and_finished() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::campaigns::a_chunk_scheduled_later_is_due_then_claimed_once_and_finished(
                &store,
            ))
            .await;
        }
        #[tokio::test]
        async fn a_file_reader_moves_once_per_part_and_the_campaign_counts_with_it() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::campaigns::a_file_reader_moves_once_per_part_and_the_campaign_counts_with_it(
                &store,
            ))
            .await;
        }
        #[tokio::test]
        async fn an_export_is_due_until_done_claimed_by_one_step_and_moved_once_per_stage() {
            let store = ($fresh)().await;
            Box::pin(
                $crate::contract::campaigns::an_export_is_due_until_done_claimed_by_one_step_and_moved_once_per_stage(
                    &store,
                ),
            )
            .await;
        }
        #[tokio::test]
        async fn a_campaign_completes_once_when_no_recipient_waits() {
            let store = ($fresh)().await;
            Box::pin($crate::contract::campaigns::a_campaign_completes_once_when_no_recipient_waits(&store)).await;
        }
    };
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn recipient(n: usize) -> ContactRef {
    ContactRef::parse(&format!("+55119876540{n:02}")).unwrap()
}

fn campaign(id: &str, accepted: usize) -> CampaignRecord {
    CampaignRecord {
        id: id.to_owned(),
        name: "spring".into(),
        category: Category::Marketing,
        payload: Payload::Template(serde_json::json!({"name": "spring_sale", "language": {"code": "pt_BR"}})),
        send_at: None,
        expires_at: None,
        // Stored and read back with the campaign (the fan-out reads it from the claim).
        deliver_at_local: serde_json::from_value(serde_json::json!({"time": "10:00", "window_minutes": 90})).ok(),
        start_at: at("2026-06-10T12:00:00Z"),
        per_second: 64,
        max_per_minute: Some(600),
        accepted,
        rejected: 0,
        chunks: u32::try_from(accepted.div_ceil(2)).unwrap(),
        created_at: at("2026-06-10T12:00:00Z"),
        status: CampaignStatus::Active,
        audience: None,
    }
}

/// The campaign's recipients: every other one with a value of their own.
fn recipients(accepted: usize) -> Vec<Recipient> {
    (0..accepted)
        .map(|n| Recipient {
            to: recipient(n),
            components: (n % 2 == 1).then(|| {
                vec![serde_json::json!({"type": "body", "parameters": [{"type": "text", "text": format!("Person {n}")}]})]
            }),
        })
        .collect()
}

fn new(record: CampaignRecord, key: Option<&str>, hash: &str) -> NewCampaign {
    let recipients = recipients(record.accepted);
    let chunks = recipients
        .chunks(2)
        .zip(0u32..)
        .map(|(part, index)| CampaignChunk {
            index,
            first_position: index as usize * 2,
            recipients: part.to_vec(),
            reader: None,
        })
        .collect();
    NewCampaign { record, chunks, idempotency_key: key.map(str::to_owned), body_hash: hash.to_owned() }
}

/// Every due entry of every shard at `now`.
async fn due<S: MessageStore + Sync>(store: &S, now: Timestamp) -> Vec<Due> {
    let mut all = Vec::new();
    for shard in 0..DUE_SHARDS {
        all.extend(store.due(shard, now, 100).await.unwrap());
    }
    all.sort();
    all
}

/// A case of the contract (see the module).
pub async fn a_campaign_is_stored_once_per_idempotency_key<S: CampaignStore + Sync>(store: &S) {
    let first = store.create_campaign(&new(campaign("cmp_1", 3), Some("spring-2026"), "h1")).await.unwrap();
    assert_eq!(store.campaign("cmp_1").await.unwrap(), Some(first.clone()));
    assert!(first.deliver_at_local.is_some(), "every field reads back, the local delivery too");
    let again = store.create_campaign(&new(campaign("cmp_2", 3), Some("spring-2026"), "h1")).await.unwrap();
    assert_eq!(again.id, "cmp_1", "the key's campaign, not a second one");
    assert_eq!(store.campaign("cmp_2").await.unwrap(), None);
    assert_eq!(store.campaign_replay("spring-2026", "h1").await.unwrap().map(|c| c.id), Some("cmp_1".into()));
    assert!(matches!(
        store.create_campaign(&new(campaign("cmp_3", 3), Some("spring-2026"), "h2")).await,
        Err(CreateError::IdempotencyConflict)
    ));
    assert!(matches!(store.campaign_replay("spring-2026", "h2").await, Err(CreateError::IdempotencyConflict)));
    assert_eq!(store.campaign_replay("never-used", "h1").await.unwrap(), None);
}

/// A case of the contract (see the module).
pub async fn each_chunk_is_due_at_once_and_claimed_by_one_fan_out_at_a_time<S>(store: &S)
where
    S: CampaignStore + MessageStore + Sync,
{
    let record = campaign("cmp_1", 5);
    let created = record.created_at;
    store.create_campaign(&new(record, None, "h")).await.unwrap();
    let chunk = |index| Due::Chunk { campaign_id: "cmp_1".into(), index };
    assert_eq!(due(store, created).await, [chunk(0), chunk(1), chunk(2)], "every chunk, due at once");

    let lease = created + SignedDuration::from_mins(5);
    let (campaign, claimed) = store.claim_chunk("cmp_1", 1, created, lease).await.unwrap().unwrap();
    assert_eq!((campaign.id.as_str(), claimed.index, claimed.recipients.len()), ("cmp_1", 1, 2));
    assert_eq!(claimed.recipients, recipients(5)[2..4], "each recipient with their own values, as stored");
    assert_eq!(store.claim_chunk("cmp_1", 1, created, lease).await.unwrap(), None, "held under its lease");
    assert_eq!(due(store, created).await, [chunk(0), chunk(2)], "not due while leased");
    let later = lease + SignedDuration::from_secs(1);
    assert!(store.claim_chunk("cmp_1", 1, later, later + SignedDuration::from_mins(5)).await.unwrap().is_some());

    store.finish_chunk("cmp_1", 1).await.unwrap();
    assert_eq!(store.claim_chunk("cmp_1", 1, at("2027-01-01T00:00:00Z"), later).await.unwrap(), None, "done");
    assert_eq!(due(store, at("2027-01-01T00:00:00Z")).await, [chunk(0), chunk(2)]);
    assert_eq!(store.claim_chunk("cmp_9", 0, created, lease).await.unwrap(), None, "an unknown campaign");
}

/// A case of the contract (see the module).
pub async fn an_export_is_due_until_done_claimed_by_one_step_and_moved_once_per_stage<S>(store: &S)
where
    S: ExportStore + MessageStore + Sync,
{
    let created = at("2026-12-10T11:00:00Z");
    let job = ExportJob::new("exp_1".into(), "cmp_1", ExportFormat::Csv, Some(MessageState::Failed), created);
    store.create_export(&job).await.unwrap();
    let export = Due::Export { campaign_id: "cmp_1".into(), export_id: "exp_1".into() };
    assert_eq!(due(store, created).await, std::slice::from_ref(&export), "due at once");
    assert_eq!(store.export("cmp_1", "exp_1").await.unwrap().as_ref(), Some(&job), "as stored");
    assert_eq!(store.export("cmp_1", "exp_9").await.unwrap(), None);

    let lease = created + SignedDuration::from_mins(5);
    let claimed = store.claim_export("cmp_1", "exp_1", created, lease).await.unwrap();
    assert_eq!(claimed.as_ref(), Some(&job));
    assert_eq!(store.claim_export("cmp_1", "exp_1", created, lease).await.unwrap(), None, "held under its lease");
    assert!(due(store, created).await.is_empty(), "not due while leased");

    // One file written: moved once; a second step at the same stage is refused.
    let one = job.after_file(5_000, Some("msg_5000".into()), true);
    assert!(store.advance_export(&job, &one, created).await.unwrap());
    assert!(!store.advance_export(&job, &one, created).await.unwrap(), "another step moved it first");
    assert_eq!(store.export("cmp_1", "exp_1").await.unwrap().as_ref(), Some(&one));
    assert_eq!(due(store, created).await, [export], "due again at once for its next file");

    let last = one.after_file(3, Some("msg_5003".into()), false);
    assert!(store.advance_export(&one, &last, created).await.unwrap());
    let done = last.finished(created);
    assert!(!store.advance_export(&one, &done, created).await.unwrap(), "not from a stage it has left");
    assert!(store.advance_export(&last, &done, created).await.unwrap());
    assert!(due(store, at("2027-01-01T00:00:00Z")).await.is_empty(), "off the due index once done");
    let later = at("2027-01-01T00:00:00Z");
    assert_eq!(store.claim_export("cmp_1", "exp_1", later, later).await.unwrap(), None, "done");
    assert_eq!(store.export("cmp_1", "exp_1").await.unwrap(), Some(done));
}

/// A case of the contract (see the module).
pub async fn a_campaign_is_paused_resumed_and_cancelled_by_conditional_writes<S>(store: &S)
where
    S: CampaignStore + MessageStore + Sync,
{
    store.create_campaign(&new(campaign("cmp_1", 3), None, "h")).await.unwrap();
    let status = async |id| store.campaign_status(id).await.unwrap();
    assert_eq!(status("cmp_1").await, Some(CampaignStatus::Active), "created active");
    assert_eq!(status("cmp_9").await, None, "no campaign by that id");
    let set = async |control: Control| store.set_campaign_status("cmp_1", control.from(), control.to()).await.unwrap();

    let StatusChange::Changed(paused) = set(Control::Pause).await else { panic!("paused") };
    assert_eq!((paused.status, paused.accepted), (CampaignStatus::Paused, 3), "the whole campaign, as it is now");
    assert_eq!(status("cmp_1").await, Some(CampaignStatus::Paused));
    assert_eq!(store.campaign("cmp_1").await.unwrap().map(|c| c.status), Some(CampaignStatus::Paused));
    assert!(matches!(set(Control::Pause).await, StatusChange::Changed(_)), "pausing twice answers the same");
    assert!(matches!(set(Control::Resume).await, StatusChange::Changed(c) if c.status == CampaignStatus::Active));
    assert!(matches!(set(Control::Cancel).await, StatusChange::Changed(c) if c.status == CampaignStatus::Cancelled));
    assert_eq!(set(Control::Resume).await, StatusChange::Refused(CampaignStatus::Cancelled), "cancelled for good");
    assert_eq!(status("cmp_1").await, Some(CampaignStatus::Cancelled));
    let unknown = store.set_campaign_status("cmp_9", Control::Pause.from(), CampaignStatus::Paused).await.unwrap();
    assert_eq!(unknown, StatusChange::Unknown);
}

/// A case of the contract (see the module): a resume the request could not finish, handed to
/// the tick.
pub async fn a_chunk_scheduled_later_is_due_then_claimed_once_and_finished<S>(store: &S)
where
    S: CampaignStore + MessageStore + Sync,
{
    let record = store.create_campaign(&new(campaign("cmp_1", 0), None, "h")).await.unwrap();
    let resume = CampaignChunk { index: RESUME_CHUNK, first_position: 0, recipients: Vec::new(), reader: None };
    let then = record.created_at + SignedDuration::from_mins(10);
    store.schedule_chunk(&record, &resume, then).await.unwrap();
    let due_resume = Due::Chunk { campaign_id: "cmp_1".into(), index: RESUME_CHUNK };
    assert!(due(store, then - SignedDuration::from_secs(1)).await.is_empty(), "not before its time");
    assert_eq!(due(store, then).await, std::slice::from_ref(&due_resume));

    let lease = then + SignedDuration::from_mins(5);
    let (campaign, claimed) = store.claim_chunk("cmp_1", RESUME_CHUNK, then, lease).await.unwrap().unwrap();
    assert_eq!((campaign.id.as_str(), claimed), ("cmp_1", resume.clone()));
    assert_eq!(store.claim_chunk("cmp_1", RESUME_CHUNK, then, lease).await.unwrap(), None, "one claim at a time");
    assert!(due(store, then).await.is_empty(), "leased");

    // Scheduled again (another resume) while leased: due at its new time, in the same place.
    let again = then + SignedDuration::from_mins(1);
    store.schedule_chunk(&record, &resume, again).await.unwrap();
    assert_eq!(due(store, again).await, std::slice::from_ref(&due_resume));
    store.finish_chunk("cmp_1", RESUME_CHUNK).await.unwrap();
    assert!(due(store, at("2027-01-01T00:00:00Z")).await.is_empty(), "finished: gone from the due index");
}

/// A case of the contract (see the module).
pub async fn a_file_reader_moves_once_per_part_and_the_campaign_counts_with_it<S>(store: &S)
where
    S: CampaignStore + MessageStore + Sync,
{
    let file = AudienceFile { bucket: "acme-audiences".into(), key: "spring.csv".into(), format: FileFormat::Csv };
    let record = CampaignRecord {
        accepted: 0,
        chunks: 1,
        audience: Some(AudienceSource { file, read: 0, done: false }),
        ..campaign("cmp_1", 0)
    };
    let created = record.created_at;
    let reader = CampaignChunk {
        index: AUDIENCE_CHUNK,
        first_position: 0,
        recipients: Vec::new(),
        reader: Some(Reader::default()),
    };
    let new = NewCampaign { record, chunks: vec![reader], idempotency_key: None, body_hash: "h".into() };
    store.create_campaign(&new).await.unwrap();
    let due_reader = Due::Chunk { campaign_id: "cmp_1".into(), index: AUDIENCE_CHUNK };
    assert_eq!(due(store, created).await, std::slice::from_ref(&due_reader), "the reader is due at once");
    let lease = created + SignedDuration::from_mins(5);
    let (_, claimed) = store.claim_chunk("cmp_1", AUDIENCE_CHUNK, created, lease).await.unwrap().unwrap();
    let start = claimed.reader.expect("the reader's state");
    assert_eq!(start, Reader::default());

    let mut first = Reader { accepted: 950, rejected: 50, positions: 990, ..Reader::default() };
    first.cursor.offset = 262_000;
    first.cursor.lines = 1_001;
    let now = created + SignedDuration::from_secs(3);
    assert!(store.advance_reader("cmp_1", &start, &first, now).await.unwrap(), "moved");
    assert!(
        !store.advance_reader("cmp_1", &start, &first, now).await.unwrap(),
        "a second move from the same place loses"
    );
    let campaign = store.campaign("cmp_1").await.unwrap().unwrap();
    let audience = campaign.audience.clone().unwrap();
    assert_eq!((campaign.accepted, campaign.rejected, audience.read, audience.done), (950, 50, 1_001, false));
    assert_eq!(due(store, now).await, [due_reader], "due again for the next part");
    let (_, again) =
        store.claim_chunk("cmp_1", AUDIENCE_CHUNK, now, now + SignedDuration::from_mins(5)).await.unwrap().unwrap();
    assert_eq!(again.reader.as_ref(), Some(&first), "the next fan-out starts where this one stopped");

    let mut last = Reader { accepted: 1_900, rejected: 60, positions: 1_950, ..first.clone() };
    last.cursor.lines = 1_960;
    last.cursor.done = true;
    assert!(store.advance_reader("cmp_1", &first, &last, now).await.unwrap());
    let campaign = store.campaign("cmp_1").await.unwrap().unwrap();
    assert_eq!((campaign.accepted, campaign.audience.map(|a| a.done)), (1_900, Some(true)));
    assert!(due(store, at("2027-01-01T00:00:00Z")).await.is_empty(), "a reader done leaves the due index");
    assert_eq!(store.claim_chunk("cmp_1", AUDIENCE_CHUNK, at("2027-01-01T00:00:00Z"), lease).await.unwrap(), None);
}

/// A case of the contract (see the module).
pub async fn a_campaign_completes_once_when_no_recipient_waits<S>(store: &S)
where
    S: CampaignStore + CampaignCompletion + MessageStore + Sync,
{
    let record = campaign("cmp_1", 2);
    let now = record.created_at;
    store.create_campaign(&new(record, None, "h")).await.unwrap();
    let message = |n: usize, state| {
        let payload = Payload::Template(serde_json::json!({"name": "spring_sale", "language": {"code": "pt_BR"}}));
        let mut m = MessageRecord::new(format!("msg_{n}"), recipient(n), Category::Marketing, payload, state, now);
        m.campaign_id = Some("cmp_1".into());
        NewMessage { record: m, idempotency_key: None, body_hash: String::new() }
    };
    assert!(!store.complete_if_done("cmp_1", now).await.unwrap(), "no message yet");
    store.create(&message(0, MessageState::Suppressed)).await.unwrap();
    store.create(&message(1, MessageState::Queued)).await.unwrap();
    assert!(!store.complete_if_done("cmp_1", now).await.unwrap(), "one still waits");
    let from = [MessageState::Queued];
    store.transition("msg_1", &from, MessageState::Cancelled, now, TransitionDetails::default()).await.unwrap();
    assert!(store.complete_if_done("cmp_1", now).await.unwrap(), "every recipient settled");
    assert!(!store.complete_if_done("cmp_1", now).await.unwrap(), "marked once");
    assert!(!store.complete_if_done("cmp_9", now).await.unwrap(), "an unknown campaign");
}
