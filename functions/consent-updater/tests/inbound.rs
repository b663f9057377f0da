//! consent-updater on inbound-events, fed by webhook-intake's real output: each fixture is
//! posted, signed, to webhook-intake on moto; what it queued is handed to consent-updater as
//! the SQS event Lambda would deliver; then the contacts table is read back.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::fmt::Write as _;
use std::path::PathBuf;

use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
use consent_updater::handle;
use jiff::Timestamp;
use polite_adapters::audiences::S3Audiences;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::{GraphClient, GraphConfig};
use polite_adapters::queue::SqsQueue;
use polite_app::contacts::Importer;
use polite_app::inbound::{Confirmations, Updater};
use polite_app::intake::Queues;
use polite_domain::ContactRef;
use polite_domain::caps::SentRecord;
use polite_domain::consent::{ConsentCategory, ConsentEvent, ConsentKeywords, ConsentSource, ConsentStatus};
use polite_domain::envelope::{self, kinds};
use polite_domain::inbound::{ConfirmationTexts, ConsentChange};
use polite_domain::message::Category;
use polite_domain::ports::prelude::*;
use polite_domain::whatsapp::CONFIRMATION_CALLBACK_PREFIX;
use polite_tests::{Stack, drain};
use secrecy::SecretString;
use whatsapp_sim::{SimConfig, Simulator};

const ANA: &str = "5511987654321";
/// `metadata.phone_number_id` of the webhook-intake fixtures.
const FIXTURE_NUMBER_ID: &str = "700800900";
/// The fixtures' message time (`timestamp` 1795435201).
const FIXTURE_SENT: i64 = 1_795_435_201;

struct Harness {
    stack: Stack,
    sqs: aws_sdk_sqs::Client,
    intake: Queues<SqsQueue>,
    updater: Updater<DynamoContacts, GraphClient>,
    importer: Importer<S3Audiences, SqsQueue>,
    bucket: String,
}

impl Harness {
    async fn new() -> Harness {
        let stack = Stack::create().await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let queue = |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id));
        let intake = Queues::open(queue);
        let store = DynamoContacts::new(
            aws_sdk_dynamodb::Client::new(&stack.sdk),
            stack.table("ContactsTable"),
            b"test-contact-hash-key",
        );
        let updater = Updater {
            store,
            keywords: ConsentKeywords::default(),
            confirmations: None,
            send_memory: polite_domain::gate::Policy::default().send_memory(),
        };
        let s3 = S3Audiences::client(&stack.sdk);
        let bucket = format!("{}-audiences", stack.prefix.to_ascii_lowercase());
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let importer = Importer {
            files: S3Audiences::new(s3, Some(bucket.clone())),
            queue: SqsQueue::new(sqs.clone(), stack.queue("InboundEventsQueue")),
        };
        Harness { stack, sqs, intake, updater, importer, bucket }
    }

    /// A harness whose updater sends confirmation replies to a WhatsApp simulator serving
    /// the fixtures' business number.
    async fn confirming(texts: ConfirmationTexts) -> (Harness, Simulator) {
        let config = SimConfig { phone_number_id: FIXTURE_NUMBER_ID.into(), ..SimConfig::default() };
        let sim = Simulator::start(config.clone(), "127.0.0.1:0".parse().unwrap()).await.unwrap();
        // Deliberately not the fixtures' number: the reply must come from the number the user
        // wrote to, which the simulator checks.
        let api = GraphClient::new(GraphConfig::new(sim.url(), "000000000", SecretString::from(config.access_token)))
            .unwrap();
        let mut h = Harness::new().await;
        h.updater.confirmations = Some(Confirmations { api, texts });
        (h, sim)
    }

    /// Applies `bodies` one by one as consent-updater would at `now`.
    async fn apply_at(&self, bodies: &[String], now: Timestamp) {
        for body in bodies {
            self.updater.apply_record(body, now).await.unwrap();
        }
    }

    /// Posts a webhook-intake fixture and returns what it put on inbound-events.
    async fn intake_fixture(&self, name: &str) -> Vec<String> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(format!("../webhook-intake/fixtures/{name}.json"));
        let req = lambda_http::request::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        self.intake_body(req.body().as_ref()).await
    }

    /// Hands `body` to the intake (as webhook-intake does once the signature holds) and returns
    /// what it queued on inbound-events.
    async fn intake_body(&self, body: impl AsRef<[u8]>) -> Vec<String> {
        polite_tests::intake(&self.intake, body.as_ref()).await;
        drain(&self.sqs, self.stack.queue("InboundEventsQueue")).await.unwrap()
    }

    /// Hands `bodies` to consent-updater as one SQS batch; returns the failed message ids.
    async fn deliver(&self, bodies: &[String]) -> Vec<String> {
        let response = handle(&self.updater, &self.importer, sqs_event(bodies)).await.unwrap();
        response.batch_item_failures.into_iter().map(|f| f.item_identifier).collect()
    }

    async fn history(&self, wa_id: &str) -> Vec<ConsentEvent> {
        self.updater.store.consent_history(&ContactRef::parse(wa_id).unwrap()).await.unwrap()
    }

    async fn status(&self, wa_id: &str, category: ConsentCategory) -> Option<ConsentStatus> {
        let contact = self.updater.store.get(&ContactRef::parse(wa_id).unwrap()).await.unwrap()?;
        contact.consent.status(category)
    }
}

