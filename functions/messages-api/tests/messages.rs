//! `/v1/messages` and the tick against moto: what is stored, what lands on send-queue, and
//! what `GET /v1/messages/{id}` shows (`openapi.yaml`).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

mod common;

use common::{Harness, later, merge, now};
use jiff::SignedDuration;
use lambda_http::{Body, Request};
use messages_api::handle_at;
use polite_app::scheduler::tick;
use polite_domain::ContactRef;
use polite_domain::message::MessageState;
use polite_domain::message::TransitionDetails;
use polite_domain::ports::prelude::*;
use polite_domain::record::Moved;
use serde_json::{Value, json};

fn marketing(to: &str) -> Value {
    json!({"to": to, "category": "marketing", "template": {"name": "spring_sale", "language": "pt_BR"}})
}

#[tokio::test]
async fn a_template_due_now_is_queued_and_on_send_queue_with_its_history() {
    let h = Harness::new().await;
    let (status, body) = h.post(&marketing("+5511987654321")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["state"], "queued");
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("msg_"));
    assert_eq!(h.queued_jobs().await, [id]);

    let (status, view) = h.call("GET", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(view["to"], "5511987654321");
    assert_eq!(view["category"], "marketing");
    assert_eq!(view["state"], "queued");
    assert_eq!(view["history"], json!([{"state": "queued", "at": "2026-11-23T12:00:00Z"}]));
    assert!(view.get("not_before").is_none() && view.get("reason").is_none());
}

#[tokio::test]
async fn a_send_within_fifteen_minutes_waits_on_the_queue_and_a_later_one_in_the_table() {
    let h = Harness::new().await;
    let soon = json!({"send_at": later(10).to_string()});
    let (_, body) = h.post(&merge(marketing("+16505551234"), &soon)).await;
    assert_eq!(body["state"], "queued");
    // Invisible for 600 s: nothing to receive yet.
    assert!(h.queued_jobs().await.is_empty());
    let (_, view) = h.call("GET", &format!("/v1/messages/{}", body["id"].as_str().unwrap()), None).await;
    assert_eq!(view["not_before"], later(10).to_string());

    let (_, body) = h.post(&merge(marketing("+16505551234"), &json!({"send_at": later(120).to_string()}))).await;
    assert_eq!(body["state"], "scheduled");
    let (_, view) = h.call("GET", &format!("/v1/messages/{}", body["id"].as_str().unwrap()), None).await;
    assert_eq!(view["state"], "scheduled");
    assert_eq!(view["not_before"], later(120).to_string());
}

#[tokio::test]
async fn the_tick_releases_a_due_message_once_even_when_two_ticks_overlap() {
    let h = Harness::new().await;
    let (_, body) = h.post(&merge(marketing("+16505551234"), &json!({"send_at": later(120).to_string()}))).await;
    let id = body["id"].as_str().unwrap().to_owned();

    let early = tick::run(&h.scheduler, later(119)).await.unwrap();
    assert_eq!(early.released, 0, "not due yet");
    assert_eq!(h.state(&id).await, MessageState::Scheduled);

    let (a, b) = tokio::join!(tick::run(&h.scheduler, later(121)), tick::run(&h.scheduler, later(121)));
    assert_eq!(a.unwrap().released + b.unwrap().released, 1, "one of the two ticks released it");
    assert_eq!(h.queued_jobs().await, [id.as_str()]);
    assert_eq!(h.state(&id).await, MessageState::Queued);
    let again = tick::run(&h.scheduler, later(122)).await.unwrap();
    assert_eq!((again.released, again.requeued), (0, 0), "queued under a lease: nothing to do");
    assert!(h.queued_jobs().await.is_empty());
}

