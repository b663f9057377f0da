//! The team's corpus of real webhook bodies (Meta's documentation, pywa's and
//! whatsapp-api-js's test data: `../shared/webhook-corpus/payloads/` beside the checkout — other
//! projects' published data, so read from there and never copied here), each posted, signed,
//! through webhook-intake on moto, and what it queued for consent-updater applied: for every
//! file the outcome it must have (which queue, what consent-updater makes of it, or ignored with
//! which reason), a summary of routed / ignored / parked, and nothing Meta documents parked.
//! Without the corpus the test says so and checks nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::collections::BTreeMap;
use std::path::PathBuf;

use jiff::Timestamp;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::graph::GraphClient;
use polite_adapters::queue::SqsQueue;
use polite_app::inbound::Updater;
use polite_app::intake::Queues;
use polite_domain::consent::ConsentKeywords;
use polite_domain::envelope::{self, kinds};
use polite_domain::inbound::{InboundAction, Reading, interpret};
use polite_domain::ports::prelude::*;
use polite_domain::webhook::{self, Parked, WebhookEvent};
use polite_tests::{Stack, drain};

/// Each file and what it comes to, as `describe` writes it: the outcomes of its elements in
/// queue order, `;`-separated. `inbound:<type>:<actions>` is an event consent-updater acts on
/// (`window` the 24 h window, `link` identities seen together, `move` a number or user-id
/// change, `opt_out:<category>` / `opt_in:<category>`, `sent` an echo counted as a send, `confirm`
/// a keyword's reply, `heard` handed on as `inbound.message`); `inbound:<type>:ignore:<reason>` one it reads and leaves; `status` and
/// `template` an element for status-processor and the template registry; `ignored:<reason>` a
/// change ignored by name; `parked:<reason>` what could not be routed.
const EXPECTED: &[(&str, &str)] = &[
    ("metadocs-account_alerts.json", "ignored:account_notice"),
    ("metadocs-account_update_ad_account_linked.json", "ignored:account_signal"),
    ("metadocs-audio.json", "inbound:message:window+heard"),
    ("metadocs-bsuid_status_delivered_empty_wa_id.json", "status"),
    ("metadocs-bsuid_status_delivered_username.json", "status"),
    ("metadocs-bsuid_text_empty_from.json", "inbound:message:ignore:no_contact"),
    ("metadocs-button_auth_did_not_request.json", "inbound:message:window+heard"),
    ("metadocs-button_unsubscribe.json", "inbound:message:window+opt_out:marketing+heard"),
    ("metadocs-contacts.json", "inbound:message:window+heard"),
    ("metadocs-document.json", "inbound:message:window+heard"),
    ("metadocs-errors_value_level.json", "inbound:error:ignore:error"),
    ("metadocs-group_status_update_suspend.json", "ignored:group"),
    ("metadocs-group_text.json", "inbound:message:ignore:group_message"),
    ("metadocs-history_sync.json", "ignored:chat_history"),
    ("metadocs-image.json", "inbound:message:window+heard"),
    ("metadocs-interactive_button_reply.json", "inbound:message:window+heard"),
    ("metadocs-interactive_list_reply.json", "inbound:message:window+heard"),
    ("metadocs-interactive_payment_method.json", "inbound:message:ignore:no_contact"),
    ("metadocs-lima-template_status_approved.json", "template"),
    ("metadocs-location.json", "inbound:message:window+heard"),
    ("metadocs-location_request_reply.json", "inbound:message:window+heard"),
    ("metadocs-old-contacts_no_type.json", "inbound:message:ignore:no_contact"),
    ("metadocs-order.json", "inbound:message:window+heard"),
    ("metadocs-phone_number_quality_update.json", "ignored:account_signal"),
    ("metadocs-reaction.json", "inbound:message:window+heard"),
    ("metadocs-status_delivered_cbp.json", "status"),
    ("metadocs-status_failed_131049.json", "status"),
    ("metadocs-status_sent_pmp.json", "status"),
    ("metadocs-status_sent_v24_bare.json", "status"),
    ("metadocs-sticker.json", "inbound:message:window+heard"),
    ("metadocs-system_user_changed_number.json", "inbound:message:move"),
    ("metadocs-template_category_update.json", "template"),
    ("metadocs-template_quality_update.json", "template"),
    ("metadocs-text_product_inquiry.json", "inbound:message:window+heard"),
    ("metadocs-text_referral_ctwa.json", "inbound:message:window+heard"),
    ("metadocs-unsupported_edit.json", "inbound:message:window+heard"),
    ("metadocs-user_preferences_resume.json", "inbound:user_preference:opt_in:marketing"),
    ("metadocs-video.json", "inbound:message:window+heard"),
    ("pywa-account_update_restriction.json", "ignored:account_signal"),
    ("pywa-audio_voice.json", "inbound:message:link+window+heard"),
    ("pywa-button_quick_reply.json", "inbound:message:link+window+heard"),
    ("pywa-button_quick_reply_from_user_id.json", "inbound:message:link+window+heard"),
    ("pywa-calls_status_ringing.json", "ignored:call_state"),
    ("pywa-contacts_three.json", "inbound:message:link+window+heard"),
    ("pywa-document.json", "inbound:message:link+window+heard"),
    ("pywa-edit_image.json", "inbound:message:window+heard"),
    ("pywa-image_with_url.json", "inbound:message:link+window+heard"),
    ("pywa-interactive_button_reply.json", "inbound:message:link+window+heard"),
    ("pywa-interactive_list_reply.json", "inbound:message:link+window+heard"),
    ("pywa-interactive_nfm_reply.json", "inbound:message:link+window+heard"),
    (
        "pywa-interactive_without_body_value_errors.json",
        "inbound:message:link+window+heard; inbound:error:ignore:error",
    ),
    ("pywa-location_chosen.json", "inbound:message:link+window+heard"),
    ("pywa-order.json", "inbound:message:link+window+heard"),
    ("pywa-reaction_removed_empty_emoji.json", "inbound:message:link+window+heard"),
    ("pywa-reaction_removed_no_emoji.json", "inbound:message:link+window+heard"),
    ("pywa-referral.json", "inbound:message:link+window+heard"),
    ("pywa-revoke.json", "inbound:message:link+window+heard"),
    ("pywa-smb_message_echoes_text.json", "inbound:echo:link+sent"),
    ("pywa-status_biz_opaque_callback_data.json", "status"),
    ("pywa-status_failed_130472.json", "status"),
    ("pywa-status_group_read.json", "status"),
    ("pywa-status_played.json", "status"),
    ("pywa-status_sent_cbp.json", "status"),
    ("pywa-sticker_animated.json", "inbound:message:link+window+heard"),
    ("pywa-system_customer_identity_changed.json", "inbound:message:ignore:other_system_message"),
    ("pywa-system_user_changed_number.json", "inbound:message:move"),
    ("pywa-template_status_rejected.json", "template"),
    ("pywa-text.json", "inbound:message:link+window+heard"),
    ("pywa-text_frequently_forwarded.json", "inbound:message:link+window+heard"),
    ("pywa-text_reply_context.json", "inbound:message:link+window+heard"),
    ("pywa-unsupported_poll.json", "inbound:message:link+window+heard"),
    ("pywa-user_preferences_signup.json", "inbound:user_preference:opt_in:marketing"),
    ("pywa-user_preferences_unknown_category.json", "inbound:user_preference:ignore:other_preference"),
    ("pywa-video_forwarded.json", "inbound:message:link+window+heard"),
    ("wajs-v25_status_delivered.json", "status"),
    ("wajs-v25_status_read.json", "status"),
    ("wajs-v25_status_sent.json", "status"),
    ("wajs-v25_text_bsuid.json", "inbound:message:link+window+heard"),
];