fn sqs_event(bodies: &[String]) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut m = SqsMessage::default();
            m.message_id = Some(format!("m{i}"));
            m.body = Some(body.clone());
            m
        })
        .collect();
    event
}

/// (category, status, source) of each ledger event, sorted (events at the same instant have
/// no order of their own).
fn sources(history: &[ConsentEvent]) -> Vec<(ConsentCategory, ConsentStatus, &str)> {
    let mut out: Vec<_> = history.iter().map(|e| (e.category, e.status, e.source.as_str())).collect();
    out.sort_unstable();
    out
}

#[tokio::test]
async fn a_stop_keyword_through_webhook_intake_opts_out_of_everything_with_the_keyword_as_source() {
    let h = Harness::new().await;
    let queued = h.intake_fixture("text").await; // "PARAR"
    assert_eq!(h.deliver(&queued).await, Vec::<String>::new());
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
    assert_eq!(h.status(ANA, ConsentCategory::Utility).await, Some(ConsentStatus::OptedOut));
    assert_eq!(
        sources(&h.history(ANA).await),
        [
            (ConsentCategory::Marketing, ConsentStatus::OptedOut, ConsentSource::KEYWORD),
            (ConsentCategory::Utility, ConsentStatus::OptedOut, ConsentSource::KEYWORD)
        ]
    );
    // The message opened the 24 h window at its own time.
    let contact = h.updater.store.get(&ContactRef::parse(ANA).unwrap()).await.unwrap().unwrap();
    assert_eq!(contact.last_inbound_at, Some(Timestamp::from_second(1_795_435_201).unwrap()));
}

#[tokio::test]
async fn a_stop_that_loses_a_transaction_race_lands_at_once_not_after_the_visibility_timeout() {
    let mut h = Harness::new().await;
    // Every consent transaction conflicts with another writer, three times in a row.
    let faults = polite_tests::faults::Faults::new(7).with(
        "DynamoDB.TransactWriteItems",
        polite_tests::faults::Fault::TransactionConflict,
        1.0,
        Some(3),
    );
    h.updater.store =
        DynamoContacts::new(faults.dynamodb(&h.stack.sdk), h.stack.table("ContactsTable"), b"test-contact-hash-key");
    let queued = h.intake_fixture("text").await; // "PARAR"
    assert_eq!(h.deliver(&queued).await, Vec::<String>::new(), "no record left for SQS to redeliver");
    assert_eq!(faults.injected(), 3);
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
    assert_eq!(h.status(ANA, ConsentCategory::Utility).await, Some(ConsentStatus::OptedOut));
}

#[tokio::test]
async fn the_stop_promotions_button_through_webhook_intake_opts_out_of_marketing() {
    let h = Harness::new().await;
    let queued = h.intake_fixture("button_stop_promotions").await;
    assert!(h.deliver(&queued).await.is_empty());
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
    assert_eq!(h.status(ANA, ConsentCategory::Utility).await, None, "the button is marketing-only");
    assert_eq!(
        sources(&h.history(ANA).await),
        [(ConsentCategory::Marketing, ConsentStatus::OptedOut, ConsentSource::BUTTON)]
    );
}

