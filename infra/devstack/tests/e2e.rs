//! End to end over HTTP: a whole dev stack (moto, `cargo lambda watch` with every function,
//! the router, the pollers, the ticker, the simulator) on free ports, driven through the public
//! API and the simulator only — the way a user's scripts would.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp, ToSpan as _};
use polite_devstack::client::{Client, eventually};
use polite_devstack::demo::{self, Person};
use polite_devstack::{Ports, Stack, StackConfig};
use reqwest::Method;
use serde_json::{Value, json};

async fn start(name: &str) -> Stack {
    let workspace = StackConfig::workspace_root().canonicalize().unwrap();
    let mut config = StackConfig::demo(&workspace);
    config.ports = Ports::free().unwrap();
    config.state_dir = std::env::temp_dir().join(format!("polite-e2e-{name}-{}", std::process::id()));
    Stack::start(config).await.unwrap_or_else(|e| panic!("the stack did not start: {e:#}"))
}

/// A stack whose deployment-wide sending hours are open all day (a test then does not depend on
/// the hour it runs at).
async fn start_open_all_day(name: &str) -> Stack {
    let workspace = StackConfig::workspace_root().canonicalize().unwrap();
    let mut config = StackConfig::demo(&workspace);
    config.ports = Ports::free().unwrap();
    config.state_dir = std::env::temp_dir().join(format!("polite-e2e-{name}-{}", std::process::id()));
    let always = r#"{"default_hours": {"allowed": [{"days": "daily", "start": "00:00", "end": "00:00"}]}}"#;
    config.function_env.push(("SEND_POLICY".into(), always.into()));
    Stack::start(config).await.unwrap_or_else(|e| panic!("the stack did not start: {e:#}"))
}

/// The local times of `person` at `at`, in every zone polite may place their number in.
fn local_minutes(person: &Person, at: Timestamp) -> Vec<i32> {
    let id = polite_domain::WaId::parse(person.number).unwrap();
    polite_domain::ids::zones_for_number(&id)
        .zones
        .iter()
        .map(|zone| {
            let t = at.to_zoned(jiff::tz::TimeZone::get(zone).unwrap());
            i32::from(t.hour()) * 60 + i32::from(t.minute())
        })
        .collect()
}

/// Inside the default sending hours (08:00–21:00) in every zone the number may be in.
fn awake(person: &Person, at: Timestamp) -> bool {
    local_minutes(person, at).iter().all(|m| (8 * 60..21 * 60).contains(m))
}

/// Within `minutes` of 08:00 or 21:00 somewhere the number may be, during the story.
fn near_a_boundary(person: &Person, from: Timestamp, minutes: i32) -> bool {
    let span = [from, from + SignedDuration::from_mins(4)];
    span.iter()
        .any(|at| local_minutes(person, *at).iter().any(|m| [8 * 60, 21 * 60].iter().any(|b| (m - b).abs() <= minutes)))
}

/// `openapi.yaml`: every answer the routes test gets is validated against it.
struct Contract {
    spec: Value,
}

impl Contract {
    fn load() -> Contract {
        let yaml: serde_norway::Value = serde_norway::from_str(include_str!("../../../openapi.yaml")).unwrap();
        Contract { spec: serde_json::to_value(yaml).unwrap() }
    }

    /// `body`, answered `status` by `method template`, is what the spec says.
    fn check(&self, method: &Method, template: &str, status: u16, body: &Value) {
        let op = &self.spec["paths"][template][method.as_str().to_ascii_lowercase()];
        let mut answer = &op["responses"][status.to_string()];
        assert!(!answer.is_null(), "openapi.yaml: {method} {template} does not document {status} (got {body})");
        if let Some(r) = answer["$ref"].as_str() {
            answer = r.trim_start_matches("#/").split('/').fold(&self.spec, |node, part| &node[part]);
        }
        let Some(schema) = answer["content"]["application/json"]["schema"].as_object() else {
            assert!(
                body.is_null() || !answer["content"]["text/plain"].is_null(),
                "{method} {template} {status}: {body}"
            );
            return;
        };
        let mut root = Value::Object(schema.clone());
        root["components"] = self.spec["components"].clone();
        let validator = jsonschema::validator_for(&root).unwrap();
        let errors: Vec<String> =
            validator.iter_errors(body).map(|e| format!("{e} at {}", e.instance_path())).collect();
        assert!(errors.is_empty(), "{method} {template} {status} breaks openapi.yaml: {errors:?}\n{body}");
    }
}

