//! The simulator's webhooks: statuses after a send and inbound messages, signed with the app
//! secret, in Meta's shapes (read back with polite's own webhook parser), and the knobs that
//! duplicate, reorder, throttle and fail.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use polite_domain::webhook::{self, EventKind};
use serde_json::{Value, json};
use whatsapp_sim::{FailureReport, Knobs, SimConfig, SimTemplate, Simulator, StatusDelays, WebhookTarget};

const SECRET: &str = "sim-test-app-secret";
const TOKEN: &str = "polite-local-access-token";

/// A business webhook endpoint that records what it gets, refusing the first `refuse` posts
/// with a 500.
#[derive(Clone, Default)]
struct Receiver {
    got: Arc<Mutex<Vec<Value>>>,
    refuse: Arc<Mutex<usize>>,
}

impl Receiver {
    async fn start(refuse: usize) -> (Receiver, String) {
        let receiver = Receiver { refuse: Arc::new(Mutex::new(refuse)), ..Receiver::default() };
        let state = receiver.clone();
        let app = axum::Router::new().route(
            "/webhook",
            axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                let state = state.clone();
                async move {
                    let signature = headers.get("x-hub-signature-256").and_then(|v| v.to_str().ok());
                    if webhook::verify_signature(SECRET.as_bytes(), &body, signature).is_err() {
                        return StatusCode::UNAUTHORIZED;
                    }
                    {
                        let mut refuse = state.refuse.lock().unwrap();
                        if *refuse > 0 {
                            *refuse -= 1;
                            return StatusCode::INTERNAL_SERVER_ERROR;
                        }
                    }
                    assert!(webhook::parse(&body).is_ok(), "polite's parser reads it");
                    state.got.lock().unwrap().push(serde_json::from_slice(&body).unwrap());
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (receiver, url)
    }

    /// Waits (up to 5 s) until `n` webhooks arrived, then returns them all.
    async fn wait_for(&self, n: usize) -> Vec<Value> {
        for _ in 0..100 {
            if self.got.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        self.got.lock().unwrap().clone()
    }
}

fn fast(url: String) -> SimConfig {
    SimConfig {
        webhook: Some(WebhookTarget { url, app_secret: SECRET.into() }),
        status_delays: StatusDelays {
            sent: Duration::from_millis(10),
            delivered: Duration::from_millis(40),
            read: Duration::from_millis(80),
        },
        ..SimConfig::default()
    }
}

async fn start(config: SimConfig) -> Simulator {
    Simulator::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

async fn send(sim: &Simulator, body: &Value) -> (u16, Value) {
    let url = format!("{}/v25.0/106540352242922/messages", sim.url());
    let response = reqwest::Client::new().post(url).bearer_auth(TOKEN).json(body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

fn template_to(to: &str, name: &str, callback: &str) -> Value {
    json!({"messaging_product": "whatsapp", "to": to, "type": "template",
           "template": {"name": name, "language": {"code": "pt_BR"}}, "biz_opaque_callback_data": callback})
}

/// The one status of each webhook, in arrival order.
fn statuses(webhooks: &[Value]) -> Vec<Value> {
    webhooks.iter().map(|w| w["entry"][0]["changes"][0]["value"]["statuses"][0].clone()).collect()
}

fn values(statuses: &[Value]) -> Vec<&str> {
    statuses.iter().map(|s| s["status"].as_str().unwrap()).collect()
}

#[tokio::test]
async fn an_accepted_template_gets_signed_sent_delivered_read_with_callback_data_and_pricing() {
    let (receiver, url) = Receiver::start(0).await;
    let mut config = fast(url);
    config.template_categories.insert("order_update".into(), "utility".into());
    let sim = start(config).await;
    let (status, answer) = send(&sim, &template_to("+5511987654321", "order_update", "msg_1")).await;
    assert_eq!(status, 200, "{answer}");
    let wamid = answer["messages"][0]["id"].as_str().unwrap();

    let got = statuses(&receiver.wait_for(3).await);
    assert_eq!(values(&got), ["sent", "delivered", "read"]);
    for s in &got {
        assert_eq!((s["id"].as_str(), s["recipient_id"].as_str()), (Some(wamid), Some("5511987654321")));
        assert_eq!(s["biz_opaque_callback_data"], "msg_1");
    }
    assert_eq!(
        got[1]["pricing"],
        json!({"billable": true, "pricing_model": "PMP", "type": "regular", "category": "utility"})
    );
    assert!(got[0].get("pricing").is_none() && got[2].get("pricing").is_none(), "pricing on one status only");
    let log = sim.webhooks();
    assert_eq!(log.len(), 3);
    assert!(log.iter().all(|w| w.http_status == Some(200) && w.attempts == 1));
}

#[tokio::test]
async fn an_undeliverable_recipient_gets_a_failed_status_when_failures_are_reported_by_webhook() {
    let (receiver, url) = Receiver::start(0).await;
    let sim = start(SimConfig { failures: FailureReport::Webhook, ..fast(url) }).await;
    let (status, answer) = send(&sim, &template_to("+16505550050", "spring_sale", "msg_2")).await;
    assert_eq!(status, 200, "accepted first: {answer}");
    let got = statuses(&receiver.wait_for(1).await);
    assert_eq!(values(&got), ["failed"]);
    assert_eq!(got[0]["errors"][0]["code"], 131_050);
    assert_eq!(got[0]["biz_opaque_callback_data"], "msg_2");
    // Refusals of the request itself still answer the send.
    let (status, answer) = send(&sim, &template_to("+16505550429", "spring_sale", "msg_3")).await;
    assert_eq!((status, answer["error"]["code"].as_i64()), (429, Some(130_429)));
}

#[tokio::test]
async fn knobs_duplicate_and_reorder_statuses_and_skip_reads() {
    let (receiver, url) = Receiver::start(0).await;
    let knobs = Knobs { duplicate_rate: 1.0, reorder_rate: 1.0, ..Knobs::default() };
    let sim = start(SimConfig { knobs, ..fast(url.clone()) }).await;
    send(&sim, &template_to("+5511987654321", "spring_sale", "msg_4")).await;
    let got = statuses(&receiver.wait_for(6).await);
    assert_eq!(values(&got), ["read", "read", "delivered", "delivered", "sent", "sent"]);
    // The timestamps still tell the true order.
    let at = |i: usize| got[i]["timestamp"].as_str().unwrap().parse::<i64>().unwrap();
    assert!(at(0) >= at(2) && at(2) >= at(4));

    let (unread, url) = Receiver::start(0).await;
    let sim = start(SimConfig { knobs: Knobs { read_rate: 0.0, ..Knobs::default() }, ..fast(url) }).await;
    send(&sim, &template_to("+5511987654321", "spring_sale", "msg_5")).await;
    assert_eq!(values(&statuses(&unread.wait_for(3).await)), ["sent", "delivered"]);
}

#[tokio::test]
async fn error_rate_knobs_refuse_sends_with_metas_codes_and_a_timeout_still_accepts() {
    let throttled =
        start(SimConfig { knobs: Knobs { throttle_rate: 1.0, ..Knobs::default() }, ..SimConfig::default() }).await;
    let (status, answer) = send(&throttled, &template_to("+5511987654321", "spring_sale", "m")).await;
    assert_eq!((status, answer["error"]["code"].as_i64()), (429, Some(130_429)));
    let failing =
        start(SimConfig { knobs: Knobs { server_error_rate: 1.0, ..Knobs::default() }, ..SimConfig::default() }).await;
    let (status, answer) = send(&failing, &template_to("+5511987654321", "spring_sale", "m")).await;
    assert_eq!((status, answer["error"]["code"].as_i64()), (500, Some(131_000)));
    assert!(throttled.accepted().is_empty() && failing.accepted().is_empty());

    let knobs = Knobs { timeout_rate: 1.0, timeout: Duration::from_secs(5), ..Knobs::default() };
    let slow = start(SimConfig { knobs, ..SimConfig::default() }).await;
    let url = format!("{}/v25.0/106540352242922/messages", slow.url());
    let client = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    let body = template_to("+5511987654321", "spring_sale", "m");
    let result = client.post(url).bearer_auth(TOKEN).json(&body).send().await;
    assert!(result.unwrap_err().is_timeout());
    assert_eq!(slow.accepted().len(), 1, "Meta got it: the caller just never heard");
}

#[tokio::test]
async fn the_same_seed_draws_the_same_fates() {
    let fates = |seed: u64| async move {
        let knobs = Knobs { throttle_rate: 0.5, seed, ..Knobs::default() };
        let sim = start(SimConfig { knobs, ..SimConfig::default() }).await;
        let mut codes = Vec::new();
        for _ in 0..16 {
            codes.push(send(&sim, &template_to("+5511987654321", "spring_sale", "m")).await.0);
        }
        codes
    };
    let first = fates(7).await;
    assert_eq!(first, fates(7).await);
    assert!(first.contains(&200) && first.contains(&429), "{first:?}");
}

#[tokio::test]
async fn a_webhook_the_business_refuses_is_posted_again_until_taken() {
    let (receiver, url) = Receiver::start(2).await;
    let sim = start(SimConfig { knobs: Knobs { read_rate: 0.0, ..Knobs::default() }, ..fast(url) }).await;
    send(&sim, &template_to("+5511987654321", "spring_sale", "msg_6")).await;
    let got = statuses(&receiver.wait_for(2).await);
    assert_eq!(values(&got), ["sent", "delivered"]);
    let log = sim.webhooks();
    assert_eq!((log[0].attempts, log[0].http_status), (3, Some(200)), "{log:?}");
}

async fn inbound(sim: &Simulator, body: &Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(format!("{}/_sim/inbound", sim.url())).json(body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn inbound_texts_button_taps_and_marketing_preferences_reach_the_webhook_signed() {
    let (receiver, url) = Receiver::start(0).await;
    let sim = start(SimConfig { knobs: Knobs { read_rate: 0.0, ..Knobs::default() }, ..fast(url) }).await;
    let (_, sent) = send(&sim, &template_to("+5511987654321", "spring_sale", "msg_7")).await;
    let template_wamid = sent["messages"][0]["id"].as_str().unwrap().to_owned();
    receiver.wait_for(2).await;

    let (status, answer) = inbound(&sim, &json!({"from": "+5511987654321", "name": "Ana", "text": "PARAR"})).await;
    assert_eq!(status, 200, "{answer}");
    assert!(answer["id"].as_str().unwrap().starts_with("wamid."));
    let tap = json!({"from": "5511987654321", "button": {"payload": "OPTOUT_MARKETING", "text": "Parar promoções"}});
    assert_eq!(inbound(&sim, &tap).await.0, 200);
    assert_eq!(inbound(&sim, &json!({"from": "+5511987654321", "preference": "stop"})).await.0, 200);
    let standby = json!({"from": "+5511987654321", "text": "STOP", "field": "standby"});
    assert_eq!(inbound(&sim, &standby).await.0, 200);
    assert_eq!(inbound(&sim, &json!({"from": "+5511987654321", "call": true})).await.0, 200);
    assert_eq!(inbound(&sim, &json!({"from": "+5511987654321", "echo": "See you at 3!"})).await.0, 200);

    let got = receiver.wait_for(8).await;
    let bodies: Vec<Vec<u8>> = got[2..5].iter().map(|v| serde_json::to_vec(v).unwrap()).collect();
    let kinds: Vec<String> = bodies
        .iter()
        .map(|body| {
            let parsed = webhook::parse(body).unwrap();
            let event = parsed.events().next().unwrap();
            match event.kind {
                EventKind::Message { message, contact } => {
                    assert_eq!(contact.and_then(|c| c.wa_id.as_deref()), Some("5511987654321"));
                    format!(
                        "{}:{}",
                        message.kind,
                        message.context.as_ref().and_then(|c| c.id.as_deref()).unwrap_or("-")
                    )
                }
                EventKind::UserPreference(p) => format!("preference:{}", p.value),
                other => panic!("unexpected {other:?}"),
            }
        })
        .collect();
    assert_eq!(kinds, ["text:-".to_owned(), format!("button:{template_wamid}"), "preference:stop".to_owned()]);
    let message = &got[2]["entry"][0]["changes"][0]["value"];
    assert_eq!(message["messages"][0]["text"]["body"], "PARAR");
    assert_eq!(message["contacts"][0]["profile"]["name"], "Ana");
    assert_eq!(got[3]["entry"][0]["changes"][0]["value"]["messages"][0]["button"]["payload"], "OPTOUT_MARKETING");
    assert_eq!(got[4]["entry"][0]["changes"][0]["field"], "user_preferences");
    // While Meta's AI agent holds the chat: the same message on `standby`, routed as a message.
    assert_eq!(got[5]["entry"][0]["changes"][0]["field"], "standby");
    let body = serde_json::to_vec(&got[5]).unwrap();
    let routed = webhook::route(&body, jiff::Timestamp::now());
    assert_eq!((routed.inbound.len(), routed.parked.len()), (1, 0));
    assert!(matches!(routed.inbound[0].message().unwrap().content(), webhook::MessageContent::Text { body: "STOP" }));
    // A call: field `calls`, routed to inbound as the user's call.
    let body = serde_json::to_vec(&got[6]).unwrap();
    let routed = webhook::route(&body, jiff::Timestamp::now());
    assert_eq!((routed.inbound.len(), routed.parked.len()), (1, 0));
    assert!(routed.inbound[0].call().unwrap().by_user());
    // The business wrote from the WhatsApp Business app: an echo to the user, routed to inbound.
    assert_eq!(got[7]["entry"][0]["changes"][0]["field"], "smb_message_echoes");
    let body = serde_json::to_vec(&got[7]).unwrap();
    let routed = webhook::route(&body, jiff::Timestamp::now());
    assert_eq!((routed.inbound.len(), routed.parked.len()), (1, 0));
    assert_eq!(routed.inbound[0].echo().unwrap().to.as_deref(), Some("5511987654321"));
}

#[tokio::test]
async fn a_bad_inbound_request_is_refused_with_the_reason() {
    let (_receiver, url) = Receiver::start(0).await;
    let sim = start(fast(url)).await;
    let cases = [
        (json!({"from": "+5511987654321", "text": "hi", "preference": "stop"}), 400, "exactly one"),
        (json!({"from": "12", "text": "hi"}), 400, "from"),
        (json!({"from": "+5511987654321", "preference": "maybe"}), 400, "preference"),
        (json!({"from": "+5511987654321", "button": {"text": "Stop"}}), 400, "nothing was sent"),
        (json!({"from": "+5511987654321", "text": "hi", "colour": "red"}), 400, "colour"),
        (json!({"from": "+5511987654321", "preference": "stop", "field": "standby"}), 400, "field"),
        (json!({"from": "+5511987654321", "text": "hi", "field": "calls"}), 400, "field"),
        (json!({"from": "+5511987654321", "text": "hi", "call": true}), 400, "call"),
        (json!({"from": "+5511987654321", "echo": "hi", "call": true}), 400, "call"),
        (json!({"from": "+5511987654321", "echo": "hi", "text": "hi"}), 400, "echo"),
    ];
    for (body, status, says) in cases {
        let (got, answer) = inbound(&sim, &body).await;
        assert_eq!(got, status, "{body}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(says), "{body}: {answer}");
    }
    let silent = start(SimConfig::default()).await;
    let (status, answer) = inbound(&silent, &json!({"from": "+5511987654321", "text": "hi"})).await;
    assert_eq!(status, 409);
    assert!(answer["error"]["message"].as_str().unwrap().contains("SIM_WEBHOOK_URL"));
}

#[tokio::test]
async fn webhooks_name_users_by_user_id_and_withhold_a_username_users_phone() {
    let (receiver, url) = Receiver::start(0).await;
    let sim = start(SimConfig { knobs: Knobs { read_rate: 0.0, ..Knobs::default() }, ..fast(url) }).await;
    // Ana shares her phone; Lia (a number ending 0077) has a username and withholds hers.
    send(&sim, &template_to("+5511987654321", "spring_sale", "msg_a")).await;
    receiver.wait_for(2).await;
    send(&sim, &template_to("+5511987650077", "spring_sale", "msg_l")).await;
    receiver.wait_for(4).await;
    assert_eq!(inbound(&sim, &json!({"from": "+5511987650077", "name": "Lia", "text": "STOP"})).await.0, 200);
    let got = receiver.wait_for(5).await;

    let ana = &got[0]["entry"][0]["changes"][0]["value"];
    assert_eq!(ana["statuses"][0]["recipient_id"], "5511987654321");
    let ana_user = ana["statuses"][0]["recipient_user_id"].as_str().unwrap();
    assert_eq!(ana["contacts"][0]["user_id"], ana_user);
    assert_eq!(ana["contacts"][0]["wa_id"], "5511987654321");

    let lia = &got[2]["entry"][0]["changes"][0]["value"];
    assert_eq!(lia["statuses"][0]["recipient_id"], "", "withheld");
    let lia_user = lia["statuses"][0]["recipient_user_id"].as_str().unwrap();
    assert_ne!(lia_user, ana_user);
    assert_eq!(
        (lia["contacts"][0]["wa_id"].as_str(), lia["contacts"][0]["user_id"].as_str()),
        (Some(""), Some(lia_user))
    );
    assert!(lia["contacts"][0]["profile"]["username"].as_str().unwrap().starts_with('@'));

    let stop = &got[4]["entry"][0]["changes"][0]["value"];
    assert_eq!(stop["messages"][0]["from"], "", "a username user's STOP carries no phone");
    assert_eq!(stop["messages"][0]["from_user_id"], lia_user);
    assert_eq!(stop["contacts"][0]["user_id"], lia_user);
    // polite's model reads it: the sender is known by the user id alone.
    let body = serde_json::to_vec(&got[4]).unwrap();
    let parsed = webhook::parse(&body).unwrap();
    let EventKind::Message { message, contact } = parsed.events().next().unwrap().kind else { panic!("not a message") };
    let observed = polite_domain::people::in_message(contact, message, message.timestamp.unwrap());
    let ids: Vec<String> =
        observed.iter().flat_map(polite_domain::people::Observation::identities).map(|i| i.to_string()).collect();
    assert_eq!(ids, [lia_user]);
}

#[tokio::test]
async fn the_template_list_pages_like_the_graph_api_and_a_change_posts_metas_template_webhook() {
    let (receiver, url) = Receiver::start(0).await;
    let mut templates: Vec<SimTemplate> =
        (0..3).map(|i| SimTemplate::approved(&format!("promo_{i}"), "pt_BR", "MARKETING")).collect();
    templates.push(SimTemplate::approved("order_update", "pt_BR", "UTILITY"));
    let sim = start(SimConfig { templates, ..fast(url) }).await;
    let client = reqwest::Client::new();
    let list = |query: &str| {
        let url = format!("{}/v25.0/900100200300/message_templates?{query}", sim.url());
        let request = client.get(url).bearer_auth(TOKEN);
        async move {
            let response = request.send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let (status, first) = list("limit=3").await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["data"].as_array().unwrap().len(), 3);
    assert_eq!(first["data"][0]["category"], "MARKETING");
    assert!(first["paging"]["next"].is_string(), "more to come: {first}");
    let after = first["paging"]["cursors"]["after"].as_str().unwrap().to_owned();
    let (_, second) = list(&format!("limit=3&after={after}")).await;
    assert_eq!(second["data"][0]["name"], "order_update");
    assert!(second["paging"].get("next").is_none(), "the last page: {second}");
    let (status, wrong) = list("after=nonsense").await;
    assert_eq!((status, wrong["error"]["code"].as_i64()), (400, Some(100)));

    // Meta pauses order_update: a status webhook; sends now fail with 132015.
    let change = |body: Value| {
        let request = client.post(format!("{}/_sim/templates", sim.url())).json(&body);
        async move { request.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(change(json!({"name": "order_update", "language": "pt_BR", "status": "PAUSED"})).await, 200);
    let (status, refused) = send(&sim, &template_to("+5511987654321", "order_update", "m1")).await;
    assert_eq!((status, refused["error"]["code"].as_i64()), (400, Some(132_015)), "{refused}");
    // Re-categorised to MARKETING: a completed template_category_update.
    assert_eq!(change(json!({"name": "order_update", "language": "pt_BR", "category": "marketing"})).await, 200);
    assert_eq!(change(json!({"name": "nope", "language": "pt_BR", "status": "PAUSED"})).await, 400);
    assert_eq!(change(json!({"name": "order_update", "language": "pt_BR"})).await, 400);

    let got = receiver.wait_for(2).await;
    let fields: Vec<&str> = got.iter().map(|w| w["entry"][0]["changes"][0]["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["message_template_status_update", "template_category_update"]);
    for body in &got {
        let bytes = body.to_string().into_bytes();
        let routed = webhook::route(&bytes, jiff::Timestamp::now());
        assert_eq!((routed.templates.len(), routed.parked.len()), (1, 0), "{body}");
    }
    let category = &got[1]["entry"][0]["changes"][0]["value"];
    assert_eq!(
        (category["previous_category"].as_str(), category["new_category"].as_str()),
        (Some("UTILITY"), Some("MARKETING"))
    );
}

#[tokio::test]
async fn the_marketing_messages_api_takes_marketing_templates_only_and_its_refusals_are_metas() {
    let templates = vec![
        SimTemplate::approved("spring_sale", "pt_BR", "MARKETING"),
        SimTemplate::approved("order_update", "pt_BR", "UTILITY"),
    ];
    let post = |sim: &Simulator, path: &str, body: Value| {
        let url = format!("{}/v25.0/106540352242922/{path}", sim.url());
        async move {
            let response = reqwest::Client::new().post(url).bearer_auth(TOKEN).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        }
    };
    let code = |answer: &Value| answer["error"]["code"].as_i64();
    let sim = start(SimConfig { templates: templates.clone(), ..SimConfig::default() }).await;
    let (status, answer) = post(&sim, "marketing_messages", template_to("+5511987654321", "spring_sale", "m1")).await;
    assert_eq!(status, 200, "{answer}");
    let (_, utility) = post(&sim, "marketing_messages", template_to("+5511987654321", "order_update", "m2")).await;
    assert_eq!(code(&utility), Some(131_055), "{utility}");
    let text = json!({"messaging_product": "whatsapp", "to": "+5511987654321", "type": "text", "text": {"body": "hi"}});
    assert_eq!(code(&post(&sim, "marketing_messages", text).await.1), Some(100));
    assert_eq!(sim.accepted().iter().map(|m| m.endpoint).collect::<Vec<_>>(), ["marketing_messages"]);

    // Terms not accepted; marketing turned off on /messages.
    let strict = SimConfig {
        templates,
        marketing_terms_accepted: false,
        marketing_off_on_messages: true,
        ..SimConfig::default()
    };
    let sim = start(strict).await;
    let (_, terms) = post(&sim, "marketing_messages", template_to("+5511987654321", "spring_sale", "m3")).await;
    assert_eq!(code(&terms), Some(131_055), "{terms}");
    assert!(terms["error"]["message"].as_str().unwrap().contains("terms"), "{terms}");
    let (_, off) = post(&sim, "messages", template_to("+5511987654321", "spring_sale", "m4")).await;
    assert_eq!(code(&off), Some(131_063), "{off}");
    assert_eq!(post(&sim, "messages", template_to("+5511987654321", "order_update", "m5")).await.0, 200);
}