fn corpus() -> Option<Vec<PathBuf>> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/webhook-corpus/payloads");
    let Ok(listing) = std::fs::read_dir(&dir) else {
        eprintln!("webhook corpus not found at {}: skipped", dir.display());
        return None;
    };
    let mut files: Vec<PathBuf> =
        listing.map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "json")).collect();
    files.sort();
    Some(files)
}

/// What consent-updater makes of one inbound event.
fn reading(event: &WebhookEvent<'_>) -> String {
    let kind = event.kind.as_str();
    match interpret(event, &ConsentKeywords::default(), Timestamp::now()) {
        Ok(Reading::Act(actions)) => {
            let names: Vec<String> = actions
                .iter()
                .map(|a| match a {
                    InboundAction::Identities(o)
                        if o.links() && matches!(o, polite_domain::people::Observation::Together { .. }) =>
                    {
                        "link".to_owned()
                    }
                    InboundAction::Identities(_) => "move".to_owned(),
                    InboundAction::Inbound { .. } => "window".to_owned(),
                    InboundAction::Consent(c) => {
                        let verb = if c.event.status == polite_domain::consent::ConsentStatus::OptedOut {
                            "opt_out"
                        } else {
                            "opt_in"
                        };
                        format!("{verb}:{}", c.event.category.as_str())
                    }
                    InboundAction::Sent { .. } => "sent".to_owned(),
                    InboundAction::Confirm(_) => "confirm".to_owned(),
                    InboundAction::Heard(_) => "heard".to_owned(),
                })
                .collect();
            format!("inbound:{kind}:{}", names.join("+"))
        }
        Ok(Reading::Ignore(why)) => format!("inbound:{kind}:ignore:{}", why.as_str()),
        Err(e) => format!("inbound:{kind}:unreadable:{e}"),
    }
}

