//! The `/v1/contacts/…` routes against moto, answer by answer (`openapi.yaml`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use contacts_api::{ContactsApi, handle};
use lambda_http::{Body, Request, Response};
use polite_adapters::audiences::S3Audiences;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_app::contacts::Importer;
use polite_domain::ContactRef;
use polite_domain::consent::{ConsentCategory, ConsentEvent, KeywordIntent};
use polite_domain::message::TransitionDetails;
use polite_domain::message::{Category, MessageState, StatusValue};
use polite_domain::ports::prelude::*;
use polite_domain::record::MessageRecord;
use polite_domain::record::{Moved, NewMessage};
use polite_domain::status::StatusUpdate;
use polite_tests::Stack;
use serde_json::{Value, json};

struct Api {
    api: ContactsApi<DynamoContacts, DynamoMessages, S3Audiences, SqsQueue>,
    stack: Stack,
}

const HASH_KEY: &[u8] = b"test-contact-hash-key";

impl Api {
    async fn new() -> Api {
        let stack = Stack::create().await.unwrap();
        let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
        let store = DynamoContacts::new(dynamo.clone(), stack.table("ContactsTable"), HASH_KEY);
        let messages = DynamoMessages::new(dynamo, stack.table("MessagesTable"), HASH_KEY);
        let s3 = S3Audiences::client(&stack.sdk);
        let bucket = format!("{}-audiences", stack.prefix.to_ascii_lowercase());
        s3.create_bucket().bucket(&bucket).send().await.unwrap();
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let imports = Importer {
            files: S3Audiences::new(s3, Some(bucket)),
            queue: SqsQueue::new(sqs, stack.queue("InboundEventsQueue")),
        };
        Api { api: ContactsApi { store, messages, imports }, stack }
    }

    /// Every item of the messages table, as text (a test's view: a scan).
    /// The messages table as it is once event-publisher has put its outbox on the bus (each
    /// published event's detail scrubbed, as it does).
    async fn messages_table(&self) -> Vec<String> {
        use polite_domain::ports::PublishedEvents as _;
        let dynamo = aws_sdk_dynamodb::Client::new(&self.stack.sdk);
        let table = self.stack.table("MessagesTable");
        let outboxes = polite_adapters::outbox::Outboxes::new(dynamo.clone());
        let out = dynamo.scan().table_name(table).send().await.unwrap();
        for item in out.items() {
            if let Some(id) = item.get("pk").and_then(|pk| pk.as_s().ok()).and_then(|pk| pk.strip_prefix("OUT#")) {
                outboxes.scrub(table, id).await.unwrap();
            }
        }
        let out = dynamo.scan().table_name(table).send().await.unwrap();
        out.items().iter().map(|item| format!("{item:?}")).collect()
    }

    async fn call(&self, method: &str, path: &str, body: Option<&str>) -> (u16, Value) {
        let req: Request = lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .body(body.map_or(Body::Empty, |b| Body::Text(b.to_owned())))
            .unwrap();
        let response: Response<Body> = handle(&self.api, req).await;
        let status = response.status().as_u16();
        let bytes = response.body().as_ref();
        let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(bytes).unwrap() };
        (status, value)
    }
}

const CAPTURE: &str = r#"{"category":"marketing","status":"opted_in","source":"web_checkout","evidence":"Ticked 'Send me offers on WhatsApp' at https://shop.example/checkout","occurred_at":"2026-11-20T10:00:00Z"}"#;