#[tokio::test]
async fn whatsapps_stop_control_through_webhook_intake_opts_out_of_marketing() {
    let h = Harness::new().await;
    let queued = h.intake_fixture("user_preferences_stop").await;
    assert!(h.deliver(&queued).await.is_empty());
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
    assert_eq!(
        sources(&h.history(ANA).await),
        [(ConsentCategory::Marketing, ConsentStatus::OptedOut, ConsentSource::USER_PREFERENCES)]
    );
}

#[tokio::test]
async fn a_131050_consent_change_takes_the_same_path() {
    let h = Harness::new().await;
    let now = Timestamp::now();
    let change = ConsentChange {
        contact: ContactRef::parse(ANA).unwrap(),
        event: ConsentEvent::from_send_failure("msg_01JDPOLITE0000000000000002", now, now),
    };
    let body = envelope::encode(kinds::CONSENT_CHANGE, &change).unwrap();
    assert!(h.deliver(&[body.clone(), body]).await.is_empty());
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
    assert_eq!(
        sources(&h.history(ANA).await),
        [(ConsentCategory::Marketing, ConsentStatus::OptedOut, ConsentSource::SEND_FAILURE)],
        "delivered twice, recorded once"
    );
}

#[tokio::test]
async fn a_webhook_replayed_by_meta_changes_nothing_the_second_time() {
    let h = Harness::new().await;
    let first = h.intake_fixture("text").await;
    assert!(h.deliver(&first).await.is_empty());
    let before = h.history(ANA).await;
    // Meta retries the same POST days later; SQS may also redeliver the same message.
    let again = h.intake_fixture("text").await;
    assert!(h.deliver(&[again.clone(), again, first].concat()).await.is_empty());
    assert_eq!(h.history(ANA).await, before);
}

#[tokio::test]
async fn an_older_event_arriving_after_a_newer_one_does_not_overwrite_it() {
    let h = Harness::new().await;
    // resume happened after stop, but arrives first.
    let resume = h.intake_fixture("user_preferences_resume").await;
    let stop = h.intake_fixture("user_preferences_stop").await;
    assert!(h.deliver(&resume).await.is_empty());
    assert!(h.deliver(&stop).await.is_empty());
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedIn));
    let history = h.history(ANA).await;
    assert_eq!(history.len(), 2, "both are in the ledger");
    assert_eq!(history[0].status, ConsentStatus::OptedOut, "oldest first, by event time");
}

#[tokio::test]
async fn a_number_change_moves_the_consent_and_its_ledger_to_the_new_number() {
    let h = Harness::new().await;
    let stop = h.intake_fixture("text").await;
    assert!(h.deliver(&stop).await.is_empty());
    let change = h.intake_fixture("system_user_changed_number").await;
    assert!(h.deliver(&change).await.is_empty());

    let new = "5511912345678";
    assert_eq!(h.status(new, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
    assert_eq!(sources(&h.history(new).await).len(), 2);
    assert!(h.history(new).await.iter().all(|e| e.source.as_str() == ConsentSource::KEYWORD));
    let moved = h.updater.store.get(&ContactRef::parse(new).unwrap()).await.unwrap().unwrap();
    assert_eq!(moved.last_inbound_at, Some(Timestamp::from_second(1_795_435_201).unwrap()));
    assert_eq!(h.updater.store.get(&ContactRef::parse(ANA).unwrap()).await.unwrap(), None, "the old number is gone");
    assert!(h.history(ANA).await.is_empty());

    // Replayed: nothing left to move, nothing changes.
    assert!(h.deliver(&change).await.is_empty());
    assert_eq!(sources(&h.history(new).await).len(), 2);
}

/// A `messages` webhook of the fixtures' business number carrying `messages` (JSON objects).
fn messages_webhook(contacts: &str, messages: &[&str]) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"900100200300","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"700800900"}},{contacts}"messages":[{}]}}}}]}}]}}"#,
        messages.join(",")
    )
    .into_bytes()
}