#[tokio::test]
async fn an_unreadable_record_is_set_aside_and_the_rest_of_its_shard_still_flows() {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    let h = Harness::new().await;
    let (_, body) = h.post(&merge(marketing("+16505551234"), &json!({"send_at": later(120).to_string()}))).await;
    let good = body["id"].as_str().unwrap().to_owned();
    // A record no reader understands, due first, in the same shard (written by a future
    // version, or edited by hand).
    let shard = polite_domain::message::due_shard(&good);
    let bad =
        (0..10_000).map(|n| format!("msg_bad{n}")).find(|id| polite_domain::message::due_shard(id) == shard).unwrap();
    let dynamo = aws_sdk_dynamodb::Client::new(&h.stack.sdk);
    dynamo
        .put_item()
        .table_name(h.stack.table("MessagesTable"))
        .item("pk", A::S(format!("M#{bad}")))
        .item("sk", A::S("MSG".into()))
        .item("state", A::S("teleported".into()))
        .item("due_shard", A::S(shard.to_string()))
        .item("due_at", A::S("2026-11-23T12:00:00Z".into()))
        .send()
        .await
        .unwrap();

    let first = tick::run(&h.scheduler, later(121)).await.unwrap();
    assert_eq!((first.released, first.set_aside), (1, 1), "{first:?}");
    assert_eq!(h.queued_jobs().await, [good.as_str()]);
    // Set aside: the next ticks do not trip over it again at once.
    let next = tick::run(&h.scheduler, later(122)).await.unwrap();
    assert_eq!((next.released, next.set_aside), (0, 0), "{next:?}");
}

#[tokio::test]
async fn a_queued_message_whose_queue_message_was_lost_is_queued_again_after_its_lease() {
    let h = Harness::new().await;
    let (_, body) = h.post(&marketing("+16505551234")).await;
    let id = body["id"].as_str().unwrap().to_owned();
    assert_eq!(h.queued_jobs().await, [id.as_str()], "received and deleted: as if lost");

    assert_eq!(tick::run(&h.scheduler, later(10)).await.unwrap().requeued, 0, "still inside the lease");
    let report = tick::run(&h.scheduler, later(16)).await.unwrap();
    assert_eq!(report.requeued, 1);
    assert_eq!(h.queued_jobs().await, [id.as_str()]);

    // Once the sender claims it, the lease is gone: no more re-queues.
    let claimed = h
        .scheduler
        .messages
        .transition(&id, &[MessageState::Queued], MessageState::Sending, later(17), TransitionDetails::default())
        .await
        .unwrap();
    assert!(matches!(claimed, Moved::Yes(_)));
    assert_eq!(tick::run(&h.scheduler, later(60)).await.unwrap().requeued, 0);
}

#[tokio::test]
async fn the_same_idempotency_key_and_body_give_the_same_message_and_another_body_409() {
    let h = Harness::new().await;
    let request = merge(marketing("+16505551234"), &json!({"idempotency_key": "order-1001-shipped"}));
    let (first_status, first) = h.post(&request).await;
    assert_eq!(first_status, 202);
    // The same body with its keys in another order is the same request.
    let reordered: Value = serde_json::from_str(
        r#"{"idempotency_key":"order-1001-shipped","template":{"language":"pt_BR","name":"spring_sale"},"category":"marketing","to":"+16505551234"}"#,
    )
    .unwrap();
    let (status, again) = h.post(&reordered).await;
    assert_eq!((status, &again["id"]), (202, &first["id"]));
    assert_eq!(h.queued_jobs().await.len(), 1, "queued once");

    let (status, conflict) = h.post(&merge(request, &json!({"to": "+16505559999"}))).await;
    assert_eq!(status, 409);
    assert_eq!(conflict["error"]["code"], "idempotency_conflict");
}

#[tokio::test]
async fn a_replay_after_send_at_passed_or_the_window_closed_gets_the_original_answer() {
    let h = Harness::new().await;
    let request =
        merge(marketing("+16505551234"), &json!({"idempotency_key": "order-1002", "send_at": later(2).to_string()}));
    let (status, first) = h.call_at("POST", "/v1/messages", Some(&request), now()).await;
    assert_eq!(status, 202, "{first}");
    // The caller's retry comes after send_at: it is the same request, not a new one.
    let (status, again) = h.call_at("POST", "/v1/messages", Some(&request), later(30)).await;
    assert_eq!((status, &again), (202, &first), "{again}");

    // Free-form text inside the window; the retry comes after the window closed.
    let ana = polite_domain::ContactRef::parse("+5511987654321").unwrap();
    h.scheduler.contacts.record_inbound(&ana, now() - SignedDuration::from_hours(23), None).await.unwrap();
    let text = json!({"to": "+5511987654321", "category": "service", "text": "Your order shipped.", "idempotency_key": "reply-7"});
    let (status, first) = h.call_at("POST", "/v1/messages", Some(&text), now()).await;
    assert_eq!(status, 202, "{first}");
    let (status, again) = h.call_at("POST", "/v1/messages", Some(&text), later(120)).await;
    assert_eq!((status, &again), (202, &first), "{again}");
    assert_eq!(h.queued_jobs().await.len(), 1, "the text queued once (the template waits for send_at)");
}

