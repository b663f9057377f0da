//! `POST /v1/campaigns` and the fan-out against moto: accepted whole, per-recipient
//! rejections, every recipient exactly one message however often a chunk is fanned out, and
//! recipients spread at the campaign rate.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use std::time::Duration;

use common::{Harness, later, merge, now};
use jiff::SignedDuration;
use polite_app::scheduler::tick;
use polite_domain::ContactRef;
use polite_domain::audience::Recipient;
use polite_domain::campaign::CampaignRecord;
use polite_domain::campaign::CampaignSettings;
use polite_domain::message::Due;
use polite_domain::message::MessageState;
use polite_domain::ports::prelude::*;
use polite_domain::record::MessageRecord;
use serde_json::{Value, json};

fn campaign(recipients: &[String]) -> Value {
    json!({
        "name": "Black Friday",
        "category": "marketing",
        "template": {"name": "black_friday", "language": "pt_BR"},
        "recipients": recipients,
    })
}

fn numbers(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("+5511987{i:06}")).collect()
}

/// Only the tick fans out (the API's budget is zero); chunks of 10 recipients.
fn tick_only() -> CampaignSettings {
    CampaignSettings { inline_budget: Duration::ZERO, chunk_size: 10, ..CampaignSettings::default() }
}

impl Harness {
    async fn post_campaign(&self, body: &Value) -> (u16, Value) {
        self.call("POST", "/v1/campaigns", Some(body)).await
    }

    async fn counts(&self, id: &str) -> Vec<(MessageState, i64)> {
        let counts = self.scheduler.messages.campaign_tally(id).await.unwrap().states;
        counts.into_iter().filter(|(_, n)| *n != 0).collect()
    }

    async fn campaign(&self, id: &str) -> CampaignRecord {
        self.scheduler.messages.campaign(id).await.unwrap().unwrap()
    }

    /// The send jobs on the queue once the spread's one-second delays have passed.
    async fn jobs_after_a_second(&self) -> usize {
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        self.queued_jobs().await.len()
    }

    /// The campaign's messages still waiting (scheduled or queued: both sit in the due
    /// index), by recipient.
    async fn waiting_messages(&self, campaign_id: &str) -> Vec<MessageRecord> {
        let far = later(365 * 24 * 60);
        let mut found = Vec::new();
        for shard in 0..polite_domain::message::DUE_SHARDS {
            for due in self.scheduler.messages.due(shard, far, 1_000).await.unwrap() {
                if let Due::Message(id) = due {
                    let record = self.scheduler.messages.get(&id).await.unwrap().unwrap();
                    if record.campaign_id.as_deref() == Some(campaign_id) {
                        found.push(record);
                    }
                }
            }
        }
        found.sort_by(|a, b| a.to.cmp(&b.to));
        found
    }
}

fn any_message(to: &ContactRef) -> MessageRecord {
    let marketing = polite_domain::message::Category::Marketing;
    MessageRecord::new(
        String::new(),
        to.clone(),
        marketing,
        polite_domain::request::Payload::Text(String::new()),
        MessageState::Queued,
        now(),
    )
}

#[tokio::test]
async fn a_campaign_rejects_bad_numbers_one_by_one_and_queues_one_message_per_recipient() {
    let h = Harness::new().await;
    let mut recipients = numbers(3);
    recipients.insert(1, "12".into());
    recipients.push(recipients[0].clone());
    let (status, body) = h.post_campaign(&campaign(&recipients)).await;
    assert_eq!(status, 202, "{body}");
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("cmp_"));
    assert_eq!(body["accepted"], 3);
    let rejected: Vec<(&str, &str)> = body["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["to"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, [("12", "invalid_number"), (recipients[0].as_str(), "duplicate")]);

    // Fanned out inline: three queued messages, three jobs (the 2nd and 3rd a second later,
    // spread at the campaign rate), counted in the campaign.
    assert_eq!(h.jobs_after_a_second().await, 3);
    assert_eq!(h.counts(id).await, [(MessageState::Queued, 3)]);
    let messages = h.waiting_messages(id).await;
    let to: Vec<String> = messages.iter().map(|m| format!("+{}", m.to.as_str())).collect();
    assert_eq!(to, numbers(3));
    for message in &messages {
        assert_eq!(message.state, MessageState::Queued);
        assert_eq!(serde_json::to_value(&message.payload).unwrap()["template"]["name"], "black_friday");
    }
}