fn count(view: &Value, state: &str) -> usize {
    usize::try_from(view["counts"][state].as_u64().unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_story_holds_end_to_end() {
    let stack = start("story").await;
    let client = Client::new(stack.endpoints.clone()).unwrap();
    let mut transcript = Vec::new();
    let story = demo::run(&client, &mut transcript).await;
    let text = String::from_utf8_lossy(&transcript).into_owned();
    let story = story.unwrap_or_else(|e| panic!("{e:#}\n--- transcript ---\n{text}"));
    println!("{text}");
    let contract = Contract::load();
    for o in &story.new_collection {
        contract.check(&Method::GET, "/v1/messages/{id}", 200, &o.message);
    }
    for view in [&story.new_collection_view, &story.black_friday_view] {
        contract.check(&Method::GET, "/v1/campaigns/{id}", 200, view);
    }
    for contact in &story.opted_out {
        contract.check(&Method::GET, "/v1/contacts/{contact}", 200, contact);
    }
    contract.check(&Method::POST, "/v1/campaigns", 202, &story.black_friday_created);
    // Bia, known only by her user id: her STOP reached her person; the next promotion did not go.
    contract.check(&Method::GET, "/v1/contacts/{contact}", 200, &story.username_contact);
    assert!(story.username_contact.get("wa_id").is_none(), "{}", story.username_contact);
    let bia = whatsapp_sim::SimUser::of(&polite_domain::WaId::parse("+5511987650077").unwrap());
    assert_eq!(story.username_contact["username"].as_str(), bia.username.as_deref(), "shown, never an address");
    assert_eq!(story.username_contact["consent"]["marketing"]["source"], "whatsapp_keyword");
    let after = &story.username_after_stop;
    assert_eq!((after["state"].as_str(), after["reason"].as_str()), (Some("suppressed"), Some("opted_out")), "{after}");
    meta_decides_the_category_and_the_endpoint(&story, &contract);
    the_business_heard_the_story(&story.heard);
    each_customer_gets_the_morning_offer_at_their_10_00(&story.morning);
    an_old_imported_opt_in_never_overrides_a_newer_stop_and_a_cancelled_campaign_adds_up(&story, &contract);

    // Each customer's first promotion: sent and read when awake, held for their morning when
    // not, refused with 131050 for the one who stopped marketing in WhatsApp.
    let mut read = BTreeSet::new();
    let mut held = BTreeSet::new();
    for o in &story.new_collection {
        let m = &o.message;
        if o.person == story.refused {
            assert_eq!((m["state"].as_str(), m["error"]["code"].as_i64()), (Some("failed"), Some(131_050)), "{m}");
            continue;
        }
        let boundary = near_a_boundary(&o.person, story.started, 2);
        match m["state"].as_str().unwrap() {
            "read" => {
                assert!(boundary || awake(&o.person, story.started), "{} was sent at night: {m}", o.person.name);
                read.insert(o.person.number);
            }
            "scheduled" | "deferred" => {
                assert_eq!(m["reason"], "quiet_hours", "{m}");
                assert!(boundary || !awake(&o.person, story.started), "{} was held by day: {m}", o.person.name);
                let at: Timestamp = m["not_before"].as_str().unwrap().parse().unwrap();
                assert!(at > story.started, "{m}");
                assert!(awake(&o.person, at), "{} is held until a time that is night somewhere: {m}", o.person.name);
                let opening = local_minutes(&o.person, at).iter().any(|m| (8 * 60..8 * 60 + 11).contains(m));
                assert!(
                    opening,
                    "{} should go when their morning opens (08:00 + up to 10 min of jitter): {m}",
                    o.person.name
                );
                held.insert(o.person.number);
            }
            other => panic!("{}'s promotion ended {other}: {m}", o.person.name),
        }
    }
    assert!(read.len() >= 2 && !held.is_empty(), "the cast spans the clock: {read:?} {held:?}");

    // The three opt-outs, each from its own source, recorded by consent-updater.
    let sources: Vec<&str> =
        story.opted_out.iter().map(|c| c["consent"]["marketing"]["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["whatsapp_keyword", "whatsapp_button", "send_failure_131050"]);
    assert_eq!(story.confirmations.len(), 1, "one confirmation reply to the STOP: {:?}", story.confirmations);
    // The login code whose answer was lost: never sent again, settled by its statuses.
    assert_eq!(story.lost_answer["state"], "read", "{}", story.lost_answer);
    assert_eq!(story.lost_answer_accepted, 1, "accepted by Meta exactly once");

    // The campaign: a typo and a repeat rejected one by one; the opted-out suppressed while
    // queued; the sleeping held; the rest sent — and nothing sent to anyone who opted out.
    let created = &story.black_friday_created;
    assert_eq!(created["accepted"], 9);
    let reasons: Vec<&str> =
        created["rejected"].as_array().unwrap().iter().map(|r| r["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons, ["invalid_number", "duplicate"]);
    let bf = &story.black_friday_view;
    assert_eq!(count(bf, "suppressed"), 3, "{bf}");
    let sent_to: BTreeSet<String> = story.black_friday_sent_to.iter().cloned().collect();
    for p in [story.stop_text, story.stop_button, story.refused] {
        assert!(!sent_to.contains(p.number.trim_start_matches('+')), "{} opted out but got Black Friday", p.name);
    }
    let states: u64 = bf["counts"].as_object().unwrap().values().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!((states, bf["messages"].as_u64()), (9, Some(9)), "{bf}");
    if !story.new_collection.iter().any(|o| near_a_boundary(&o.person, story.started, 2)) {
        assert_eq!(count(bf, "read"), read.len() - 2, "everyone awake but the two who stopped: {bf}");
        assert_eq!(count(bf, "scheduled") + count(bf, "deferred"), held.len(), "{bf}");
        assert_eq!(sent_to.len(), read.len() - 2);
    }

    // Exact numbers despite statuses reversed and duplicated (the simulator did both).
    assert!(!story.disordered.is_empty(), "the simulator reorders half the messages' statuses");
    let nc = &story.new_collection_view;
    assert_eq!(count(nc, "read"), read.len(), "{nc}");
    assert_eq!(count(nc, "failed"), 1, "{nc}");
    assert_eq!(count(nc, "scheduled") + count(nc, "deferred"), held.len(), "{nc}");
    assert_eq!(nc["pricing"]["marketing"]["priced"].as_u64(), u64::try_from(read.len()).ok(), "{nc}");
    assert_eq!(nc["pricing"]["marketing"]["types"]["regular"].as_u64(), u64::try_from(read.len()).ok(), "{nc}");
    // The estimate: each reader's market rate on the shipped card, summed exactly.
    assert_eq!(nc["estimated_cost"]["amounts"]["USD"].as_str(), Some(marketing_cost(&read).as_str()), "{nc}");
    assert_eq!(nc["estimated_cost"]["not_estimated"], 0, "{nc}");
    let rate = nc["rates"]["delivered"].as_f64().unwrap();
    let n = f64::from(u32::try_from(read.len()).unwrap());
    let expected = n / (n + 1.0);
    assert!((rate - expected).abs() < 1e-4, "{rate} vs {expected}");
    assert_eq!(bf["pricing"]["marketing"]["priced"], bf["counts"]["read"], "{bf}");

    stack.stop().await;
}

/// What the shipped rate card says regular marketing messages to `numbers` cost today.
fn marketing_cost(numbers: &BTreeSet<&str>) -> String {
    use polite_domain::pricing::{Money, PricingRecord, RateCard};
    let card = RateCard::builtin().unwrap();
    let marketing = PricingRecord::from_meta(json!({"type": "regular", "category": "marketing"})).unwrap();
    let each = numbers.iter().map(|n| {
        let country = polite_domain::ContactRef::parse(n).unwrap().main_region();
        card.estimate(&marketing, country.as_deref(), Timestamp::now(), 0).unwrap().amount
    });
    each.sum::<Money>().to_string()
}

/// `HH:MM` in `zone`, `minutes` from now.
fn clock(zone: &str, minutes: i64) -> String {
    let t = Timestamp::now().to_zoned(jiff::tz::TimeZone::get(zone).unwrap()) + minutes.minutes();
    t.strftime("%H:%M").to_string()
}

/// Step 10 of the story: Caio's order update went under Meta's new category and, without
/// marketing consent, not at all; promotions went to the Marketing Messages API, login codes to
/// `/messages`.
/// Step 12: the shop's file is read to its end — every customer of the cast accepted, the row
/// without its offer rejected — and each is planned at 10:00–10:30 in their zone (or, for a
/// number that may be in two zones, at the later one's 10:00).
fn each_customer_gets_the_morning_offer_at_their_10_00(morning: &demo::Morning) {
    let audience = &morning.view["audience"];
    let cast = demo::CAST.len();
    assert_eq!((&audience["accepted"], &audience["rejected"]), (&json!(cast), &json!(1)), "{}", morning.view);
    assert_eq!((&audience["read"], &audience["done"]), (&json!(cast + 2), &json!(true)), "a header and a line each");
    assert_eq!(morning.view["accepted"], cast, "{}", morning.view);
    assert_eq!(morning.messages.len(), demo::CAST.len(), "the report lists each recipient once");
    let mut at_ten = 0;
    for person in &demo::CAST {
        let digits = person.number.trim_start_matches('+');
        let m =
            morning.messages.iter().find(|m| m["to"] == digits).unwrap_or_else(|| panic!("{} missing", person.name));
        let at: Timestamp = m["not_before"].as_str().unwrap().parse().unwrap();
        let local = at.to_zoned(jiff::tz::TimeZone::get(person.zone).unwrap());
        assert!(matches!(local.hour(), 10 | 11) && local.minute() < 30, "{}: {local}", person.name);
        at_ten += usize::from(local.hour() == 10);
    }
    assert!(at_ten >= demo::CAST.len() - 1, "only a number that may be in two zones goes later");
    // The export: a header and each recipient once, as the report lists them.
    assert_eq!(morning.export["rows"], cast, "{}", morning.export);
    assert!(morning.exported[0].starts_with("message_id,to,state"), "{:?}", morning.exported);
    let mut exported: Vec<&str> = morning.exported[1..].iter().filter_map(|l| l.split(',').nth(1)).collect();
    let mut reported: Vec<&str> = morning.messages.iter().filter_map(|m| m["to"].as_str()).collect();
    exported.sort_unstable();
    reported.sort_unstable();
    assert_eq!(exported, reported, "the export lists each recipient once");
}

/// Step 13: the CRM's list is recorded once (a replay records nothing), its bad row rejected,
/// and the month-old sign-up opt-in of the customer who texted STOP does not decide. Step 14:
/// paused, then cancelled before anything went: every recipient's message cancelled.
fn an_old_imported_opt_in_never_overrides_a_newer_stop_and_a_cancelled_campaign_adds_up(
    story: &demo::Story,
    contract: &Contract,
) {
    let imported = &story.imported;
    contract.check(&Method::POST, "/v1/consents:import", 200, &imported.first);
    contract.check(&Method::GET, "/v1/consents/imports/{id}", 200, &imported.replay);
    contract.check(&Method::GET, "/v1/contacts/{contact}/consent-evidence", 200, &imported.evidence);
    contract.check(&Method::POST, "/v1/campaigns/{id}/pause", 200, &story.halted.paused);
    contract.check(&Method::POST, "/v1/campaigns", 202, &story.morning.created);
    contract.check(&Method::GET, "/v1/campaigns/{id}/exports/{export_id}", 200, &story.morning.export);
    contract.check(&Method::GET, "/v1/campaigns/{id}", 200, &story.morning.view);
    contract.check(&Method::POST, "/v1/campaigns/{id}/cancel", 200, &story.halted.cancelled);
    let cast = demo::CAST.len();
    assert_eq!((&imported.first["recorded"], &imported.first["already_recorded"]), (&json!(cast), &json!(0)));
    assert_eq!(imported.first["rejected"][0]["reason"], "invalid_contact", "{}", imported.first);
    let replay = &imported.replay;
    assert_eq!((&replay["recorded"], &replay["already_recorded"]), (&json!(0), &json!(cast)), "{replay}");
    assert_eq!((&replay["rejected"], &replay["done"]), (&json!(1), &json!(true)), "{replay}");
    let evidence = &imported.evidence;
    assert_eq!(evidence["person"]["wa_id"], story.stop_text.number.trim_start_matches('+'), "{evidence}");
    let marketing = &evidence["current"]["marketing"];
    assert_eq!((&marketing["status"], &marketing["source"]), (&json!("opted_out"), &json!("whatsapp_keyword")));
    let events = evidence["events"].as_array().unwrap();
    let sign_up = events.iter().find(|e| e["source"] == "crm_sync").unwrap_or_else(|| panic!("{evidence}"));
    assert_eq!((&sign_up["status"], &sign_up["decides"]), (&json!("opted_in"), &json!(false)));
    let deciding = events.iter().filter(|e| e["decides"] == true && e["category"] == "marketing").count();
    assert_eq!(deciding, 1, "{evidence}");

    let halted = &story.halted;
    assert_eq!(halted.paused["status"], "paused", "{}", halted.paused);
    let cast = demo::CAST.len();
    assert_eq!((&halted.cancelled["status"], &halted.cancelled["messages"]), (&json!("cancelled"), &json!(cast)));
    assert_eq!(halted.cancelled["counts"]["cancelled"], cast, "{}", halted.cancelled);
}

fn meta_decides_the_category_and_the_endpoint(story: &demo::Story, contract: &Contract) {
    let caio = &story.recategorised;
    contract.check(&Method::GET, "/v1/messages/{id}", 200, caio);
    assert_eq!(
        (
            caio["state"].as_str(),
            caio["reason"].as_str(),
            caio["category"].as_str(),
            caio["requested_category"].as_str()
        ),
        (Some("suppressed"), Some("no_consent"), Some("marketing"), Some("utility")),
        "{caio}"
    );
    // Promotions on the Marketing Messages API, the login codes on /messages.
    for (template, endpoint) in &story.endpoints {
        let expected = if template == "login_code" { "messages" } else { "marketing_messages" };
        assert_eq!(endpoint, expected, "{template}: {:?}", story.endpoints);
    }
    assert!(story.endpoints.iter().any(|(t, _)| t == "login_code"), "{:?}", story.endpoints);
}

async fn opt_in(client: &Client, number: &str) {
    let body = json!({"category": "marketing", "status": "opted_in", "source": "web_checkout",
        "evidence": "Ticked 'WhatsApp offers' at checkout", "occurred_at": "2026-01-05T10:00:00Z"});
    let path = format!("/v1/contacts/{number}/consent");
    client.api(Method::PUT, &path, Some(&body)).await.unwrap().expect(200, &path).unwrap();
}

async fn send(client: &Client, to: &str, category: &str) -> String {
    let body =
        json!({"to": to, "category": category, "template": {"name": format!("{category}_update"), "language": "en"}});
    let created =
        client.api(Method::POST, "/v1/messages", Some(&body)).await.unwrap().expect(202, "POST /v1/messages").unwrap();
    created["id"].as_str().unwrap().to_owned()
}

async fn settled(client: &Client, id: &str) -> Value {
    let path = format!("/v1/messages/{id}");
    eventually(&format!("message {id} to settle"), Duration::from_mins(1), || async {
        let m = client.get(&path).await?;
        let done = matches!(m["state"].as_str(), Some("read" | "failed" | "suppressed" | "scheduled"));
        Ok(done.then_some(m))
    })
    .await
    .unwrap()
}

/// Quiet hours in the recipient's own zone, whatever the hour: a contact whose quiet hours
/// (set through the API, in Tokyo time) started an hour ago gets nothing until they end,
/// except an authentication code; one whose quiet hours start in two hours gets it now.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_hours_hold_marketing_and_utility_in_the_recipients_own_zone_over_http() {
    // The deployment's own hours open all day: a contact's quiet hours narrow the hours of
    // their number's jurisdiction (never widen them), so only the contact's decide here,
    // whatever the hour the test runs at.
    let stack = start_open_all_day("quiet").await;
    let client = Client::new(stack.endpoints.clone()).unwrap();
    let (sleeper, reader) = ("+819011112222", "+5511911112222");
    for number in [sleeper, reader] {
        opt_in(&client, number).await;
    }
    let quiet = |zone: &str, start: i64, end: i64| json!({"timezone": zone, "quiet_hours": {"start": clock(zone, start), "end": clock(zone, end)}});
    let patch = |number: &str| format!("/v1/contacts/{number}");
    client
        .api(Method::PATCH, &patch(sleeper), Some(&quiet("Asia/Tokyo", -60, 120)))
        .await
        .unwrap()
        .expect(200, "PATCH")
        .unwrap();
    client
        .api(Method::PATCH, &patch(reader), Some(&quiet("America/Sao_Paulo", 120, 240)))
        .await
        .unwrap()
        .expect(200, "PATCH")
        .unwrap();
    let asked = Timestamp::now();

    let marketing = settled(&client, &send(&client, sleeper, "marketing").await).await;
    let utility = settled(&client, &send(&client, sleeper, "utility").await).await;
    let code = settled(&client, &send(&client, sleeper, "authentication").await).await;
    let daytime = settled(&client, &send(&client, reader, "marketing").await).await;

    let end_of_quiet = asked + SignedDuration::from_mins(120);
    for held in [&marketing, &utility] {
        assert_eq!(
            (held["state"].as_str(), held["reason"].as_str()),
            (Some("scheduled"), Some("quiet_hours")),
            "{held}"
        );
        let at: Timestamp = held["not_before"].as_str().unwrap().parse().unwrap();
        let early = end_of_quiet - SignedDuration::from_mins(1); // HH:MM drops the seconds
        assert!(
            at >= early && at <= end_of_quiet + SignedDuration::from_mins(11),
            "{at} vs the end of quiet hours {end_of_quiet}"
        );
    }
    assert_eq!(code["state"], "read", "authentication never waits: {code}");
    assert_eq!(daytime["state"], "read", "{daytime}");

    let accepted =
        client.sim(Method::GET, "/_sim/messages", None).await.unwrap().expect(200, "GET /_sim/messages").unwrap();
    let got: Vec<(String, String)> = accepted["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["to"].as_str().unwrap().to_owned(), m["template"].as_str().unwrap_or("").to_owned()))
        .collect();
    let digits = |n: &str| n.trim_start_matches('+').to_owned();
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>(),
        [(digits(sleeper), "authentication_update".to_owned()), (digits(reader), "marketing_update".to_owned())]
            .iter()
            .collect(),
        "only the code and the daytime promotion went to Meta"
    );
    stack.stop().await;
}

/// `openapi.yaml` at the router: every route the template declares answers as the contract
/// says, a wrong method 405 and an unknown path 404.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::too_many_lines, reason = "one walk through every route of the contract, in both contact forms")]
async fn every_route_of_the_contract_is_served_by_the_router() {
    let stack = start("routes").await;
    let client = Client::new(stack.endpoints.clone()).unwrap();
    let e = &stack.endpoints;
    let spec = Contract::load();
    let mut served: BTreeSet<(String, String)> = BTreeSet::new();
    let mut call = async |method: Method, template: &str, path: &str, body: Option<Value>, expected: u16| -> Value {
        let answer = client.api(method.clone(), path, body.as_ref()).await.unwrap();
        spec.check(&method, template, answer.status, &answer.body);
        served.insert((method.to_string(), template.to_owned()));
        answer.expect(expected, &format!("{method} {path}")).unwrap()
    };

    // Meta's side: the handshake and a signed notification.
    let challenge = format!("/webhook?hub.mode=subscribe&hub.verify_token={}&hub.challenge=1158201444", e.verify_token);
    assert_eq!(call(Method::GET, "/webhook", &challenge, None, 200).await, json!(1_158_201_444));
    call(Method::GET, "/webhook", "/webhook?hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", None, 403)
        .await;
    let body = br#"{"object":"whatsapp_business_account","entry":[]}"#;
    let signed = post_signed(e, body).await;
    assert_eq!(signed.status(), 200);
    spec.check(&Method::POST, "/webhook", 200, &signed.json().await.unwrap());
    call(Method::POST, "/webhook", "/webhook", Some(json!({"object": "whatsapp_business_account"})), 401).await;

    // Contacts.
    let wa = "+351912223344";
    let consent = json!({"category": "marketing", "status": "opted_in", "source": "crm_import", "evidence": "form 7", "occurred_at": "2026-11-01T09:00:00Z"});
    let put =
        call(Method::PUT, "/v1/contacts/{contact}/consent", &format!("/v1/contacts/{wa}/consent"), Some(consent), 200)
            .await;
    assert_eq!(put["wa_id"], "351912223344");
    let patch = json!({"timezone": "Europe/Lisbon", "quiet_hours": {"start": "22:00", "end": "07:30"}});
    call(Method::PATCH, "/v1/contacts/{contact}", &format!("/v1/contacts/{wa}"), Some(patch), 200).await;
    let contact = call(Method::GET, "/v1/contacts/{contact}", &format!("/v1/contacts/{wa}"), None, 200).await;
    assert_eq!(contact["timezone"], "Europe/Lisbon", "{contact}");
    let history = call(
        Method::GET,
        "/v1/contacts/{contact}/consent-history",
        &format!("/v1/contacts/{wa}/consent-history"),
        None,
        200,
    )
    .await;
    assert_eq!(history["events"][0]["source"], "crm_import");
    let import = json!({"records": [
        {"contact": wa, "category": "marketing", "status": "opted_out", "source": "crm_import", "evidence": "unsubscribed by email", "occurred_at": "2026-11-02T09:00:00Z"},
        {"contact": wa, "category": "marketing", "status": "opted_in", "source": "crm_import", "occurred_at": "2026-10-01T09:00:00Z"},
        {"contact": "+1", "category": "marketing", "status": "opted_in", "source": "crm_import", "occurred_at": "2026-10-01T09:00:00Z"}]});
    let imported = call(Method::POST, "/v1/consents:import", "/v1/consents:import", Some(import), 200).await;
    assert_eq!((&imported["recorded"], &imported["rejected"][0]["index"]), (&json!(2), &json!(2)), "{imported}");
    let evidence_path = format!("/v1/contacts/{wa}/consent-evidence");
    let evidence = call(Method::GET, "/v1/contacts/{contact}/consent-evidence", &evidence_path, None, 200).await;
    assert_eq!(evidence["current"]["marketing"]["evidence"], "unsubscribed by email", "{evidence}");
    call(Method::DELETE, "/v1/contacts/{contact}", &format!("/v1/contacts/{wa}"), None, 204).await;
    call(Method::GET, "/v1/contacts/{contact}", "/v1/contacts/+351910000001", None, 404).await;
    // Every contacts route by business-scoped user id too.
    let user = "PT.13491208655302741918";
    let consent = json!({"category": "utility", "status": "opted_in", "source": "crm_import", "occurred_at": "2026-11-01T09:00:00Z"});
    let put = call(
        Method::PUT,
        "/v1/contacts/{contact}/consent",
        &format!("/v1/contacts/{user}/consent"),
        Some(consent),
        200,
    )
    .await;
    assert_eq!((put["id"].as_str(), put["user_id"].as_str(), put.get("wa_id")), (Some(user), Some(user), None));
    let patch = json!({"timezone": "Atlantic/Azores"});
    call(Method::PATCH, "/v1/contacts/{contact}", &format!("/v1/contacts/{user}"), Some(patch), 200).await;
    let shown = call(Method::GET, "/v1/contacts/{contact}", &format!("/v1/contacts/{user}"), None, 200).await;
    assert_eq!(shown["timezone"], "Atlantic/Azores", "{shown}");
    let history_path = format!("/v1/contacts/{user}/consent-history");
    let history = call(Method::GET, "/v1/contacts/{contact}/consent-history", &history_path, None, 200).await;
    assert_eq!(history["events"].as_array().map(Vec::len), Some(1), "{history}");
    let to_user = json!({"to": user, "category": "utility", "send_at": (Timestamp::now() + SignedDuration::from_hours(24)).to_string(),
        "template": {"name": "order_shipped", "language": "en_US"}});
    let created = call(Method::POST, "/v1/messages", "/v1/messages", Some(to_user), 202).await;
    let id = created["id"].as_str().unwrap();
    let shown = call(Method::GET, "/v1/messages/{id}", &format!("/v1/messages/{id}"), None, 200).await;
    assert_eq!(shown["to"], user, "{shown}");
    call(Method::DELETE, "/v1/contacts/{contact}", &format!("/v1/contacts/{user}"), None, 204).await;
    call(Method::GET, "/v1/contacts/{contact}", &format!("/v1/contacts/{user}"), None, 404).await;
    let bad = call(Method::GET, "/v1/contacts/{contact}", "/v1/contacts/PT.not-an-id", None, 422).await;
    assert!(bad["error"]["message"].as_str().unwrap().contains("business-scoped user id"), "{bad}");

    // Messages: one for tomorrow, looked at and cancelled.
    let tomorrow = Timestamp::now() + SignedDuration::from_hours(24);
    let message = json!({"to": "+12125550142", "category": "utility", "send_at": tomorrow.to_string(),
        "template": {"name": "order_shipped", "language": "en_US"}});
    let created = call(Method::POST, "/v1/messages", "/v1/messages", Some(message), 202).await;
    assert_eq!(created["state"], "scheduled");
    let id = created["id"].as_str().unwrap();
    let shown = call(Method::GET, "/v1/messages/{id}", &format!("/v1/messages/{id}"), None, 200).await;
    assert_eq!(shown["to"], "12125550142");
    let cancelled = call(Method::DELETE, "/v1/messages/{id}", &format!("/v1/messages/{id}"), None, 200).await;
    assert_eq!(cancelled["state"], "cancelled");
    let bad = client.api(Method::POST, "/v1/messages", None).await.unwrap();
    assert_eq!((bad.status, &bad.body["error"]["code"]), (400, &json!("invalid_json")), "{:?}", bad.body);
    spec.check(&Method::POST, "/v1/messages", bad.status, &bad.body);
    let invalid = json!({"to": "+12125550142", "category": "gossip"});
    call(Method::POST, "/v1/messages", "/v1/messages", Some(invalid), 422).await;
    call(Method::GET, "/v1/messages/{id}", "/v1/messages/msg_00000000000000000000000000000000", None, 404).await;

    // Campaigns.
    let campaign = json!({"name": "Restock", "category": "utility", "send_at": tomorrow.to_string(),
        "template": {"name": "back_in_stock", "language": "en"}, "recipients": ["+12125550143", "+12125550144"]});
    let created = call(Method::POST, "/v1/campaigns", "/v1/campaigns", Some(campaign), 202).await;
    let cid = created["id"].as_str().unwrap();
    let view = call(Method::GET, "/v1/campaigns/{id}", &format!("/v1/campaigns/{cid}"), None, 200).await;
    assert_eq!(view["accepted"], 2, "{view}");
    call(Method::GET, "/v1/campaigns/{id}", "/v1/campaigns/cmp_unknown", None, 404).await;
    let report = format!("/v1/campaigns/{cid}/messages?limit=1");
    let page = call(Method::GET, "/v1/campaigns/{id}/messages", &report, None, 200).await;
    assert_eq!(page["messages"].as_array().map(Vec::len), Some(1), "{page}");
    assert!(page["next_cursor"].is_string(), "two recipients, one a page: {page}");
    call(Method::GET, "/v1/campaigns/{id}/messages", &format!("/v1/campaigns/{cid}/messages?state=lost"), None, 422)
        .await;
    let paused = call(Method::POST, "/v1/campaigns/{id}/pause", &format!("/v1/campaigns/{cid}/pause"), None, 200).await;
    assert_eq!(paused["status"], "paused", "{paused}");
    let resumed =
        call(Method::POST, "/v1/campaigns/{id}/resume", &format!("/v1/campaigns/{cid}/resume"), None, 200).await;
    assert_eq!(resumed["status"], "active", "{resumed}");
    let cancelled =
        call(Method::POST, "/v1/campaigns/{id}/cancel", &format!("/v1/campaigns/{cid}/cancel"), None, 200).await;
    assert_eq!(
        (&cancelled["status"], &cancelled["counts"]["cancelled"]),
        (&json!("cancelled"), &json!(2)),
        "{cancelled}"
    );
    let refused =
        call(Method::POST, "/v1/campaigns/{id}/pause", &format!("/v1/campaigns/{cid}/pause"), None, 409).await;
    assert_eq!(refused["error"]["code"], "campaign_cancelled", "{refused}");
    call(Method::POST, "/v1/campaigns/{id}/pause", "/v1/campaigns/cmp_unknown/pause", None, 404).await;
    let file = client.upload("routes-consent.jsonl", b"{}\n".to_vec()).await.unwrap();
    let import = call(Method::POST, "/v1/consents:import", "/v1/consents:import", Some(json!({"s3": file})), 202).await;
    let import_path = format!("/v1/consents/imports/{}", import["id"].as_str().unwrap());
    call(Method::GET, "/v1/consents/imports/{id}", &import_path, None, 200).await;
    call(Method::GET, "/v1/consents/imports/{id}", "/v1/consents/imports/imp_unknown", None, 404).await;
    let exports = format!("/v1/campaigns/{cid}/exports");
    let export =
        call(Method::POST, "/v1/campaigns/{id}/exports", &exports, Some(json!({"format": "jsonl"})), 202).await;
    assert_eq!((&export["format"], &export["done"]), (&json!("jsonl"), &json!(false)), "{export}");
    let one = format!("{exports}/{}", export["id"].as_str().unwrap());
    let shown = call(Method::GET, "/v1/campaigns/{id}/exports/{export_id}", &one, None, 200).await;
    assert_eq!(shown["id"], export["id"], "{shown}");
    call(Method::POST, "/v1/campaigns/{id}/exports", &exports, Some(json!({"format": "xlsx"})), 422).await;
    call(Method::POST, "/v1/campaigns/{id}/exports", "/v1/campaigns/cmp_unknown/exports", None, 404).await;
    call(Method::GET, "/v1/campaigns/{id}/exports/{export_id}", &format!("{exports}/exp_unknown"), None, 404).await;

    // What the router itself answers.
    let wrong = client.api(Method::DELETE, &format!("/v1/campaigns/{cid}"), None).await.unwrap();
    assert_eq!((wrong.status, &wrong.body["error"]["code"]), (405, &json!("method_not_allowed")));
    let unknown = client.api(Method::GET, "/v2/nothing", None).await.unwrap();
    assert_eq!(unknown.status, 404);

    let declared: BTreeSet<(String, String)> = stack.functions.iter().flat_map(|f| f.routes.iter().cloned()).collect();
    assert_eq!(served, declared, "every route the template declares, exercised here");
    stack.stop().await;
}

/// Posts `body` to the stack's webhook signed with its app secret, as Meta does.
async fn post_signed(e: &polite_devstack::Endpoints, body: &[u8]) -> reqwest::Response {
    let signature = polite_domain::webhook::sign(e.app_secret.as_bytes(), body);
    reqwest::Client::new()
        .post(format!("{}/webhook", e.api))
        .header("x-hub-signature-256", signature)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .unwrap()
}

/// Waits until the contact `contact` shows marketing `status`, and returns it.
async fn marketing_becomes(client: &Client, contact: &str, status: &str) -> Value {
    let path = format!("/v1/contacts/{contact}");
    eventually(&format!("{contact}'s marketing consent to be {status}"), Duration::from_mins(1), || async {
        let answer = client.api(Method::GET, &path, None).await?;
        let shown = answer.status == 200 && answer.body["consent"]["marketing"]["status"] == status;
        Ok(shown.then_some(answer.body))
    })
    .await
    .unwrap()
}

/// Issue 19 end to end: people known only by a business-scoped user id. A username user (the
/// simulator withholds their phone) opts in through the API by user id, gets a marketing
/// template sent to that id (`recipient`), replies STOP — and the next sends, by user id and by
/// phone once a webhook links it, are suppressed. The same for WhatsApp's own stop without
/// `wa_id`, and a `user_id_update` carries the opt-out to the new id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_username_users_stop_is_honoured_by_any_of_their_identities_over_http() {
    // Sending hours open all day: the story must not depend on the hour in Brazil.
    let stack = start_open_all_day("bsuid").await;
    let client = Client::new(stack.endpoints.clone()).unwrap();
    let spec = Contract::load();
    let user_of = |phone: &str| whatsapp_sim::SimUser::of(&polite_domain::WaId::parse(phone).unwrap());

    // Bia adopted a username: WhatsApp shows the business her user id, never her number.
    let bia_phone = "+5511987650077";
    let bia = user_of(bia_phone).user_id;
    // She writes first: WhatsApp shows a business the user ids of the people who wrote to it
    // (the simulator refuses a `recipient` it never showed, as Meta does, with 100).
    let hello = json!({"from": bia_phone, "name": "Bia", "text": "Oi! Quero receber ofertas"});
    client.sim(Method::POST, "/_sim/inbound", Some(&hello)).await.unwrap().expect(200, "hello").unwrap();
    opt_in(&client, &bia).await;
    let shown = client.get(&format!("/v1/contacts/{bia}")).await.unwrap();
    spec.check(&Method::GET, "/v1/contacts/{contact}", 200, &shown);
    assert_eq!((shown["user_id"].as_str(), shown.get("wa_id")), (Some(bia.as_str()), None), "{shown}");
    let first = settled(&client, &send(&client, &bia, "marketing").await).await;
    spec.check(&Method::GET, "/v1/messages/{id}", 200, &first);
    assert_eq!((first["state"].as_str(), first["to"].as_str()), (Some("read"), Some(bia.as_str())), "{first}");

    // She replies STOP: `from` is empty, only `from_user_id` names her.
    let stop = json!({"from": bia_phone, "name": "Bia", "text": "STOP"});
    client.sim(Method::POST, "/_sim/inbound", Some(&stop)).await.unwrap().expect(200, "STOP").unwrap();
    marketing_becomes(&client, &bia, "opted_out").await;
    let after = settled(&client, &send(&client, &bia, "marketing").await).await;
    assert_eq!((after["state"].as_str(), after["reason"].as_str()), (Some("suppressed"), Some("opted_out")), "{after}");

    // A later webhook shows her number with her user id: the number is hers, opted out too.
    let e = &stack.endpoints;
    let linked = format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"WABA","changes":[{{"field":"messages","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550000000","phone_number_id":"PNID"}},"contacts":[{{"profile":{{"name":"Bia"}},"wa_id":"{}","user_id":"{bia}"}}],"messages":[{{"from":"{}","from_user_id":"{bia}","id":"wamid.LINK1","timestamp":"{}","type":"text","text":{{"body":"thanks"}}}}]}}}}]}}]}}"#,
        bia_phone.trim_start_matches('+'),
        bia_phone.trim_start_matches('+'),
        Timestamp::now().as_second()
    );
    assert_eq!(post_signed(e, linked.as_bytes()).await.status(), 200);
    let by_phone = marketing_becomes(&client, bia_phone.trim_start_matches('+'), "opted_out").await;
    assert_eq!(by_phone["user_id"].as_str(), Some(bia.as_str()), "{by_phone}");
    let to_phone = settled(&client, &send(&client, bia_phone, "marketing").await).await;
    assert_eq!(to_phone["reason"], "opted_out", "{to_phone}");

    // Caio stops in WhatsApp's own menu: `user_preferences` without `wa_id`.
    let caio_phone = "+5511987660077";
    let caio = user_of(caio_phone).user_id;
    opt_in(&client, &caio).await;
    let pref = json!({"from": caio_phone, "preference": "stop"});
    client.sim(Method::POST, "/_sim/inbound", Some(&pref)).await.unwrap().expect(200, "stop").unwrap();
    marketing_becomes(&client, &caio, "opted_out").await;
    assert_eq!(settled(&client, &send(&client, &caio, "marketing").await).await["reason"], "opted_out");

    // WhatsApp gives Caio a new user id: his opt-out moves with him.
    let change = json!({"from": caio_phone, "change": "user_id"});
    let changed =
        client.sim(Method::POST, "/_sim/inbound", Some(&change)).await.unwrap().expect(200, "change").unwrap();
    let new_id = changed["user_id"].as_str().unwrap().to_owned();
    assert_ne!(new_id, caio);
    let moved = marketing_becomes(&client, &new_id, "opted_out").await;
    assert_eq!(moved["user_id"].as_str(), Some(new_id.as_str()), "{moved}");
    assert_eq!(settled(&client, &send(&client, &new_id, "marketing").await).await["reason"], "opted_out");

    // Issue 20: Meta's AI agent holds Dani's chat, so her STOP comes on field `standby`. A STOP
    // there is a STOP.
    let dani = "+5511987661111";
    opt_in(&client, dani).await;
    let stop = json!({"from": dani, "name": "Dani", "text": "STOP", "field": "standby"});
    client.sim(Method::POST, "/_sim/inbound", Some(&stop)).await.unwrap().expect(200, "standby STOP").unwrap();
    marketing_becomes(&client, dani.trim_start_matches('+'), "opted_out").await;
    assert_eq!(settled(&client, &send(&client, dani, "marketing").await).await["reason"], "opted_out");

    // A campaign takes either form; its messages keep the reference they were given.
    let campaign = json!({"name": "Both forms", "category": "marketing",
        "template": {"name": "marketing_update", "language": "en"}, "recipients": [bia, "+5511987650088", "XX.bad!"]});
    let created =
        client.api(Method::POST, "/v1/campaigns", Some(&campaign)).await.unwrap().expect(202, "campaign").unwrap();
    spec.check(&Method::POST, "/v1/campaigns", 202, &created);
    assert_eq!(created["accepted"], 2, "{created}");
    assert_eq!(created["rejected"][0]["to"], "XX.bad!", "{created}");
    // Not one message to Bia or Caio after their STOPs.
    let sent = client.sim(Method::GET, "/_sim/messages", None).await.unwrap().expect(200, "sim").unwrap();
    let templates_to_them: Vec<&Value> = sent["messages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["type"] == "template" && ["5511987650077", "5511987660077"].contains(&m["to"].as_str().unwrap_or(""))
        })
        .collect();
    assert_eq!(templates_to_them.len(), 1, "only Bia's first promotion went: {templates_to_them:?}");
    assert_eq!(templates_to_them[0]["recipient"].as_str(), Some(bia.as_str()), "sent by `recipient`");
    stack.stop().await;
}