#[tokio::test]
async fn a_stop_sent_from_the_old_number_before_a_change_and_delivered_after_it_opts_the_person_out() {
    let h = Harness::new().await;
    let (old_user, new_user, new) = ("BR.4455667788", "BR.9988776655", "5511912345678");
    let hello = messages_webhook(
        &format!(r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}","user_id":"{old_user}"}}],"#),
        &[&format!(
            r#"{{"from":"{ANA}","from_user_id":"{old_user}","id":"wamid.HI","timestamp":"1795435100","type":"text","text":{{"body":"hi"}}}}"#
        )],
    );
    let changes = messages_webhook(
        "",
        &[
            &format!(
                r#"{{"from":"{ANA}","from_user_id":"{old_user}","id":"wamid.CN","timestamp":"1795435300","type":"system","system":{{"body":"changed","wa_id":"{new}","type":"user_changed_number"}}}}"#
            ),
            &format!(
                r#"{{"from":"{ANA}","from_user_id":"{old_user}","id":"wamid.CU","timestamp":"1795435300","type":"system","system":{{"body":"changed","user_id":"{new_user}","type":"user_changed_user_id"}}}}"#
            ),
        ],
    );
    // Typed on the old number a minute before the change; Meta delivers it after.
    let stop = messages_webhook(
        &format!(r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}","user_id":"{old_user}"}}],"#),
        &[&format!(
            r#"{{"from":"{ANA}","from_user_id":"{old_user}","id":"wamid.LATE","timestamp":"1795435240","type":"text","text":{{"body":"STOP"}}}}"#
        )],
    );
    for body in [hello, changes, stop] {
        let queued = h.intake_body(body).await;
        assert!(h.deliver(&queued).await.is_empty());
    }
    for identity in [new, new_user, old_user] {
        assert_eq!(h.status(identity, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut), "{identity}");
    }
    let person = h.updater.store.get(&ContactRef::parse(new).unwrap()).await.unwrap().unwrap();
    assert_eq!(person.phone().map(ToString::to_string).as_deref(), Some(new));
    assert_eq!(
        h.updater.store.get(&ContactRef::parse(ANA).unwrap()).await.unwrap(),
        None,
        "the old number, maybe someone else's now, has no person of its own"
    );
}

#[tokio::test]
async fn a_call_the_user_makes_opens_their_window() {
    let h = Harness::new().await;
    let call = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"900100200300","changes":[{{"field":"calls","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"700800900"}},"contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}"}}],"calls":[{{"id":"wacid.C1","from":"{ANA}","to":"15550001111","event":"connect","direction":"USER_INITIATED","timestamp":"{FIXTURE_SENT}"}}]}}}}]}}]}}"#
    );
    let queued = h.intake_body(call.into_bytes()).await;
    assert_eq!(queued.len(), 1);
    assert!(h.deliver(&queued).await.is_empty());
    let ana = h.updater.store.get(&ContactRef::parse(ANA).unwrap()).await.unwrap().unwrap();
    assert_eq!(ana.last_inbound_at, Some(Timestamp::from_second(FIXTURE_SENT).unwrap()));
}

#[tokio::test]
async fn a_send_from_the_business_app_lands_in_the_persons_send_log_once_and_opens_no_window() {
    let h = Harness::new().await;
    let user = "BR.4455667788";
    // Ana first wrote as a username user (no phone), then showed her phone too: she is
    // stored under her user id.
    let hello = messages_webhook(
        &format!(r#""contacts":[{{"profile":{{"name":"Ana"}},"user_id":"{user}"}}],"#),
        &[&format!(
            r#"{{"from":"","from_user_id":"{user}","id":"wamid.HI","timestamp":"1795435100","type":"text","text":{{"body":"hi"}}}}"#
        )],
    );
    let both = messages_webhook(
        &format!(r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}","user_id":"{user}"}}],"#),
        &[&format!(
            r#"{{"from":"{ANA}","from_user_id":"{user}","id":"wamid.HI2","timestamp":"1795435150","type":"text","text":{{"body":"hi"}}}}"#
        )],
    );
    for body in [hello, both] {
        assert!(h.deliver(&h.intake_body(body).await).await.is_empty());
    }
    // The business answers from the WhatsApp Business app, to her phone only; Meta retries.
    let echo = h.intake_fixture("smb_message_echo").await;
    assert_eq!(echo.len(), 1);
    assert!(h.deliver(&echo).await.is_empty());
    assert!(h.deliver(&echo).await.is_empty());

    let person = h.updater.store.get(&ContactRef::parse(ANA).unwrap()).await.unwrap().unwrap();
    assert_eq!(person.id.to_string(), user, "stored under her user id");
    let log = h.updater.store.recent_sends(&person.id, Timestamp::UNIX_EPOCH).await.unwrap();
    let echoed = Timestamp::from_second(FIXTURE_SENT - 1 + 30).unwrap();
    assert_eq!(log.sends, [SentRecord { category: Category::Service, at: echoed }], "one send, on the person");
    assert_eq!(person.last_inbound_at, Some(Timestamp::from_second(1_795_435_150).unwrap()), "the business wrote");
}

#[tokio::test]
async fn two_hundred_concurrent_stops_for_two_hundred_contacts_all_land() {
    let h = Harness::new().await;
    let numbers: Vec<String> = (0..200).map(|i| format!("55119{i:08}")).collect();
    let messages: Vec<String> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            format!(r#"{{"from":"{n}","id":"wamid.STOP{i:04}","timestamp":"1795435300","type":"text","text":{{"body":"STOP"}}}}"#)
        })
        .collect();
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"900100200300","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"700800900"}},"messages":[{}]}}}}]}}]}}"#,
        messages.join(",")
    );
    let queued = h.intake_body(body.into_bytes()).await;
    assert_eq!(queued.len(), 200);
    // Twenty Lambda invocations of ten records each, all at once.
    let failures = futures_util::future::join_all(queued.chunks(10).map(|batch| h.deliver(batch))).await;
    assert!(failures.iter().all(Vec::is_empty), "{failures:?}");
    for n in &numbers {
        assert_eq!(h.status(n, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut), "{n}");
    }
}