#[tokio::test]
async fn recipients_are_spread_at_the_campaign_rate_and_a_later_campaign_waits_in_the_table() {
    let h = Harness::with(CampaignSettings { per_second: 2, ..CampaignSettings::default() }).await;
    let send_at = later(120);
    let (status, body) = h.post_campaign(&merge(campaign(&numbers(4)), &json!({"send_at": send_at.to_string()}))).await;
    assert_eq!(status, 202, "{body}");
    let record = h.campaign(body["id"].as_str().unwrap()).await;
    // Numbers were generated in order, so sorting by number restores the positions.
    for (position, message) in h.waiting_messages(&record.id).await.iter().enumerate() {
        assert_eq!(message.state, MessageState::Scheduled);
        let slot = send_at + SignedDuration::from_millis(500 * i64::try_from(position).unwrap());
        assert_eq!(message.not_before, Some(slot), "recipient {position}");
    }
    assert!(h.queued_jobs().await.is_empty(), "nothing is due for two hours");

    // The tick releases each as its slot comes.
    let report = tick::run(&h.scheduler, send_at + SignedDuration::from_millis(600)).await.unwrap();
    assert_eq!(report.released, 2);
    let report = tick::run(&h.scheduler, send_at + SignedDuration::from_secs(2)).await.unwrap();
    assert_eq!(report.released, 2);
    assert_eq!(h.counts(&record.id).await, [(MessageState::Queued, 4)]);
}

#[tokio::test]
async fn the_tick_fans_out_what_the_api_left_and_a_second_pass_creates_nothing_twice() {
    let h = Harness::with(tick_only()).await;
    // Three chunks: 10 + 10 + 5.
    let (status, body) = h.post_campaign(&campaign(&numbers(25))).await;
    assert_eq!(status, 202);
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(body["accepted"], 25);
    assert!(h.counts(&id).await.is_empty(), "nothing fanned out inline");

    // An earlier fan-out that stopped half-way had created one recipient's message already.
    let record = h.campaign(&id).await;
    assert_eq!(record.chunks, 3);
    let early = campaign_message(&record, &numbers(1)[0], 0);
    h.scheduler.messages.create(&early).await.unwrap();

    let report = tick::run(&h.scheduler, now()).await.unwrap();
    assert_eq!(report.chunks, 3);
    assert_eq!((report.fan_out.created, report.fan_out.existing), (24, 1));
    assert_eq!(h.counts(&id).await, [(MessageState::Queued, 25)], "every recipient once");

    let again = tick::run(&h.scheduler, later(10)).await.unwrap();
    assert_eq!((again.chunks, again.fan_out.created), (0, 0), "finished chunks leave the due index");
    assert_eq!(h.counts(&id).await, [(MessageState::Queued, 25)]);
}

/// The message an interrupted fan-out would have created for the recipient at `position`.
fn campaign_message(record: &CampaignRecord, to: &str, position: usize) -> polite_domain::record::NewMessage {
    let send = record.message_for(Recipient::plain(ContactRef::parse(to).unwrap()), position);
    polite_domain::record::NewMessage {
        record: MessageRecord {
            id: "msg_interrupted".into(),
            campaign_id: send.campaign_id.clone(),
            payload: send.payload.clone(),
            due_at: Some(now() + SignedDuration::from_mins(15)),
            ..any_message(&send.to)
        },
        idempotency_key: send.idempotency_key,
        body_hash: record.id.clone(),
    }
}

#[tokio::test]
async fn a_chunk_is_fanned_out_by_one_of_two_concurrent_fan_outs_and_again_after_its_lease() {
    let h = Harness::with(tick_only()).await;
    let (_, body) = h.post_campaign(&campaign(&numbers(5))).await;
    let id = body["id"].as_str().unwrap().to_owned();
    let (a, b) = tokio::join!(h.scheduler.fan_out(&id, 0, now()), h.scheduler.fan_out(&id, 0, now()));
    let done: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(done.len(), 1, "one claimed it");
    assert_eq!(done[0].created, 5);
    assert!(h.scheduler.fan_out(&id, 0, later(30)).await.unwrap().is_none(), "done for good");

    // A claim that was never finished (a crash) can be taken over once its lease ran out.
    let (_, body) = h.post_campaign(&campaign(&numbers(2))).await;
    let other = body["id"].as_str().unwrap().to_owned();
    let lease = now() + polite_app::scheduler::campaigns::CHUNK_LEASE;
    assert!(h.scheduler.messages.claim_chunk(&other, 0, now(), lease).await.unwrap().is_some());
    assert!(h.scheduler.fan_out(&other, 0, later(1)).await.unwrap().is_none(), "still held");
    let taken_over = h.scheduler.fan_out(&other, 0, lease).await.unwrap().unwrap();
    assert_eq!(taken_over.created, 2);
}