#[test]
#[should_panic(expected = "breaks openapi.yaml")]
fn the_contract_check_refuses_an_answer_the_spec_does_not_allow() {
    // A message view whose state is not a state and whose history is missing.
    let wrong = json!({"id": "msg_0123456789abcdef0123456789abcdef", "to": "16505551234", "category": "marketing",
        "state": "teleported", "created_at": "2026-11-23T10:00:00Z"});
    Contract::load().check(&Method::GET, "/v1/messages/{id}", 200, &wrong);
}

/// Issue 20 end to end: Meta's word on a template governs its messages. A utility template Meta
/// re-categorises as MARKETING (a `template_category_update` webhook from the simulator) makes
/// a message queued for a person with only utility consent `suppressed`; a template Meta paused
/// holds its message (`template_paused`) until Meta approves it again, and then it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_meta_recategorises_or_pauses_govern_their_queued_messages_over_http() {
    let workspace = StackConfig::workspace_root().canonicalize().unwrap();
    let mut config = StackConfig::demo(&workspace);
    config.ports = Ports::free().unwrap();
    config.state_dir = std::env::temp_dir().join(format!("polite-e2e-templates-{}", std::process::id()));
    let policy = r#"{"default_hours": {"allowed": [{"days": "daily", "start": "00:00", "end": "00:00"}]}, "paused_template_recheck_seconds": 5}"#;
    config.function_env.push(("SEND_POLICY".into(), policy.into()));
    config.function_env.push(("MARKETING_MESSAGES_API".into(), "enabled".into()));
    let stack = Stack::start(config).await.unwrap_or_else(|e| panic!("the stack did not start: {e:#}"));
    let client = Client::new(stack.endpoints.clone()).unwrap();
    let spec = Contract::load();
    let template_change = |change: Value| {
        let client = &client;
        async move {
            client
                .sim(Method::POST, "/_sim/templates", Some(&change))
                .await
                .unwrap()
                .expect(200, "template change")
                .unwrap()
        }
    };

    // Ana agreed to order updates only. Her order update is due in 40 s.
    let ana = "+5511987662222";
    let utility_only = json!({"category": "utility", "status": "opted_in", "source": "checkout",
        "evidence": "Order updates on WhatsApp: yes", "occurred_at": "2026-01-05T10:00:00Z"});
    let path = format!("/v1/contacts/{ana}/consent");
    client.api(Method::PUT, &path, Some(&utility_only)).await.unwrap().expect(200, &path).unwrap();
    let send_at = (Timestamp::now() + SignedDuration::from_secs(40)).to_string();
    let body = json!({"to": ana, "category": "utility", "send_at": send_at,
        "template": {"name": "order_update", "language": "en"}});
    let created =
        client.api(Method::POST, "/v1/messages", Some(&body)).await.unwrap().expect(202, "order update").unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    // Meta completes a re-categorisation of order_update to MARKETING meanwhile.
    template_change(json!({"name": "order_update", "language": "en", "category": "MARKETING"})).await;
    let path = format!("/v1/messages/{id}");
    let suppressed = eventually("the order update to be decided when due", Duration::from_mins(2), || async {
        let m = client.get(&path).await?;
        Ok(matches!(m["state"].as_str(), Some("read" | "failed" | "suppressed")).then_some(m))
    })
    .await
    .unwrap();
    spec.check(&Method::GET, "/v1/messages/{id}", 200, &suppressed);
    assert_eq!(
        (suppressed["state"].as_str(), suppressed["reason"].as_str()),
        (Some("suppressed"), Some("no_consent")),
        "{suppressed}"
    );
    assert_eq!(
        (suppressed["category"].as_str(), suppressed["requested_category"].as_str()),
        (Some("marketing"), Some("utility")),
        "{suppressed}"
    );

    // Meta pauses new_collection; Eva's promotion waits instead of failing on 132015.
    let eva = "+5511987663333";
    opt_in(&client, eva).await;
    template_change(json!({"name": "new_collection", "language": "en", "status": "PAUSED", "reason": "LOW_QUALITY"}))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let body = json!({"to": eva, "category": "marketing", "template": {"name": "new_collection", "language": "en"}});
    let created =
        client.api(Method::POST, "/v1/messages", Some(&body)).await.unwrap().expect(202, "promotion").unwrap();
    let promo = created["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/messages/{promo}");
    let held = eventually("the promotion to wait for its template", Duration::from_mins(1), || async {
        let m = client.get(&path).await?;
        Ok((m["reason"] == "template_paused").then_some(m))
    })
    .await
    .unwrap();
    spec.check(&Method::GET, "/v1/messages/{id}", 200, &held);
    assert_eq!(held["state"], "deferred", "{held}");
    template_change(json!({"name": "new_collection", "language": "en", "status": "APPROVED"})).await;
    let sent = settled(&client, &promo).await;
    assert_eq!(sent["state"], "read", "{sent}");

    // With the Marketing Messages API enabled, marketing goes to /marketing_messages and a
    // utility template to /messages.
    let body = json!({"to": eva, "category": "utility", "template": {"name": "order_shipped", "language": "en_US"}});
    let created = client.api(Method::POST, "/v1/messages", Some(&body)).await.unwrap().expect(202, "update").unwrap();
    let update = created["id"].as_str().unwrap().to_owned();
    assert_eq!(settled(&client, &update).await["state"], "read");
    let sim = client.sim(Method::GET, "/_sim/messages", None).await.unwrap().expect(200, "sim").unwrap();
    let endpoints: Vec<(&str, &str, &str)> = sim["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let field = |k: &str| m[k].as_str().unwrap_or_default();
            (field("to"), field("template"), field("endpoint"))
        })
        .collect();
    assert_eq!(
        endpoints,
        [("5511987663333", "new_collection", "marketing_messages"), ("5511987663333", "order_shipped", "messages")],
        "nothing to Ana, nothing burnt on a paused template, each on its endpoint"
    );
    stack.stop().await;
}

