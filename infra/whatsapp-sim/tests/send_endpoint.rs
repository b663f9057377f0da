//! The simulator's Graph API send endpoint answers like Meta's: checked in the order Meta
//! checks (token, sender, body, recipient), with Meta's error shape and codes.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use serde_json::{Value, json};
use whatsapp_sim::{SimConfig, Simulator};

const TOKEN: &str = "test-token";
const PHONE: &str = "1234567890";

async fn sim(config: SimConfig) -> Simulator {
    Simulator::start(config, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn config() -> SimConfig {
    SimConfig { phone_number_id: PHONE.into(), access_token: TOKEN.into(), ..SimConfig::default() }
}

async fn post(sim: &Simulator, phone: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request = reqwest::Client::new().post(format!("{}/v25.0/{phone}/messages", sim.url())).json(body);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn text_to(to: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
           "text": {"body": "hello"}, "biz_opaque_callback_data": "msg-1"})
}

#[tokio::test]
async fn an_accepted_message_gets_a_wamid_and_is_listed() {
    let sim = sim(config()).await;
    let (status, body) = post(&sim, PHONE, Some(TOKEN), &text_to("+16505551234")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["messaging_product"], "whatsapp");
    let contact = &body["contacts"][0];
    assert_eq!((contact["input"].as_str(), contact["wa_id"].as_str()), (Some("+16505551234"), Some("16505551234")));
    assert!(polite_domain::BusinessScopedUserId::parse(contact["user_id"].as_str().unwrap()).is_ok(), "{contact}");
    let wamid = body["messages"][0]["id"].as_str().unwrap().to_owned();
    assert!(wamid.starts_with("wamid."), "{wamid}");

    let listed: Value = reqwest::get(format!("{}/_sim/messages", sim.url())).await.unwrap().json().await.unwrap();
    let messages = listed["messages"].as_array().unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0]["wamid"], wamid.as_str());
    assert_eq!(messages[0]["to"], "16505551234");
    assert_eq!(messages[0]["text"], "hello");
    assert_eq!(messages[0]["biz_opaque_callback_data"], "msg-1");
    assert_eq!(sim.accepted().len(), 1);

    let reset = reqwest::Client::new().post(format!("{}/_sim/reset", sim.url())).send().await.unwrap();
    assert_eq!(reset.status().as_u16(), 204);
    assert!(sim.accepted().is_empty());
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_refused_with_190_before_anything_else() {
    let sim = sim(config()).await;
    for token in [None, Some("wrong")] {
        let (status, body) = post(&sim, "other-phone", token, &json!({})).await;
        assert_eq!(status, 401);
        assert_eq!(body["error"]["code"], 190);
        assert_eq!(body["error"]["type"], "OAuthException");
    }
    assert!(sim.accepted().is_empty());
}

#[tokio::test]
async fn an_unknown_phone_number_id_is_refused_with_100_33() {
    let sim = sim(config()).await;
    let (status, body) = post(&sim, "999", Some(TOKEN), &text_to("+16505551234")).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], 100);
    assert_eq!(body["error"]["error_subcode"], 33);
}