#[tokio::test]
async fn a_record_that_cannot_be_read_fails_alone() {
    let h = Harness::new().await;
    let mut batch = h.intake_fixture("button_stop_promotions").await;
    batch.push(r#"{"v":1,"kind":"send","body":{}}"#.to_owned());
    batch.push("not an envelope".to_owned());
    assert_eq!(h.deliver(&batch).await, ["m1", "m2"]);
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
}

#[tokio::test]
async fn ordinary_messages_only_open_the_window_and_senders_without_a_number_are_skipped() {
    let h = Harness::new().await;
    for fixture in
        ["unicode_escapes", "image", "reaction", "location", "interactive_button_reply", "bsuid_only_contact"]
    {
        let queued = h.intake_fixture(fixture).await;
        assert!(h.deliver(&queued).await.is_empty(), "{fixture}");
    }
    assert!(h.history(ANA).await.is_empty(), "no consent change");
    let contact = h.updater.store.get(&ContactRef::parse(ANA).unwrap()).await.unwrap().unwrap();
    // The newest of those messages' own times (unicode_escapes'), whatever the arrival order.
    assert_eq!(contact.last_inbound_at, Some(Timestamp::from_second(1_795_435_210).unwrap()));
}

fn opt_out_reply() -> ConfirmationTexts {
    ConfirmationTexts {
        opt_out: Some("Done: you will get no more promotions. Reply START to undo.".into()),
        opt_in: None,
    }
}

#[tokio::test]
async fn with_confirmations_on_a_stop_keyword_gets_one_reply_from_the_number_it_was_sent_to() {
    let (h, sim) = Harness::confirming(opt_out_reply()).await;
    let queued = h.intake_fixture("text").await; // "PARAR"
    let minute_later = Timestamp::from_second(FIXTURE_SENT + 60).unwrap();
    h.apply_at(&queued, minute_later).await;

    let sent = sim.accepted();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].to, ANA);
    assert_eq!(sent[0].kind, "text");
    assert_eq!(sent[0].text.as_deref(), opt_out_reply().opt_out.as_deref());
    let keyword_wamid = "wamid.HBgNNTUxMTk4NzY1NDMyMRUCABIYFjNFQjBBQkNERUYwMTIzNDU2Nzg501==";
    assert_eq!(sent[0].reply_to.as_deref(), Some(keyword_wamid), "the reply quotes the STOP");
    assert_eq!(
        sent[0].biz_opaque_callback_data.as_deref(),
        Some(format!("{CONFIRMATION_CALLBACK_PREFIX}{keyword_wamid}").as_str()),
        "status-processor can tell it is not a message of the messages table"
    );
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));

    // Meta retries the webhook and SQS redelivers it: the opt-out is not confirmed again.
    let again = h.intake_fixture("text").await;
    h.apply_at(&[again, queued].concat(), minute_later).await;
    assert_eq!(sim.accepted().len(), 1);
}