#[tokio::test]
async fn the_same_idempotency_key_answers_the_same_campaign_and_another_body_409() {
    let h = Harness::new().await;
    let mut recipients = numbers(2);
    recipients.push("nope".into());
    let request = merge(campaign(&recipients), &json!({"idempotency_key": "black-friday-2026"}));
    let (status, first) = h.post_campaign(&request).await;
    assert_eq!(status, 202);
    let (status, again) = h.post_campaign(&request).await;
    assert_eq!(status, 202);
    assert_eq!(again, first, "the same answer, rejections included");
    assert_eq!(h.jobs_after_a_second().await, 2, "messages created once");
    assert_eq!(h.counts(first["id"].as_str().unwrap()).await, [(MessageState::Queued, 2)]);

    let (status, conflict) = h.post_campaign(&merge(request, &json!({"name": "Cyber Monday"}))).await;
    assert_eq!(status, 409);
    assert_eq!(conflict["error"]["code"], "idempotency_conflict");
}

#[tokio::test]
async fn a_campaign_replayed_after_its_send_at_passed_gets_the_original_answer() {
    let h = Harness::new().await;
    let mut recipients = numbers(2);
    recipients.push("nope".into());
    let request =
        merge(campaign(&recipients), &json!({"idempotency_key": "cyber-monday-2026", "send_at": later(5).to_string()}));
    let (status, first) = h.call_at("POST", "/v1/campaigns", Some(&request), now()).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = h.call_at("POST", "/v1/campaigns", Some(&request), later(60)).await;
    assert_eq!((status, &again), (202, &first), "the same answer, rejections included: {again}");
}

#[tokio::test]
async fn campaign_wide_problems_are_422_naming_the_field_and_store_nothing() {
    let h = Harness::new().await;
    let cases = [
        (merge(campaign(&numbers(1)), &json!({"category": "service"})), "category"),
        (json!({"name": "x", "category": "marketing", "recipients": ["+16505551234"]}), "template"),
        (merge(campaign(&["12".into(), "x".into()]), &json!({})), "recipients"),
        (merge(campaign(&numbers(1)), &json!({"send_at": "2026-11-23T10:00:00Z"})), "send_at"),
        (merge(campaign(&numbers(1)), &json!({"audience": "all"})), "audience"),
        // This harness reads no audience files (no AUDIENCE_BUCKET): refused before anything is stored.
        (
            json!({"name": "x", "category": "marketing", "template": {"name": "black_friday", "language": "en"},
                "audience": {"s3": "s3://acme-audiences/spring.csv"}}),
            "audience.s3",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = h.post_campaign(&request).await;
        assert_eq!(status, 422, "{request}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{field}: {body}");
    }
    assert!(h.queued_jobs().await.is_empty());
    assert_eq!(h.call("GET", "/v1/campaigns", None).await.0, 405);
}

#[tokio::test]
async fn get_campaign_shows_the_fan_out_progress_and_every_state_count() {
    let h = Harness::with(tick_only()).await;
    let mut recipients = numbers(3);
    recipients.push("12".into());
    let (_, body) = h.post_campaign(&campaign(&recipients)).await;
    let id = body["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/campaigns/{id}");

    let (status, before) = h.call("GET", &path, None).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!((before["name"].as_str(), before["category"].as_str()), (Some("Black Friday"), Some("marketing")));
    assert_eq!((before["accepted"].as_i64(), before["rejected"].as_i64()), (Some(3), Some(1)));
    assert_eq!(before["messages"], 0, "not fanned out yet");
    assert_eq!(before["counts"].as_object().unwrap().len(), MessageState::ALL.len());
    assert_eq!(before["rates"], json!({"delivered": null, "read": null}));

    tick::run(&h.scheduler, now()).await.unwrap();
    let first = h.waiting_messages(&id).await.remove(0);
    let (status, _) = h.call("DELETE", &format!("/v1/messages/{}", first.id), None).await;
    assert_eq!(status, 200);
    let (_, after) = h.call("GET", &path, None).await;
    assert_eq!(after["messages"], 3);
    assert_eq!((after["counts"]["queued"].as_i64(), after["counts"]["cancelled"].as_i64()), (Some(2), Some(1)));
    assert_eq!(after["pricing"], json!({}));

    assert_eq!(h.call("GET", "/v1/campaigns/cmp_unknown", None).await.0, 404);
    assert_eq!(h.call("DELETE", &path, None).await.0, 405);
}

#[tokio::test]
async fn a_campaign_id_given_on_post_messages_reports_its_counts_without_a_name() {
    let h = Harness::new().await;
    for to in numbers(2) {
        let request = json!({
            "to": to, "category": "marketing", "campaign_id": "newsletter-48",
            "template": {"name": "newsletter", "language": "en"},
        });
        assert_eq!(h.post(&request).await.0, 202);
    }
    let (status, report) = h.call("GET", "/v1/campaigns/newsletter-48", None).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["name"], Value::Null);
    assert!(report.get("accepted").is_none());
    assert_eq!((report["messages"].as_i64(), report["counts"]["queued"].as_i64()), (Some(2), Some(2)));
}