#[tokio::test]
async fn invalid_requests_are_refused_naming_the_parameter() {
    let sim = sim(config()).await;
    let cases = [
        (json!({"to": "+16505551234", "type": "text", "text": {"body": "x"}}), 100, "messaging_product"),
        (json!({"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}), 100, "to"),
        (
            json!({"messaging_product": "whatsapp", "to": "+16505551234", "type": "text", "text": {}}),
            100,
            "text['body']",
        ),
        (
            json!({"messaging_product": "whatsapp", "to": "+16505551234", "type": "template", "template": {"name": "t"}}),
            100,
            "language",
        ),
        (json!({"messaging_product": "whatsapp", "to": "12", "type": "text", "text": {"body": "x"}}), 131_009, "to"),
        (json!({"messaging_product": "whatsapp", "to": "+16505551234", "type": "hologram"}), 100, "type"),
        (json!({"messaging_product": "whatsapp", "to": "+16505551234", "type": "sticker"}), 100, "link and id"),
        (
            json!({"messaging_product": "whatsapp", "to": "+16505551234", "type": "reaction", "reaction": {"emoji": "👍"}}),
            100,
            "message_id",
        ),
    ];
    for (request, code, needle) in cases {
        let (status, body) = post(&sim, PHONE, Some(TOKEN), &request).await;
        assert_eq!(status, 400, "{request}");
        assert_eq!(body["error"]["code"], code, "{request}");
        assert!(body["error"]["message"].as_str().unwrap().contains(needle), "{request}: {body}");
    }
    assert!(sim.accepted().is_empty());
}

#[tokio::test]
async fn recipients_ending_in_a_code_fail_with_that_code_and_are_not_accepted() {
    let sim = sim(config()).await;
    for (to, code, status) in [
        ("+16505550050", 131_050, 400),
        ("+16505550026", 131_026, 400),
        ("+16505550049", 131_049, 400),
        ("+16505550047", 131_047, 400),
        ("+16505550056", 131_056, 400),
        ("+16505550429", 130_429, 429),
        ("+16505550500", 131_000, 500),
    ] {
        let (got, body) = post(&sim, PHONE, Some(TOKEN), &text_to(to)).await;
        assert_eq!((got, body["error"]["code"].as_i64()), (status, Some(code)), "{to}: {body}");
        assert!(body["error"]["fbtrace_id"].is_string());
    }
    assert!(sim.accepted().is_empty());
}

#[tokio::test]
async fn only_approved_templates_are_accepted_when_a_list_is_configured() {
    let sim = sim(SimConfig { approved_templates: Some(vec!["spring_sale".into()]), ..config() }).await;
    let template = |name: &str| {
        json!({"messaging_product": "whatsapp", "to": "+16505551234", "type": "template",
               "template": {"name": name, "language": {"code": "en_US"}}})
    };
    let (status, body) = post(&sim, PHONE, Some(TOKEN), &template("spring_sale")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = post(&sim, PHONE, Some(TOKEN), &template("winter_sale")).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(132_001)));
    let accepted = sim.accepted();
    assert_eq!(accepted.len(), 1);
    assert_eq!(accepted[0].template.as_deref(), Some("spring_sale"));
}

fn template_by_user(recipient: &str, name: &str) -> Value {
    json!({"messaging_product": "whatsapp", "recipient": recipient, "type": "template",
           "template": {"name": name, "language": {"code": "en"}}})
}

#[tokio::test]
async fn a_send_by_business_scoped_user_id_reaches_a_user_the_business_was_shown_and_never_an_authentication_code() {
    let mut config = config();
    config.template_categories.insert("login_code".into(), "authentication".into());
    let sim = sim(config).await;
    let (status, body) = post(&sim, PHONE, Some(TOKEN), &template_by_user("US.12345678901234567890", "promo")).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(100)), "an id the business never saw: {body}");
    let (status, body) = post(&sim, PHONE, Some(TOKEN), &template_by_user("not-an-id", "promo")).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(100)), "{body}");

    // The business learns Lia's user id from an answer (or a webhook), then sends by it.
    let (_, first) = post(&sim, PHONE, Some(TOKEN), &text_to("+5511987650077")).await;
    let user_id = first["contacts"][0]["user_id"].as_str().unwrap().to_owned();
    let (status, body) = post(&sim, PHONE, Some(TOKEN), &template_by_user(&user_id, "promo")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["contacts"][0], json!({"input": user_id, "user_id": user_id}), "no wa_id when sent by user id");
    let listed: Value = reqwest::get(format!("{}/_sim/messages", sim.url())).await.unwrap().json().await.unwrap();
    assert_eq!(listed["messages"][1]["to"], "5511987650077");
    assert_eq!(listed["messages"][1]["recipient"], user_id.as_str());

    let (status, body) = post(&sim, PHONE, Some(TOKEN), &template_by_user(&user_id, "login_code")).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(131_062)), "{body}");
    // Both given: the phone wins.
    let mut both = template_by_user("US.12345678901234567890", "promo");
    both["to"] = json!("+16505551234");
    assert_eq!(post(&sim, PHONE, Some(TOKEN), &both).await.0, 200);
}

#[tokio::test]
async fn a_template_with_variables_is_listed_with_them_and_a_send_must_fill_each_once() {
    let offer = whatsapp_sim::SimTemplate::approved("spring_offer", "en", "MARKETING")
        .with_body("Hi {{first_name}}, {{discount}} off; {{first_name}}, see you", true);
    let sim = sim(SimConfig { templates: vec![offer], ..config() }).await;
    let waba = SimConfig::default().waba_id;
    let listed: Value = reqwest::Client::new()
        .get(format!("{}/v25.0/{waba}/message_templates", sim.url()))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["data"][0]["parameter_format"], "NAMED", "{listed}");
    assert_eq!(listed["data"][0]["components"][0]["type"], "BODY");
    let send = |parameters: Value| {
        json!({"messaging_product": "whatsapp", "to": "+16505551234", "type": "template",
               "template": {"name": "spring_offer", "language": {"code": "en"},
                            "components": [{"type": "body", "parameters": parameters}]}})
    };
    let two = json!([{"type": "text", "parameter_name": "first_name", "text": "Ana"},
                     {"type": "text", "parameter_name": "discount", "text": "20%"}]);
    let (status, body) = post(&sim, PHONE, Some(TOKEN), &send(two)).await;
    assert_eq!(status, 200, "{body}");
    let one = json!([{"type": "text", "parameter_name": "first_name", "text": "Ana"}]);
    let (status, body) = post(&sim, PHONE, Some(TOKEN), &send(one)).await;
    assert_eq!((status, body["error"]["code"].as_i64()), (400, Some(132_000)), "{body}");
    assert_eq!(sim.accepted().len(), 1);
}