/// The events on the dev stack's bus (`GET /_dev/events`), newest first, of `detail_type`.
async fn bus_events(client: &Client, detail_type: &str) -> Vec<Value> {
    client.events(detail_type).await.unwrap()
}

/// Waits until at least `n` events of `detail_type` matching `keep` are on the bus, waits a
/// moment more for any duplicate, and returns them all.
async fn told(client: &Client, detail_type: &str, n: usize, keep: impl Fn(&Value) -> bool) -> Vec<Value> {
    let what = format!("{n} {detail_type} events");
    eventually(&what, Duration::from_mins(2), || async {
        let found: Vec<Value> = bus_events(client, detail_type).await.into_iter().filter(|v| keep(v)).collect();
        Ok((found.len() >= n).then_some(()))
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(3)).await;
    bus_events(client, detail_type).await.into_iter().filter(|v| keep(v)).collect()
}

/// Issue 21 end to end: the business hears what happened, once, on polite's bus — customers'
/// messages of every kind (a retried webhook adds none), a STOP, a campaign's every real
/// transition and its completion, an erasure without an identity in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_business_hears_every_fact_once_on_the_event_bus_over_http() {
    let stack = start_open_all_day("events").await;
    let client = Client::new(stack.endpoints.clone()).unwrap();
    let e = &stack.endpoints;

    // Ana writes, taps, sends a photo, and writes while Meta's AI agent holds the chat; Meta
    // delivers every webhook twice.
    let ana = "5511987650101";
    let now = Timestamp::now().as_second();
    let element = |id: &str, rest: &str| format!(r#"{{"from":"{ana}","id":"{id}","timestamp":"{now}",{rest}}}"#);
    let sent = [
        ("messages", element("wamid.EV1", r#""type":"text","text":{"body":"Is the blue one back?"}"#)),
        ("messages", element("wamid.EV2", r#""type":"button","button":{"payload":"MORE","text":"Tell me more"}"#)),
        (
            "messages",
            element(
                "wamid.EV3",
                r#""type":"image","image":{"id":"1479537139650973","mime_type":"image/jpeg","sha256":"abc","caption":"this one"}"#,
            ),
        ),
        ("standby", element("wamid.EV4", r#""type":"text","text":{"body":"hello?"}"#)),
    ];
    for (field, element) in &sent {
        let body = format!(
            r#"{{"object":"whatsapp_business_account","entry":[{{"id":"WABA","changes":[{{"field":"{field}","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550000000","phone_number_id":"{}"}},"contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ana}"}}],"messages":[{element}]}}}}]}}]}}"#,
            e.phone_number_id
        );
        for _ in 0..2 {
            assert_eq!(post_signed(e, body.as_bytes()).await.status(), 200);
        }
    }
    let is_ana = |v: &Value| v["detail"]["contact"]["wa_id"] == ana;
    let heard = told(&client, "inbound.message", 4, is_ana).await;
    assert_eq!(heard.len(), 4, "one event per message, none for Meta's retries: {heard:#?}");
    for (field, element) in &sent {
        let element: Value = serde_json::from_str(element).unwrap();
        let event = heard.iter().find(|v| v["detail"]["message"]["id"] == element["id"]).unwrap();
        assert_eq!(event["detail"]["message"], element, "{field}: the element as Meta sent it");
        assert_eq!(event["detail"]["type"], element["type"]);
        assert_eq!((event["source"].as_str(), event["detail"]["version"].as_u64()), (Some("polite"), Some(1)));
        assert!(event["detail"]["id"].as_str().unwrap().starts_with("evt_") && event["id"].is_string(), "{event}");
        assert!(event["detail"]["window_open_until"].is_string(), "{event}");
        assert_eq!(event["detail"]["phone_number_id"].as_str(), Some(e.phone_number_id.as_str()));
    }

    support_answers_in_context(&client, ana).await;

    // Her STOP: her consent changed, told once per category.
    let stop = json!({"from": format!("+{ana}"), "name": "Ana", "text": "STOP"});
    client.sim(Method::POST, "/_sim/inbound", Some(&stop)).await.unwrap().expect(200, "STOP").unwrap();
    let changes = told(&client, "consent.changed", 2, is_ana).await;
    let mut told_changes: Vec<(&str, &str, &str)> = changes
        .iter()
        .map(|v| {
            let d = &v["detail"];
            (d["category"].as_str().unwrap(), d["status"].as_str().unwrap(), d["source"].as_str().unwrap())
        })
        .collect();
    told_changes.sort_unstable();
    assert_eq!(
        told_changes,
        [("marketing", "opted_out", "whatsapp_keyword"), ("utility", "opted_out", "whatsapp_keyword")]
    );

    a_campaign_is_told_move_by_move_and_completed_once(&client).await;

    // Erasure: told by keyed hashes, no identity in clear.
    client.api(Method::DELETE, &format!("/v1/contacts/+{ana}"), None).await.unwrap().expect(204, "erase").unwrap();
    let erased = told(&client, "contact.erased", 1, |_| true).await;
    assert_eq!(erased.len(), 1, "{erased:#?}");
    let text = erased[0].to_string();
    assert!(!text.contains("987650101") && !text.contains("EV1"), "an identity in clear: {text}");
    assert!(!erased[0]["detail"]["contact"]["hashes"].as_array().unwrap().is_empty(), "{text}");
    stack.stop().await;
}

/// A campaign to three readers: every real move told once (the simulator duplicates and
/// reverses statuses), its completion once.
async fn a_campaign_is_told_move_by_move_and_completed_once(client: &Client) {
    let readers = ["+5511987650111", "+5511987650112", "+5511987650113"];
    for r in readers {
        opt_in(client, r).await;
    }
    let campaign = json!({"name": "Events", "category": "marketing",
        "template": {"name": "marketing_update", "language": "en"}, "recipients": readers});
    let created =
        client.api(Method::POST, "/v1/campaigns", Some(&campaign)).await.unwrap().expect(202, "campaign").unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let of_campaign = |v: &Value| v["detail"]["campaign_id"] == id.as_str();
    let completed = told(client, "campaign.completed", 1, of_campaign).await;
    assert_eq!(completed.len(), 1, "{completed:#?}");
    let counts = completed[0]["detail"]["counts"].as_object().unwrap();
    assert_eq!(counts.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 3, "{counts:?}");
    assert!(counts.keys().all(|s| ["sent", "delivered", "read"].contains(&s.as_str())), "{counts:?}");
    let path = format!("/v1/campaigns/{id}");
    eventually("every reader to read", Duration::from_mins(1), || async {
        let view = client.get(&path).await?;
        Ok((view["counts"]["read"] == 3).then_some(()))
    })
    .await
    .unwrap();
    let moves = told(client, "message.state_changed", 3, |v| of_campaign(v) && v["detail"]["state"] == "read").await;
    let all = bus_events(client, "message.state_changed").await;
    let ours: Vec<&Value> = all.iter().filter(|v| of_campaign(v)).collect();
    let pairs: BTreeSet<(String, String)> = ours
        .iter()
        .map(|v| {
            (v["detail"]["message_id"].as_str().unwrap().to_owned(), v["detail"]["state"].as_str().unwrap().to_owned())
        })
        .collect();
    assert_eq!(pairs.len(), ours.len(), "no move told twice: {ours:#?}");
    assert_eq!(moves.len(), 3, "each message read once: {moves:#?}");
    for v in &ours {
        let history =
            client.get(&format!("/v1/messages/{}", v["detail"]["message_id"].as_str().unwrap())).await.unwrap();
        let states: Vec<&str> =
            history["history"].as_array().unwrap().iter().filter_map(|h| h["state"].as_str()).collect();
        assert!(
            states.contains(&v["detail"]["state"].as_str().unwrap()),
            "told a state it never reached: {v} {history}"
        );
    }
}

/// A support tool answers Ana's messages through polite: a text and a photo in context, a
/// reaction on her photo — and someone whose window is closed gets nothing (422).
async fn support_answers_in_context(client: &Client, ana: &str) {
    let to = format!("+{ana}");
    let answers = [
        json!({"to": to, "category": "service", "text": "Yes! Size M is back.", "reply_to": "wamid.EV1"}),
        json!({"to": to, "category": "service", "reply_to": "wamid.EV1",
            "media": {"type": "image", "link": "https://shop.example/blue-m.jpg", "caption": "The blue one, M"}}),
        json!({"to": to, "category": "service", "reaction": {"emoji": "😍"}, "reply_to": "wamid.EV3"}),
        json!({"to": to, "category": "service", "reply_to": "wamid.EV2", "interactive": {"type": "button",
            "body": {"text": "Shall we hold one for you?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "hold", "title": "Yes, hold it"}}]}}}),
    ];
    for answer in &answers {
        let created =
            client.api(Method::POST, "/v1/messages", Some(answer)).await.unwrap().expect(202, "an answer").unwrap();
        let id = created["id"].as_str().unwrap();
        let m = settled(client, id).await;
        assert_eq!(m["state"], "read", "{answer} → {m}");
    }
    let log = client.sim(Method::GET, "/_sim/messages", None).await.unwrap().expect(200, "sim").unwrap();
    let to_ana: Vec<&Value> = log["messages"].as_array().unwrap().iter().filter(|m| m["to"] == ana).collect();
    let context = |kind: &str| {
        let m = to_ana.iter().find(|m| m["type"] == kind).unwrap_or_else(|| panic!("no {kind} to Ana: {to_ana:#?}"));
        m["request"]["context"]["message_id"].as_str().map(str::to_owned)
    };
    assert_eq!(context("text").as_deref(), Some("wamid.EV1"), "the answer quotes her question");
    assert_eq!(context("image").as_deref(), Some("wamid.EV1"));
    assert_eq!(context("interactive").as_deref(), Some("wamid.EV2"));
    let reaction = to_ana.iter().find(|m| m["type"] == "reaction").unwrap();
    assert_eq!(reaction["request"]["reaction"], json!({"message_id": "wamid.EV3", "emoji": "😍"}));

    // Someone who never wrote: no window, no free-form answer.
    let closed = json!({"to": "+5511987650199", "category": "service", "text": "Hello?", "reply_to": "wamid.EV1"});
    let refused = client.api(Method::POST, "/v1/messages", Some(&closed)).await.unwrap();
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    let message = refused.body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("reply_to:") && message.contains("never written"), "{message}");
}

/// The demo's events: the STOP as a message and a consent change, and the win-back campaign to
/// the three who said no, completed with every message suppressed.
fn the_business_heard_the_story(heard: &demo::Heard) {
    assert_eq!(heard.stop_message["detail"]["type"], "text", "{}", heard.stop_message);
    let sources: Vec<&str> = heard.opt_outs.iter().map(|e| e["detail"]["source"].as_str().unwrap()).collect();
    assert_eq!(sources, ["whatsapp_keyword", "whatsapp_button", "send_failure_131050"]);
    assert_eq!(heard.completed["detail"]["counts"], json!({"suppressed": 3}), "{}", heard.completed);
}
