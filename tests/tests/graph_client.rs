//! polite's Graph API client against the WhatsApp simulator: what it sends is what Meta
//! takes, and every kind of answer becomes the right `SendFailure`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::time::Duration;

use polite_adapters::graph::{GraphClient, GraphConfig};
use polite_domain::ContactRef;
use polite_domain::ports::WhatsAppApi as _;
use polite_domain::whatsapp::{Content, ErrorAction, Outbound, SendFailure};
use secrecy::SecretString;
use whatsapp_sim::{SimConfig, Simulator};

async fn sim(latency: Duration) -> Simulator {
    Simulator::start(SimConfig { latency, ..SimConfig::default() }, "127.0.0.1:0".parse().unwrap()).await.unwrap()
}

fn client(base_url: String, token: &str, timeout: Duration) -> GraphClient {
    GraphClient::new(GraphConfig {
        base_url,
        version: "v25.0".into(),
        phone_number_id: SimConfig::default().phone_number_id,
        token: SecretString::from(token.to_owned()),
        timeout,
    })
    .unwrap()
}

fn text(to: &str) -> Outbound {
    Outbound {
        from: None,
        to: ContactRef::parse(to).unwrap(),
        content: Content::Text { body: "Thanks, you will get no more promotions.".into() },
        callback_data: Some("msg-42".into()),
        reply_to: Some("wamid.INBOUND".into()),
        endpoint: polite_domain::whatsapp::Endpoint::Messages,
    }
}

fn token() -> String {
    SimConfig::default().access_token
}

#[tokio::test]
async fn an_accepted_text_comes_back_with_the_wamid_the_simulator_recorded() {
    let sim = sim(Duration::ZERO).await;
    let graph = client(sim.url(), &token(), Duration::from_secs(5));
    let accepted = graph.send(&text("+16505551234")).await.unwrap();
    let recorded = sim.accepted();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].wamid, accepted.wamid);
    assert_eq!(recorded[0].to, "16505551234");
    assert_eq!(recorded[0].text.as_deref(), Some("Thanks, you will get no more promotions."));
    assert_eq!(recorded[0].biz_opaque_callback_data.as_deref(), Some("msg-42"));
    assert_eq!(recorded[0].reply_to.as_deref(), Some("wamid.INBOUND"));
}

#[tokio::test]
async fn a_template_is_sent_as_given() {
    let sim = sim(Duration::ZERO).await;
    let graph = client(sim.url(), &token(), Duration::from_secs(5));
    let template = serde_json::json!({"name": "spring_sale", "language": {"code": "pt_BR"},
        "components": [{"type": "body", "parameters": [{"type": "text", "text": "Ana"}]}]});
    let message = Outbound { content: Content::Template(template.clone()), ..text("+5511987654321") };
    graph.send(&message).await.unwrap();
    assert_eq!(sim.accepted()[0].request["template"], template);
}

#[tokio::test]
async fn metas_refusals_carry_their_code_and_action() {
    let sim = sim(Duration::ZERO).await;
    let graph = client(sim.url(), &token(), Duration::from_secs(5));
    for (to, code, action) in [
        ("+16505550050", 131_050, ErrorAction::OptOut),
        ("+16505550049", 131_049, ErrorAction::DeferDay),
        ("+16505550026", 131_026, ErrorAction::Fail),
        ("+16505550056", 131_056, ErrorAction::RetryRecipient),
        ("+16505550429", 130_429, ErrorAction::SlowDown),
        ("+16505550500", 131_000, ErrorAction::Retry),
    ] {
        match graph.send(&text(to)).await {
            Err(SendFailure::Rejected { error, .. }) => {
                assert_eq!(error.code, code, "{to}");
                assert_eq!(error.action(), action, "{to}");
                assert!(!error.message.is_empty());
            }
            other => panic!("{to}: {other:?}"),
        }
    }
    let wrong_token = client(sim.url(), "expired", Duration::from_secs(5));
    let failure = wrong_token.send(&text("+16505551234")).await.unwrap_err();
    assert_eq!(failure.action(), Some(ErrorAction::Reauthenticate), "{failure:?}");
    assert!(sim.accepted().is_empty());
}

#[tokio::test]
async fn no_answer_in_time_is_an_unknown_outcome_but_no_connection_is_safe_to_retry() {
    let slow = sim(Duration::from_millis(800)).await;
    let impatient = client(slow.url(), &token(), Duration::from_millis(200));
    assert!(matches!(impatient.send(&text("+16505551234")).await, Err(SendFailure::OutcomeUnknown)));

    let gone = sim(Duration::ZERO).await;
    let url = gone.url();
    gone.stop().await;
    let failure = client(url, &token(), Duration::from_secs(2)).send(&text("+16505551234")).await.unwrap_err();
    assert!(matches!(failure, SendFailure::Unreachable(_)), "{failure:?}");
    assert_eq!(failure.action(), Some(ErrorAction::Retry));
}

#[tokio::test]
async fn a_rotated_token_is_read_again_from_ssm_and_the_send_goes_through() {
    let sim = sim(Duration::ZERO).await;
    let sdk = polite_tests::Moto::get().sdk_config().await;
    let ssm = aws_sdk_ssm::Client::new(&sdk);
    let name = format!("/polite/test/{}/access-token", std::process::id());
    let put = |value: &'static str| {
        ssm.put_parameter()
            .name(&name)
            .value(value)
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .overwrite(true)
            .send()
    };
    put("token-of-monday").await.unwrap();
    sim.rotate_token("token-of-monday");
    let graph = client(sim.url(), "token-of-monday", Duration::from_secs(5)).with_token_from_ssm(ssm.clone(), &name);
    graph.send(&text("+16505551234")).await.unwrap();

    // The business rotates its token: Meta refuses the old one; SSM has the new one.
    sim.rotate_token("token-of-tuesday");
    put("token-of-tuesday").await.unwrap();
    graph.send(&text("+16505551234")).await.unwrap();
    assert_eq!(sim.accepted().len(), 2, "no message failed for the rotation");

    // A token nobody rotated in SSM keeps failing as an auth error (retried later by the
    // sender); SSM is not read again within the minute.
    sim.rotate_token("token-of-wednesday");
    let failure = graph.send(&text("+16505551234")).await.unwrap_err();
    assert_eq!(failure.action(), Some(ErrorAction::Reauthenticate));
}