#[tokio::test]
async fn with_confirmations_on_nothing_is_sent_when_the_window_has_closed_or_no_text_is_set() {
    let (h, sim) = Harness::confirming(opt_out_reply()).await;
    // Delivered 25 h late (Meta retried for a day): free-form text would fail with 131047.
    let queued = h.intake_fixture("text").await;
    h.apply_at(&queued, Timestamp::from_second(FIXTURE_SENT + 25 * 3600).unwrap()).await;
    assert!(sim.accepted().is_empty());
    assert_eq!(h.status(ANA, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut), "still recorded");

    let (h, sim) = Harness::confirming(ConfirmationTexts { opt_out: None, opt_in: Some("Welcome back".into()) }).await;
    let queued = h.intake_fixture("text").await;
    h.apply_at(&queued, Timestamp::from_second(FIXTURE_SENT + 60).unwrap()).await;
    assert!(sim.accepted().is_empty(), "no opt-out text configured");
    // The Stop promotions button is not a keyword: no reply either.
    let queued = h.intake_fixture("button_stop_promotions").await;
    h.apply_at(&queued, Timestamp::from_second(FIXTURE_SENT + 60).unwrap()).await;
    assert!(sim.accepted().is_empty());
}

#[tokio::test]
async fn a_confirmation_meta_refuses_does_not_fail_the_opt_out() {
    let (h, sim) = Harness::confirming(opt_out_reply()).await;
    // The simulator refuses numbers ending 0026 with 131026 (undeliverable).
    let undeliverable = "5511987650026";
    let body = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"900100200300","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"{FIXTURE_NUMBER_ID}"}},"messages":[{{"from":"{undeliverable}","id":"wamid.STOP0026","timestamp":"{FIXTURE_SENT}","type":"text","text":{{"body":"stop"}}}}]}}}}]}}]}}"#
    );
    let queued = h.intake_body(body.into_bytes()).await;
    h.apply_at(&queued, Timestamp::from_second(FIXTURE_SENT + 60).unwrap()).await;
    assert!(sim.accepted().is_empty());
    assert_eq!(h.status(undeliverable, ConsentCategory::Marketing).await, Some(ConsentStatus::OptedOut));
}

/// Every real webhook body of the team's corpus (Meta's documentation, pywa's and
/// whatsapp-api-js's test data, beside the checkout: `../shared/webhook-corpus/payloads/`; it
/// is other projects' published data, so it is read from there, never copied here), posted to
/// webhook-intake and applied by consent-updater on moto: none fails, and what they say about
/// consent and identities is on the right person. Without the corpus this says so and checks
/// nothing.
#[tokio::test]
async fn the_real_webhook_corpus_applies_without_a_failure_and_lands_on_the_right_people() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/webhook-corpus/payloads");
    let Ok(listing) = std::fs::read_dir(&dir) else {
        eprintln!("webhook corpus not found at {}: skipped", dir.display());
        return;
    };
    let mut files: Vec<PathBuf> =
        listing.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    files.sort();
    assert!(files.len() >= 78, "{} bodies", files.len());
    let h = Harness::new().await;
    let mut applied = 0;
    for file in &files {
        let queued = h.intake_body(std::fs::read(file).unwrap()).await;
        applied += queued.len();
        assert!(h.deliver(&queued).await.is_empty(), "{}", file.display());
    }
    assert!(applied > 40, "{applied} inbound records");

    // whatsapp-api-js's v25 text and pywa's test data name the same user id with two phones
    // (each library made up its own), and pywa's number change (the latest of its bodies)
    // moves pywa's phone to a new one: one person, found by the user id and both current
    // phones; the old number finds no one (carriers recycle numbers).
    let store = &h.updater.store;
    let get = |id: &str| {
        let id = ContactRef::parse(id).unwrap();
        async move { store.get(&id).await.unwrap() }
    };
    let by_user = get("US.13491208655302741918").await.expect("the person of the user id");
    for phone in ["16315551181", "972912345678"] {
        assert_eq!(get(phone).await.map(|p| p.id), Some(by_user.id.clone()), "{phone}");
    }
    assert_eq!(get("972987654321").await, None);
    assert_eq!(by_user.phone().map(ToString::to_string).as_deref(), Some("972912345678"), "the newest number");
    assert!(by_user.identities.parent_user_id().is_some());
    // whatsapp-api-js's text showed a username, but it is older than pywa's messages (which show
    // none): the username shown is the latest message's.
    assert_eq!(by_user.username, None);

    // Meta's example "Unsubscribe" quick reply is an opt-out, and Meta's number-change example
    // (a later body from the same example number) takes it to the new number.
    let moved = get("12195555358").await.expect("Meta's example user, moved");
    assert_eq!(moved.consent.status(ConsentCategory::Marketing), Some(ConsentStatus::OptedOut));
    assert_eq!(moved.consent.marketing.as_ref().map(|c| c.source.as_str()), Some(ConsentSource::BUTTON));

    // Meta's resume and pywa's signup (an opt-in whose evidence is its signup id).
    let sources: Vec<(String, Option<String>)> = h
        .history("16505551234")
        .await
        .into_iter()
        .filter(|e| e.source.as_str() == ConsentSource::USER_PREFERENCES)
        .map(|e| (e.status.as_str().to_owned(), e.evidence))
        .collect();
    assert!(sources.contains(&("opted_in".to_owned(), Some("user_preferences resume".to_owned()))), "{sources:?}");
    assert!(
        sources.contains(&("opted_in".to_owned(), Some("user_preferences signup 13176843987434774".to_owned()))),
        "{sources:?}"
    );
}