/// webhook-intake and consent-updater on one moto stack.
struct Rig {
    stack: Stack,
    sqs: aws_sdk_sqs::Client,
    intake: Queues<SqsQueue>,
    updater: Updater<DynamoContacts, GraphClient>,
}

impl Rig {
    async fn new() -> Rig {
        let stack = Stack::create().await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let queue = |id: &str| SqsQueue::new(sqs.clone(), stack.queue(id));
        let intake = Queues::open(queue);
        let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
        let store = DynamoContacts::new(dynamo, stack.table("ContactsTable"), b"test-corpus-key");
        let send_memory = polite_domain::gate::Policy::default().send_memory();
        let updater = Updater { store, keywords: ConsentKeywords::default(), confirmations: None, send_memory };
        Rig { stack, sqs, intake, updater }
    }

    /// Hands `body` to the intake, as webhook-intake does once the signature holds.
    async fn post(&self, body: Vec<u8>) {
        polite_tests::intake(&self.intake, &body).await;
    }

    /// What is on the queue `id` now (received and deleted).
    async fn drain(&self, id: &str) -> Vec<String> {
        drain(&self.sqs, self.stack.queue(id)).await.unwrap()
    }
}

#[tokio::test]
async fn every_real_webhook_body_has_its_expected_outcome_and_nothing_meta_documents_is_parked() {
    let Some(files) = corpus() else { return };
    assert!(files.len() >= 78, "{} bodies", files.len());
    let rig = Rig::new().await;
    let mut actual: Vec<(String, String)> = Vec::new();
    let mut summary: BTreeMap<String, usize> = BTreeMap::new();
    let mut count = |key: String| *summary.entry(key).or_default() += 1;
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let body = std::fs::read(file).unwrap();
        rig.post(body.clone()).await;
        let mut outcomes = Vec::new();
        for record in rig.drain("InboundEventsQueue").await {
            let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &record).unwrap();
            outcomes.push(reading(&event));
            rig.updater.apply_record(&record, Timestamp::now()).await.unwrap_or_else(|e| panic!("{name}: {e}"));
            count("routed: inbound".into());
        }
        for (queue, outcome) in [("StatusEventsQueue", "status"), ("TemplateEventsQueue", "template")] {
            for _ in rig.drain(queue).await {
                outcomes.push(outcome.to_owned());
                count(format!("routed: {outcome}s"));
            }
        }
        for ignored in webhook::route(&body, Timestamp::now()).ignored {
            outcomes.push(format!("ignored:{}", ignored.reason.as_str()));
            count(format!("ignored: {}", ignored.reason.as_str()));
        }
        for record in rig.drain("WebhookParkingQueue").await {
            let item: Parked<'_> = envelope::decode(kinds::PARKED_WEBHOOK, &record).unwrap();
            outcomes.push(format!("parked:{}", item.reason));
            count(format!("parked: {}", item.reason));
        }
        actual.push((name, outcomes.join("; ")));
    }
    let line: Vec<String> = summary.iter().map(|(k, v)| format!("{k} {v}")).collect();
    eprintln!("webhook corpus, {} files: {}", files.len(), line.join(", "));
    if std::env::var_os("POLITE_CORPUS_PRINT").is_some() {
        for (name, outcome) in &actual {
            eprintln!("    (\"{name}\", \"{outcome}\"),");
        }
    }
    for (name, outcome) in &actual {
        let expected = EXPECTED.iter().find(|(n, _)| n == name).map(|(_, o)| *o);
        assert_eq!(
            expected,
            Some(outcome.as_str()),
            "{name}: a new file, or its outcome changed (POLITE_CORPUS_PRINT=1 prints them all)"
        );
    }
    assert_eq!(summary.keys().filter(|k| k.starts_with("parked")).count(), 0, "parked: {line:?}");
}