#[tokio::test]
async fn invalid_requests_are_refused_with_the_field_to_fix() {
    let h = Harness::new().await;
    let cases = [
        (json!({"to": "+16505551234", "category": "promo", "template": {"name": "a", "language": "en"}}), "category"),
        (json!({"to": "+16505551234", "category": "marketing", "text": "50% off!"}), "template"),
        (json!({"to": "not a number", "category": "marketing", "template": {"name": "a", "language": "en"}}), "to"),
        (
            json!({"to": "+16505551234", "category": "utility", "template": {"name": "a", "language": "en"}, "send_at": "2026-11-23T10:00:00Z"}),
            "send_at",
        ),
        (
            json!({"to": "+16505551234", "category": "utility", "template": {"name": "a", "language": "en"}, "send_at": "2026-11-24T10:00:00Z", "expires_at": "2026-11-24T09:00:00Z"}),
            "expires_at",
        ),
        (json!({"to": "+16505551234", "category": "service", "text": "Your parcel is here"}), "text"),
        (
            json!({"to": "+16505551234", "category": "marketing", "template": {"name": "a", "language": "en"}, "colour": "red"}),
            "colour",
        ),
    ];
    for (request, field) in cases {
        let (status, body) = h.post(&request).await;
        assert_eq!(status, 422, "{request}: {body}");
        assert_eq!(body["error"]["code"], "invalid_field");
        assert!(body["error"]["message"].as_str().unwrap().contains(field), "{field}: {body}");
    }
    let req: Request = lambda_http::http::Request::builder()
        .method("POST")
        .uri("/v1/messages")
        .body(Body::Text("{\"to\":".into()))
        .unwrap();
    let response = handle_at(&h.scheduler, &req, now()).await;
    assert_eq!(response.status().as_u16(), 400);
    assert!(h.queued_jobs().await.is_empty(), "nothing refused was queued");
}

#[tokio::test]
async fn free_form_text_is_accepted_only_while_the_window_is_open_when_it_goes() {
    let h = Harness::new().await;
    let to = ContactRef::parse("+16505551234").unwrap();
    h.scheduler.contacts.record_inbound(&to, now() - SignedDuration::from_hours(2), None).await.unwrap();
    let text = json!({"to": "+16505551234", "category": "service", "text": "Your parcel is here"});
    let (status, body) = h.post(&text).await;
    assert_eq!(status, 202, "{body}");
    // The same text for tomorrow: the window (open until 10:00 tomorrow) will have closed.
    let (status, body) = h.post(&merge(text, &json!({"send_at": "2026-11-24T11:00:00Z"}))).await;
    assert_eq!(status, 422);
    assert!(body["error"]["message"].as_str().unwrap().contains("2026-11-24T10:00:00Z"), "{body}");
}

#[tokio::test]
async fn a_message_can_be_cancelled_until_the_sender_has_it() {
    let h = Harness::new().await;
    let (_, body) = h.post(&merge(marketing("+16505551234"), &json!({"send_at": later(120).to_string()}))).await;
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, view) = h.call("DELETE", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(view["state"], "cancelled");
    assert_eq!(view["history"].as_array().unwrap().len(), 2);
    let (status, _) = h.call("DELETE", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(status, 200, "cancelling again answers the same");
    assert_eq!(tick::run(&h.scheduler, later(121)).await.unwrap().released, 0, "a cancelled message is not released");

    let (_, body) = h.post(&marketing("+16505551234")).await;
    let id = body["id"].as_str().unwrap().to_owned();
    let sending = TransitionDetails::default();
    h.scheduler.messages.transition(&id, &[MessageState::Queued], MessageState::Sending, now(), sending).await.unwrap();
    let (status, body) = h.call("DELETE", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(status, 409);
    assert_eq!(body["error"]["code"], "not_cancellable");
    assert!(body["error"]["message"].as_str().unwrap().contains("sending"));

    let (status, body) = h.call("DELETE", "/v1/messages/msg_unknown", None).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("not_found")));
}