#[tokio::test]
async fn a_business_capture_is_recorded_with_its_source_and_evidence() {
    let api = Api::new().await;
    let (status, contact) = api.call("PUT", "/v1/contacts/+16505551234/consent", Some(CAPTURE)).await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["wa_id"], "16505551234");
    assert_eq!(
        contact["consent"]["marketing"],
        json!({"status": "opted_in", "changed_at": "2026-11-20T10:00:00Z", "source": "web_checkout"})
    );
    assert_eq!(contact["consent"]["utility"], Value::Null);

    let (status, history) = api.call("GET", "/v1/contacts/16505551234/consent-history", None).await;
    assert_eq!(status, 200);
    let events = history["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["evidence"], "Ticked 'Send me offers on WhatsApp' at https://shop.example/checkout");
    assert_eq!(events[0]["occurred_at"], "2026-11-20T10:00:00Z");
    assert!(events[0]["id"].as_str().unwrap().starts_with("ce_"));

    // The same request retried: one event.
    api.call("PUT", "/v1/contacts/%2B16505551234/consent", Some(CAPTURE)).await;
    let (_, history) = api.call("GET", "/v1/contacts/16505551234/consent-history", None).await;
    assert_eq!(history["events"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn errors_say_what_to_fix() {
    let api = Api::new().await;
    let cases = [
        ("PUT", "/v1/contacts/16505551234/consent", Some("{not json"), 400, "invalid_json", ""),
        (
            "PUT",
            "/v1/contacts/16505551234/consent",
            Some(r#"{"category":"gossip","status":"opted_in","source":"x"}"#),
            422,
            "invalid_field",
            "category",
        ),
        (
            "PUT",
            "/v1/contacts/16505551234/consent",
            Some(r#"{"category":"marketing","status":"opted_in"}"#),
            422,
            "invalid_field",
            "source",
        ),
        (
            "PUT",
            "/v1/contacts/16505551234/consent",
            Some(r#"{"category":"marketing","status":"opted_in","source":"  "}"#),
            422,
            "invalid_field",
            "source",
        ),
        (
            "PUT",
            "/v1/contacts/16505551234/consent",
            Some(r#"{"category":"marketing","status":"opted_in","source":"web","occurred_at":"2999-01-01T00:00:00Z"}"#),
            422,
            "invalid_field",
            "occurred_at",
        ),
        (
            // Undated consent is refused: dated "now", a CRM's re-sync of an old opt-in would
            // outrank the STOP the person sent in between.
            "PUT",
            "/v1/contacts/16505551234/consent",
            Some(r#"{"category":"marketing","status":"opted_in","source":"web"}"#),
            422,
            "invalid_field",
            "occurred_at",
        ),
        // The error names the field and both accepted forms.
        (
            "PUT",
            "/v1/contacts/not-a-number/consent",
            Some(CAPTURE),
            422,
            "invalid_field",
            "contact: a contact is a phone number",
        ),
        ("PUT", "/v1/contacts/US.12-34/consent", Some(CAPTURE), 422, "invalid_field", "business-scoped user id"),
        ("GET", "/v1/contacts/US.1349", None, 404, "not_found", "US.1349"),
        (
            "PATCH",
            "/v1/contacts/16505551234",
            Some(r#"{"timezone":"Mars/Olympus_Mons"}"#),
            422,
            "invalid_field",
            "timezone",
        ),
        (
            "PATCH",
            "/v1/contacts/16505551234",
            Some(r#"{"quiet_hours":{"start":"25:00","end":"08:00"}}"#),
            422,
            "invalid_field",
            "quiet_hours",
        ),
        (
            "PATCH",
            "/v1/contacts/16505551234",
            Some(r#"{"locale":"portuguese please"}"#),
            422,
            "invalid_field",
            "locale",
        ),
        ("PATCH", "/v1/contacts/16505551234", Some(r#"{"colour":"blue"}"#), 422, "invalid_field", "colour"),
        ("GET", "/v1/contacts/16505551234", None, 404, "not_found", "16505551234"),
        ("GET", "/v1/contacts/16505551234/consent-history", None, 404, "not_found", "16505551234"),
        ("POST", "/v1/contacts/16505551234", None, 405, "method_not_allowed", "POST"),
        ("GET", "/v1/contacts/16505551234/consent", None, 405, "method_not_allowed", "GET"),
        ("GET", "/v1/elsewhere", None, 404, "not_found", "/v1/elsewhere"),
    ];
    for (method, path, body, status, code, mentions) in cases {
        let (got, answer) = api.call(method, path, body).await;
        assert_eq!(got, status, "{method} {path} {body:?}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.contains(mentions), "{method} {path}: '{message}' should mention {mentions}");
    }
}

#[tokio::test]
async fn settings_are_validated_and_shown() {
    let api = Api::new().await;
    let body = r#"{"timezone":"Europe/Lisbon","quiet_hours":{"start":"21:00","end":"08:00"},"locale":"pt_BR"}"#;
    let (status, contact) = api.call("PATCH", "/v1/contacts/351912345678", Some(body)).await;
    assert_eq!(status, 200, "{contact}");
    assert_eq!(contact["timezone"], "Europe/Lisbon");
    assert_eq!(contact["quiet_hours"], json!({"start": "21:00", "end": "08:00"}));
    assert_eq!(contact["locale"], "pt_BR");
    // A partial PATCH leaves the rest.
    let (_, contact) = api.call("PATCH", "/v1/contacts/351912345678", Some(r#"{"locale":"en"}"#)).await;
    assert_eq!(contact["timezone"], "Europe/Lisbon");
    assert_eq!(contact["locale"], "en");
    let (status, again) = api.call("GET", "/v1/contacts/351912345678", None).await;
    assert_eq!((status, &again), (200, &contact));
}

#[tokio::test]
async fn the_window_is_shown_while_open() {
    let api = Api::new().await;
    let wa_id = ContactRef::parse("16505551234").unwrap();
    let now = jiff::Timestamp::now();
    api.api.store.record_inbound(&wa_id, now - jiff::SignedDuration::from_hours(2), None).await.unwrap();
    let (_, contact) = api.call("GET", "/v1/contacts/16505551234", None).await;
    let until: jiff::Timestamp = contact["window_open_until"].as_str().unwrap().parse().unwrap();
    assert_eq!(until.as_second(), (now + jiff::SignedDuration::from_hours(22)).as_second());
}

#[tokio::test]
async fn erasure_leaves_nothing_of_the_person_in_the_messages_table_and_counts_stay_exact() {
    let api = Api::new().await;
    let messages = &api.api.messages;
    let at: jiff::Timestamp = "2026-11-23T15:00:00Z".parse().unwrap();
    let (ana, bia) = (ContactRef::parse("+5511987654321").unwrap(), ContactRef::parse("+5511912345678").unwrap());
    let payload =
        polite_domain::request::Payload::Template(json!({"name": "spring_sale", "language": {"code": "pt_BR"}}));
    let create = |id: &str, to: &ContactRef, state: MessageState, key: Option<String>| NewMessage {
        record: MessageRecord {
            campaign_id: Some("cmp_1".into()),
            due_at: (state == MessageState::Scheduled).then_some(at),
            ..MessageRecord::new(id.into(), to.clone(), Category::Marketing, payload.clone(), state, at)
        },
        idempotency_key: key,
        body_hash: "h".into(),
    };
    // Ana: one message delivered (a wamid, statuses), one still scheduled; keyed as a
    // campaign keys its recipients. Bia: one message, which must stay as it is.
    let sent =
        messages.create(&create("msg_a1", &ana, MessageState::Sending, Some(format!("cmp_1:{}", ana.as_str())))).await;
    let accepted = TransitionDetails {
        wamid: Some("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjAA".into()),
        ..TransitionDetails::default()
    };
    assert!(matches!(
        messages.transition_from(&sent.unwrap(), MessageState::Sent, at, accepted).await,
        Ok(Moved::Yes(_))
    ));
    let delivered = StatusUpdate::plain(StatusValue::Delivered, at + jiff::SignedDuration::from_secs(5));
    messages.apply_status("msg_a1", &delivered).await.unwrap();
    messages
        .create(&create("msg_a2", &ana, MessageState::Scheduled, Some(format!("cmp_1:{}", ana.as_str()) + "x")))
        .await
        .unwrap();
    messages.create(&create("msg_b1", &bia, MessageState::Scheduled, None)).await.unwrap();

    assert_eq!(api.call("DELETE", "/v1/contacts/+5511987654321", None).await.0, 204);

    let digits = ana.as_str().trim_start_matches('+');
    let items = api.messages_table().await;
    assert!(items.iter().all(|item| !item.contains(digits) && !item.contains("HBgNNTUxMTk4NzY1NDMy")), "{items:#?}");
    assert_eq!(messages.get("msg_a1").await.unwrap(), None);
    assert_eq!(messages.get("msg_a2").await.unwrap(), None);
    assert_eq!(messages.message_for_wamid("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjAA").await.unwrap(), None);
    assert_eq!(messages.get("msg_b1").await.unwrap().unwrap().to, bia, "someone else's message stays");
    // The campaign's counts stay exact: the delivered one counted, the waiting one suppressed.
    let tally = messages.campaign_tally("cmp_1").await.unwrap();
    let nonzero: Vec<(MessageState, i64)> = tally.states.into_iter().filter(|(_, n)| *n != 0).collect();
    assert_eq!(nonzero, [(MessageState::Scheduled, 1), (MessageState::Delivered, 1), (MessageState::Suppressed, 1)]);
    // Erasing again finds nothing left and still answers 204.
    assert_eq!(api.call("DELETE", "/v1/contacts/+5511987654321", None).await.0, 204);
}

#[tokio::test]
async fn erasure_forgets_the_contact_and_suppresses_until_a_new_explicit_opt_in() {
    let api = Api::new().await;
    let wa_id = ContactRef::parse("16505551234").unwrap();
    assert_eq!(api.call("PUT", "/v1/contacts/16505551234/consent", Some(CAPTURE)).await.0, 200);
    // A keyword opt-out and a settings change, so there is more to forget.
    let now = jiff::Timestamp::now();
    for e in ConsentEvent::from_keyword(KeywordIntent::OptOut, "wamid.X", now, now) {
        api.api.store.append_consent(&wa_id, &e).await.unwrap();
    }
    api.call("PATCH", "/v1/contacts/16505551234", Some(r#"{"timezone":"America/Los_Angeles"}"#)).await;

    let (status, body) = api.call("DELETE", "/v1/contacts/16505551234", None).await;
    assert_eq!((status, body), (204, Value::Null));
    assert_eq!(api.call("GET", "/v1/contacts/16505551234", None).await.0, 404);
    assert_eq!(api.call("GET", "/v1/contacts/16505551234/consent-history", None).await.0, 404);
    // The sender still sees it as erased: suppressed.
    let record = api.api.store.get(&wa_id).await.unwrap().unwrap();
    assert!(record.erased);
    assert_eq!(record.consent.status(ConsentCategory::Marketing), None);
    // A replayed old opt-in does not lift it; a new explicit one does.
    let (status, _) = api.call("PUT", "/v1/contacts/16505551234/consent", Some(CAPTURE)).await;
    assert_eq!(status, 200);
    assert!(api.api.store.get(&wa_id).await.unwrap().unwrap().erased, "an opt-in dated before the erasure");
    let fresh = format!(
        r#"{{"category":"marketing","status":"opted_in","source":"web_checkout","occurred_at":"{}"}}"#,
        jiff::Timestamp::now()
    );
    let (status, contact) = api.call("PUT", "/v1/contacts/16505551234/consent", Some(&fresh)).await;
    assert_eq!(status, 200);
    assert_eq!(contact["erased"], false);
    assert_eq!(contact["consent"]["marketing"]["status"], "opted_in");
    // Erasing an unknown number still records do-not-contact.
    assert_eq!(api.call("DELETE", "/v1/contacts/447700900123", None).await.0, 204);
    assert!(api.api.store.get(&ContactRef::parse("447700900123").unwrap()).await.unwrap().unwrap().erased);
}

#[test]
fn the_api_routes_exactly_what_the_template_sends_it() {
    assert_eq!(polite_tests::routes_of(contacts_api::ROUTES), polite_tests::template_routes("contacts-api"));
}

/// `records` consent records for `people` people (each its own event), dated over a month.
fn crm_records(records: usize, people: usize) -> Vec<Value> {
    (0..records)
        .map(|k| {
            let hash = |salt: &str| polite_domain::ids::stable_hash(&format!("{salt}:{k}"));
            let second = hash("at") % 2_592_000;
            json!({
                "contact": format!("+1650555{:04}", k % people),
                "category": if hash("category").is_multiple_of(3) { "utility" } else { "marketing" },
                "status": if hash("status").is_multiple_of(2) { "opted_in" } else { "opted_out" },
                "source": "crm_sync",
                "evidence": format!("crm row {k}"),
                "occurred_at": format!("2026-10-{:02}T{:02}:{:02}:{:02}Z", 1 + second / 86_400, second / 3600 % 24, second / 60 % 60, second % 60),
            })
        })
        .collect()
}

#[tokio::test]
async fn an_import_replayed_among_stops_leaves_the_consent_the_order_defines_and_the_evidence_shows_why() {
    let api = Api::new().await;
    let records = crm_records(300, 40);
    let body = json!({ "records": records }).to_string();
    let (status, first) = api.call("POST", "/v1/consents:import", Some(&body)).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (&first["accepted"], &first["recorded"], &first["already_recorded"]),
        (&json!(300), &json!(300), &json!(0))
    );
    // A STOP the first person sends on WhatsApp at 2026-10-20, then the import again, twice.
    let stopper = ContactRef::parse("+16505550000").unwrap();
    let stop_at: jiff::Timestamp = "2026-10-20T00:00:00Z".parse().unwrap();
    for event in ConsentEvent::from_keyword(KeywordIntent::OptOut, "wamid.STOP", stop_at, stop_at) {
        api.api.store.append_consent(&stopper, &event).await.unwrap();
    }
    for _ in 0..2 {
        let (status, again) = api.call("POST", "/v1/consents:import", Some(&body)).await;
        assert_eq!((status, &again["recorded"], &again["already_recorded"]), (200, &json!(0), &json!(300)), "{again}");
    }

    // Per person and category: the latest event wins (an opt-out on a tie).
    for person in 0..40 {
        let contact = format!("+1650555{person:04}");
        let mut theirs: Vec<(String, String, String, String)> = records
            .iter()
            .filter(|r| r["contact"] == contact.as_str())
            .map(|r| {
                let field = |f: &str| r[f].as_str().unwrap().to_owned();
                (field("category"), field("occurred_at"), field("status"), field("evidence"))
            })
            .collect();
        if person == 0 {
            for category in ["marketing", "utility"] {
                theirs.push((category.into(), "2026-10-20T00:00:00Z".into(), "opted_out".into(), "wamid.STOP".into()));
            }
        }
        let (status, evidence) = api.call("GET", &format!("/v1/contacts/{contact}/consent-evidence"), None).await;
        assert_eq!(status, 200, "{evidence}");
        let events = evidence["events"].as_array().unwrap();
        assert_eq!(events.len(), theirs.len(), "{contact}: each event once");
        for category in ["marketing", "utility"] {
            let winner = theirs.iter().filter(|t| t.0 == category).max_by(|a, b| (&a.1, &a.2).cmp(&(&b.1, &b.2)));
            let current = &evidence["current"][category];
            match winner {
                None => assert_eq!(current, &Value::Null, "{contact} {category}"),
                Some((_, at, status, proof)) => {
                    assert_eq!(
                        (current["status"].as_str(), current["since"].as_str()),
                        (Some(status.as_str()), Some(at.as_str())),
                        "{contact} {category}"
                    );
                    if proof != "wamid.STOP" {
                        assert_eq!(current["evidence"].as_str(), Some(proof.as_str()), "the deciding event's evidence");
                    }
                    let deciding: Vec<&Value> =
                        events.iter().filter(|e| e["decides"] == true && e["category"] == category).collect();
                    assert_eq!(deciding.len(), 1, "{contact} {category}: one event decides");
                    assert_eq!(deciding[0]["id"], current["event_id"]);
                }
            }
        }
    }

    let bad = json!({"records": [{"contact": "nobody", "category": "marketing", "status": "opted_in", "source": "crm", "occurred_at": "2026-10-01T00:00:00Z"}]});
    let (status, answer) = api.call("POST", "/v1/consents:import", Some(&bad.to_string())).await;
    assert_eq!(
        (status, &answer["accepted"], &answer["rejected"][0]["reason"]),
        (200, &json!(0), &json!("invalid_contact"))
    );
    let (status, empty) = api.call("POST", "/v1/consents:import", Some(r#"{"records": []}"#)).await;
    assert_eq!((status, &empty["error"]["code"]), (422, &json!("invalid_field")), "{empty}");
    let (status, _) = api.call("GET", "/v1/contacts/+16505559999/consent-evidence", None).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn an_import_from_a_file_is_accepted_for_consent_updater_and_a_file_elsewhere_is_refused() {
    let api = Api::new().await;
    let bucket = api.api.imports.files.export_bucket().unwrap().to_owned();
    let body = json!({"s3": format!("s3://{bucket}/crm/consent.csv")}).to_string();
    let (status, started) = api.call("POST", "/v1/consents:import", Some(&body)).await;
    assert_eq!(status, 202, "{started}");
    assert_eq!((&started["parts"], &started["done"]), (&json!(0), &json!(false)), "{started}");
    let id = started["id"].as_str().unwrap();
    assert_eq!(started["results"], format!("s3://{bucket}/imports/{id}/"));
    // Its first part asked of consent-updater on inbound-events.
    let sqs = aws_sdk_sqs::Client::new(&api.stack.sdk);
    let queued = polite_tests::drain(&sqs, api.stack.queue("InboundEventsQueue")).await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let nudge: polite_domain::consent_import::ImportNudge =
        polite_domain::envelope::decode(polite_domain::envelope::kinds::CONSENT_IMPORT_PART, &queued[0]).unwrap();
    assert_eq!((nudge.import_id.as_str(), nudge.part), (id, 0));
    let (status, shown) = api.call("GET", &format!("/v1/consents/imports/{id}"), None).await;
    assert_eq!((status, &shown["id"]), (200, &json!(id)), "{shown}");

    let refused = async |body: Value| {
        let (status, answer) = api.call("POST", "/v1/consents:import", Some(&body.to_string())).await;
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        (status, message.split_once(':').map(|(field, _)| field.to_owned()))
    };
    let elsewhere = refused(json!({"s3": "s3://someone-elses-bucket/consent.csv"})).await;
    assert_eq!(elsewhere, (422, Some("s3".into())));
    assert_eq!(refused(json!({"s3": "https://example.com/consent.csv"})).await, (422, Some("s3".into())));
    let no_format = refused(json!({"s3": format!("s3://{bucket}/consent.txt")})).await;
    assert_eq!(no_format, (422, Some("format".into())));
    assert_eq!(api.call("GET", "/v1/consents/imports/imp_nope", None).await.0, 404);
}