/// A STOP in every shape the corpus has for `user_preferences` (an item with only `wa_id`, one
/// with a signup id, one naming no one but its value's `contacts[]` entry): each, made a
/// marketing stop a day later, reads as an opt-out of its person and lands on them.
#[tokio::test]
async fn a_user_preferences_stop_in_every_real_shape_opts_its_person_out() {
    let Some(files) = corpus() else { return };
    let rig = Rig::new().await;
    let mut stops = 0;
    for file in &files {
        let mut body: serde_json::Value = serde_json::from_slice(&std::fs::read(file).unwrap()).unwrap();
        let entry =
            body.pointer("/entry/0/changes/0/value/contacts/0/wa_id").and_then(|v| v.as_str()).map(str::to_owned);
        let Some(items) = body.pointer_mut("/entry/0/changes/0/value/user_preferences").and_then(|v| v.as_array_mut())
        else {
            continue;
        };
        let mut people = Vec::new();
        for item in items.iter_mut() {
            item["value"] = "stop".into();
            item["category"] = "marketing_messages".into();
            let at = item["timestamp"].as_i64().unwrap_or(0) + 86_400;
            item["timestamp"] = at.into();
            let id = item["user_id"].as_str().or(item["wa_id"].as_str()).map(str::to_owned).or(entry.clone());
            people.push(polite_domain::ContactRef::parse(&id.expect("someone")).unwrap());
        }
        rig.post(body.to_string().into_bytes()).await;
        for record in rig.drain("InboundEventsQueue").await {
            // The reading proves the shape (an earlier file may have opted the same person out).
            let event: WebhookEvent<'_> = envelope::decode(kinds::WEBHOOK_EVENT, &record).unwrap();
            assert!(reading(&event).contains("opt_out:marketing"), "{}: {}", file.display(), reading(&event));
            rig.updater.apply_record(&record, Timestamp::now()).await.unwrap();
        }
        for person in people {
            let contact = rig.updater.store.get(&person).await.unwrap().expect("the person");
            let status = contact.consent.status(polite_domain::consent::ConsentCategory::Marketing);
            assert_eq!(status, Some(polite_domain::consent::ConsentStatus::OptedOut), "{}", file.display());
            stops += 1;
        }
    }
    assert!(stops >= 3, "{stops} user_preferences shapes");
}