#[tokio::test]
async fn a_consent_file_on_s3_is_read_a_part_a_message_and_an_older_opt_in_never_beats_a_newer_stop() {
    let h = Harness::new().await;
    // Ana said STOP on WhatsApp yesterday; the CRM's file has her month-old opt-in.
    let stop = ConsentEvent::from_keyword(
        polite_domain::consent::KeywordIntent::OptOut,
        "wamid.STOP",
        "2026-12-02T10:00:00Z".parse().unwrap(),
        "2026-12-02T10:00:01Z".parse().unwrap(),
    );
    for event in &stop {
        h.updater.store.append_consent(&ContactRef::parse(ANA).unwrap(), event).await.unwrap();
    }
    let mut text = String::from("contact,category,status,source,evidence,occurred_at\n");
    text.push_str("+5511987654321,marketing,opted_in,crm_sync,sign-up form,2026-11-02T10:00:00Z\n");
    for n in 0..1_500 {
        writeln!(text, "+5511966{n:06},marketing,opted_in,crm_sync,row {n},2026-11-02T10:00:00Z").unwrap();
    }
    text.push_str("not-a-number,marketing,opted_in,crm_sync,,2026-11-02T10:00:00Z\n");
    let s3 = S3Audiences::client(&h.stack.sdk);
    s3.put_object().bucket(&h.bucket).key("crm/consent.csv").body(text.into_bytes().into()).send().await.unwrap();
    let file = polite_domain::audience_file::AudienceRequest {
        s3: format!("s3://{}/crm/consent.csv", h.bucket),
        format: None,
    }
    .check()
    .unwrap();
    let job =
        polite_app::contacts::start_import(&h.updater.store, &h.importer.queue, file, Timestamp::now()).await.unwrap();

    // consent-updater reads what inbound-events holds until the import is done.
    let queue = h.stack.queue("InboundEventsQueue");
    for _ in 0..10 {
        let bodies = drain(&h.sqs, queue).await.unwrap();
        assert!(h.deliver(&bodies).await.is_empty(), "no part failed");
        if h.updater.store.import_job(&job.id).await.unwrap().is_some_and(|j| j.done) {
            break;
        }
    }
    let done = h.updater.store.import_job(&job.id).await.unwrap().unwrap();
    assert!(done.done, "{done:?}");
    assert_eq!((done.parts, done.accepted, done.rejected, done.recorded), (2, 1_501, 1, 1_501));
    assert_eq!(
        h.status(ANA, ConsentCategory::Marketing).await,
        Some(ConsentStatus::OptedOut),
        "the newer STOP decides"
    );
    assert_eq!(h.status("5511966001499", ConsentCategory::Marketing).await, Some(ConsentStatus::OptedIn));
    let read = |key: String| {
        let s3 = s3.clone();
        let bucket = h.bucket.clone();
        async move {
            let object = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
            String::from_utf8(object.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
        }
    };
    let summary: serde_json::Value = serde_json::from_str(&read(done.summary_key()).await).unwrap();
    assert_eq!((&summary["accepted"], &summary["rejected"]), (&serde_json::json!(1_501), &serde_json::json!(1)));
    let second = read(done.result_key(1)).await;
    let last: serde_json::Value = serde_json::from_str(second.lines().last().unwrap()).unwrap();
    assert_eq!(
        (&last["line"], &last["result"], &last["reason"]),
        (&serde_json::json!(1_503), &serde_json::json!("rejected"), &serde_json::json!("invalid_contact"))
    );
}