#[tokio::test]
async fn a_campaigns_messages_are_created_under_the_category_meta_set_for_its_template() {
    use polite_domain::message::Category;
    let h = Harness::new().await;
    h.registry("black_friday", Category::Marketing).await;
    let mut body = campaign(&numbers(3));
    body["category"] = json!("utility");
    let (status, created) = h.post_campaign(&body).await;
    assert_eq!(status, 202, "{created}");
    let messages = h.waiting_messages(created["id"].as_str().unwrap()).await;
    assert_eq!(messages.len(), 3);
    for m in messages {
        assert_eq!((m.category, m.requested_category), (Category::Marketing, Some(Category::Utility)), "{}", m.id);
    }
}

#[tokio::test]
async fn each_recipient_gets_their_own_values_and_one_that_does_not_fit_the_template_is_rejected_alone() {
    let h = Harness::new().await;
    let body_text = "Olá {{1}}, o seu cupom {{2}} vale até domingo";
    let shape =
        polite_domain::placeholders::TemplateShape::from_meta(&[json!({"type": "BODY", "text": body_text})], None);
    h.registry_shaped("black_friday", polite_domain::message::Category::Marketing, Some(shape)).await;
    let mut body = campaign(&[]);
    body["recipients"] = json!([
        {"to": "+5511987000001", "parameters": {"1": "Ana", "2": "ANA20"}},
        {"to": "+5511987000002", "parameters": {"1": "Bia"}},
        {"to": "+5511987000003", "components": [{"type": "body", "parameters": [
            {"type": "text", "text": "Caio"}, {"type": "text", "text": "CAIO15"}]}]},
        "+5511987000004"
    ]);
    let (status, answer) = h.post_campaign(&body).await;
    assert_eq!(status, 202, "{answer}");
    assert_eq!(answer["accepted"], 2);
    let rejected: Vec<(&str, &str)> = answer["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["to"].as_str().unwrap(), r["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(rejected, [("+5511987000002", "invalid_parameters"), ("+5511987000004", "invalid_parameters")]);
    assert!(answer["rejected"][0]["detail"].as_str().unwrap().contains("132000"), "{answer}");
    let id = answer["id"].as_str().unwrap();
    let messages = h.waiting_messages(id).await;
    let personal: Vec<(String, Value)> = messages
        .iter()
        .map(|m| {
            let payload = serde_json::to_value(&m.payload).unwrap();
            (m.to.as_str().to_owned(), payload["template"]["components"][0]["parameters"].clone())
        })
        .collect();
    assert_eq!(
        personal,
        [
            ("5511987000001".to_owned(), json!([{"type": "text", "text": "Ana"}, {"type": "text", "text": "ANA20"}])),
            ("5511987000003".to_owned(), json!([{"type": "text", "text": "Caio"}, {"type": "text", "text": "CAIO15"}])),
        ]
    );
}

#[tokio::test]
async fn the_per_recipient_report_lists_every_recipient_once_a_page_at_a_time() {
    let h = Harness::new().await;
    let (status, created) = h.post_campaign(&campaign(&numbers(3))).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..5 {
        let path = match &cursor {
            None => format!("/v1/campaigns/{id}/messages?limit=2"),
            Some(c) => format!("/v1/campaigns/{id}/messages?limit=2&cursor={c}"),
        };
        let (status, page) = h.call("GET", &path, None).await;
        assert_eq!(status, 200, "{page}");
        for m in page["messages"].as_array().unwrap() {
            assert_eq!(m["campaign_id"], id);
            seen.push(format!("+{}", m["to"].as_str().unwrap()));
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, numbers(3), "each recipient once, in the order they were created");
    let (status, queued) = h.call("GET", &format!("/v1/campaigns/{id}/messages?state=queued"), None).await;
    assert_eq!((status, queued["messages"].as_array().map(Vec::len)), (200, Some(3)));
    let (status, failed) = h.call("GET", &format!("/v1/campaigns/{id}/messages?state=failed"), None).await;
    assert_eq!((status, failed["messages"].as_array().map(Vec::len)), (200, Some(0)));
    let (status, bad) = h.call("GET", &format!("/v1/campaigns/{id}/messages?state=lost"), None).await;
    assert_eq!((status, bad["error"]["code"].as_str()), (422, Some("invalid_field")));
    let (status, too_many) = h.call("GET", &format!("/v1/campaigns/{id}/messages?limit=501"), None).await;
    assert_eq!((status, too_many["error"]["code"].as_str()), (422, Some("invalid_field")));
    assert_eq!(h.call("GET", "/v1/campaigns/cmp_nope/messages", None).await.0, 404);
}

#[tokio::test]
async fn an_export_writes_every_recipient_once_to_s3_and_a_deployment_without_a_bucket_says_so() {
    let h = Harness::new().await;
    let (status, created) = h.post_campaign(&campaign(&numbers(7))).await;
    assert_eq!(status, 202, "{created}");
    let id = created["id"].as_str().unwrap();
    let exports = format!("/v1/campaigns/{id}/exports");
    let (status, refused) = h.call("POST", &exports, None).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("exports_unavailable")), "{refused}");

    // The same stores, with the audience bucket on moto's S3.
    let s3 = polite_adapters::audiences::S3Audiences::client(&h.stack.sdk);
    let bucket = format!("{}-audiences", h.stack.prefix.to_ascii_lowercase());
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let s = &h.scheduler;
    let scheduler = polite_app::scheduler::Scheduler::on(
        s.messages.clone(),
        s.contacts.clone(),
        s.templates.clone(),
        s.send_queue.clone(),
        s.campaigns,
    )
    .with_audiences(polite_adapters::audiences::S3Audiences::new(s3, Some(bucket.clone())));
    let call = async |method: &str, path: &str, body: Option<Value>| {
        let req: lambda_http::Request = lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .body(body.map_or(lambda_http::Body::Empty, |b| lambda_http::Body::Text(b.to_string())))
            .unwrap();
        let response = messages_api::handle_at(&scheduler, &req, now()).await;
        (response.status().as_u16(), serde_json::from_slice::<Value>(response.body().as_ref()).unwrap())
    };
    let (status, export) = call("POST", &exports, Some(json!({"format": "csv"}))).await;
    assert_eq!(status, 202, "{export}");
    let export_id = export["id"].as_str().unwrap();
    assert_eq!(export["location"], format!("s3://{bucket}/exports/{id}/{export_id}/"));
    let (status, bad) = call("POST", &exports, Some(json!({"format": "xlsx"}))).await;
    assert_eq!((status, bad["error"]["code"].as_str()), (422, Some("invalid_field")), "{bad}");
    assert_eq!(call("POST", "/v1/campaigns/cmp_nope/exports", None).await.0, 404);
    assert_eq!(call("GET", &format!("{exports}/exp_nope"), None).await.0, 404);

    let ticked = tick::run(&scheduler, now()).await.unwrap();
    assert_eq!(ticked.export_files, 2, "one file and the manifest: {ticked:?}");
    let (status, done) = call("GET", &format!("{exports}/{export_id}"), None).await;
    assert_eq!((status, &done["done"], &done["rows"], &done["files"]), (200, &json!(true), &json!(7), &json!(1)));
    assert_eq!(done["manifest"], format!("s3://{bucket}/exports/{id}/{export_id}/manifest.json"));

    let file = polite_domain::audience_file::AudienceFile {
        bucket,
        key: format!("exports/{id}/{export_id}/part-00000.csv"),
        format: polite_domain::audience_file::FileFormat::Csv,
    };
    let part = scheduler.audiences.read_part(&file, 0, 1 << 20).await.unwrap().unwrap();
    let text = String::from_utf8(part.bytes).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().starts_with("message_id,to,state,"));
    let listed: Vec<String> = lines.map(|l| format!("+{}", l.split(',').nth(1).unwrap())).collect();
    assert_eq!(listed, numbers(7), "each recipient once, in the order they were created");
}