#[tokio::test]
async fn unknown_messages_and_wrong_methods_answer_404_and_405() {
    let h = Harness::new().await;
    assert_eq!(h.call("GET", "/v1/messages/msg_nope", None).await.0, 404);
    assert_eq!(h.call("PUT", "/v1/messages/msg_nope", None).await.0, 405);
    assert_eq!(h.call("GET", "/v1/messages", None).await.0, 405);
}

#[tokio::test]
async fn a_delivered_message_shows_metas_pricing() {
    use polite_domain::message::StatusValue;
    use polite_domain::pricing::{Basis, CostEstimate, PricingRecord};
    use polite_domain::status::StatusUpdate;
    let h = Harness::new().await;
    let (_, body) = h.post(&marketing("+16505551234")).await;
    let id = body["id"].as_str().unwrap().to_owned();
    let messages = &h.scheduler.messages;
    let queued = messages.get(&id).await.unwrap().unwrap();
    let claimed = messages.transition_from(&queued, MessageState::Sending, now(), TransitionDetails::default()).await;
    let Ok(Moved::Yes(claimed)) = claimed else { panic!("claim") };
    let sent = TransitionDetails { wamid: Some("wamid.P".into()), ..TransitionDetails::default() };
    messages.transition_from(&claimed, MessageState::Sent, now(), sent).await.unwrap();
    let meta =
        json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing", "new_field": 1});
    let estimate = CostEstimate {
        amount: "0.0250".parse().unwrap(),
        currency: "USD".into(),
        market: "North America".into(),
        rates_from: jiff::civil::date(2025, 7, 1),
        basis: Basis::Rate,
    };
    let delivered = StatusUpdate {
        pricing: PricingRecord::from_meta(meta.clone()),
        estimate: Some(estimate),
        ..StatusUpdate::plain(StatusValue::Delivered, later(1))
    };
    messages.apply_status(&id, &delivered).await.unwrap();

    let (status, view) = h.call("GET", &format!("/v1/messages/{id}"), None).await;
    assert_eq!(status, 200);
    assert_eq!((view["state"].as_str(), view["wamid"].as_str()), (Some("delivered"), Some("wamid.P")));
    assert_eq!(view["pricing"], meta, "Meta's object as it came, fields polite does not know included");
    assert_eq!(
        view["estimated_cost"],
        json!({"amount": "0.0250", "currency": "USD", "market": "North America", "rates_from": "2025-07-01", "basis": "rate"})
    );
}

#[tokio::test]
async fn a_template_request_is_answered_with_the_category_meta_set_and_the_callers_kept() {
    use polite_domain::message::Category;
    let h = Harness::new().await;
    // Meta holds spring_sale (pt_BR) as MARKETING; the caller says utility.
    h.registry("spring_sale", Category::Marketing).await;
    let as_utility = merge(marketing("+5511987654321"), &json!({"category": "utility"}));
    let (status, body) = h.post(&as_utility).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!((body["category"].as_str(), body["requested_category"].as_str()), (Some("marketing"), Some("utility")));
    let id = body["id"].as_str().unwrap();
    let (_, view) = h.call("GET", &format!("/v1/messages/{id}"), None).await;
    assert_eq!((view["category"].as_str(), view["requested_category"].as_str()), (Some("marketing"), Some("utility")));

    // Agreeing with Meta, or naming a template the registry does not hold: the caller's word.
    let (_, agreeing) = h.post(&marketing("+5511987654322")).await;
    assert_eq!((agreeing["category"].as_str(), agreeing.get("requested_category")), (Some("marketing"), None));
    let unknown =
        merge(as_utility, &json!({"to": "+5511987654323", "template": {"name": "other", "language": "pt_BR"}}));
    let (_, unknown) = h.post(&unknown).await;
    assert_eq!((unknown["category"].as_str(), unknown.get("requested_category")), (Some("utility"), None));
}

#[test]
fn the_api_routes_exactly_what_the_template_sends_it() {
    assert_eq!(polite_tests::routes_of(messages_api::ROUTES), polite_tests::template_routes("messages-api"));
}
