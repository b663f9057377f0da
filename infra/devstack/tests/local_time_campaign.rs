//! A marketer's campaign end to end on the dev stack, on a clock the test holds: customers in
//! seven time zones (350 by default, `POLITE_E2E_PEOPLE`) imported with their consent from a
//! file on S3 (a tenth of them opted out since, some never asked), a personal morning offer to an audience
//! file on S3 at 10:00 where each of them is. The test moves the stack's clock through each
//! zone's morning and checks the simulator's log — what reached Meta, and when — against what
//! polite promised; the marketer pauses the campaign before one morning and resumes it half-way
//! (nothing goes while paused, everything after), and cancels it half-way through the last
//! (who was due was sent once, everyone else is cancelled, the counts add up). Then the
//! per-recipient report is exported to S3 and read back.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::time::Duration;

use jiff::tz::TimeZone;
use jiff::{SignedDuration, Timestamp};
use polite_devstack::client::{Client, eventually};
use polite_devstack::{Ports, Stack, StackConfig};
use reqwest::Method;
use serde_json::{Value, json};

/// How many customers (`POLITE_E2E_PEOPLE`, default 350: 50 a zone; `make campaign-10k` runs
/// 10 000 in about 20 minutes: the import and the file's reading under 2 minutes each, then 2 a
/// morning on the dev stack's one moto). 350 take about 4 minutes and exercise every part the
/// same way (at 10 000 the resume also outlasts its request and a tick's time, and the next
/// ticks carry it on).
fn people_count() -> usize {
    std::env::var("POLITE_E2E_PEOPLE").ok().and_then(|v| v.parse().ok()).unwrap_or(350)
}
/// Everyone's 10:00 is on this day; the campaign is created the evening before (UTC).
const DAY: &str = "2026-12-10";
const CREATED_AT: &str = "2026-12-09T22:00:00Z";
const WINDOW_MINUTES: i64 = 10;
/// How far the test moves the clock at a time within a morning's window.
const STEP_MINUTES: i64 = 5;

/// A number prefix (four digits follow) and the zone whose 10:00 polite must pick for it.
struct Group {
    prefix: &'static str,
    zone: &'static str,
}

const GROUPS: [Group; 7] = [
    Group { prefix: "+81901234", zone: "Asia/Tokyo" },
    Group { prefix: "+91981234", zone: "Asia/Kolkata" },
    Group { prefix: "+25471234", zone: "Africa/Nairobi" },
    // A Portuguese mobile may be in Lisbon or the Azores: never early anywhere, so the later
    // 10:00 (the Azores').
    Group { prefix: "+35191234", zone: "Atlantic/Azores" },
    Group { prefix: "+551198765", zone: "America/Sao_Paulo" },
    Group { prefix: "+1212555", zone: "America/New_York" },
    Group { prefix: "+52551234", zone: "America/Mexico_City" },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Consent {
    OptedIn,
    /// Opted in a month ago, out two days ago.
    OptedOut,
    /// Nothing on record.
    Never,
}

#[derive(Debug, Clone)]
struct Customer {
    number: String,
    group: usize,
    first_name: String,
    consent: Consent,
}

impl Customer {
    fn digits(&self) -> &str {
        self.number.trim_start_matches('+')
    }

    /// When this customer's window opens: 10:00 on [`DAY`] in their group's zone.
    fn ten_o_clock(&self) -> Timestamp {
        ten_o_clock(GROUPS[self.group].zone)
    }
}

fn ten_o_clock(zone: &str) -> Timestamp {
    let day: jiff::civil::Date = DAY.parse().unwrap();
    day.at(10, 0, 0, 0).to_zoned(TimeZone::get(zone).unwrap()).unwrap().timestamp()
}

fn customers() -> Vec<Customer> {
    (0..people_count())
        .map(|i| {
            let group = i % GROUPS.len();
            let consent = match i {
                i if i % 10 == 3 => Consent::OptedOut,
                i if i % 97 == 5 => Consent::Never,
                _ => Consent::OptedIn,
            };
            Customer {
                number: format!("{}{}", GROUPS[group].prefix, 1_000 + i / GROUPS.len()),
                group,
                first_name: format!("Cliente{i}"),
                consent,
            }
        })
        .collect()
}

async fn start(clock: Timestamp) -> Stack {
    let workspace = StackConfig::workspace_root().canonicalize().unwrap();
    let mut config = StackConfig::demo(&workspace);
    config.ports = Ports::free().unwrap();
    config.state_dir = std::env::temp_dir().join(format!("polite-e2e-local-time-{}", std::process::id()));
    config.clock = Some(clock);
    // The tick every 2 s (EventBridge's is every minute): a move of the clock is acted on at once.
    config.tick_every = Duration::from_secs(2);
    // This test is about *when* messages reach Meta, which the simulator's log says; Meta's
    // statuses (the other end-to-end tests follow them) come after the test: their webhooks
    // would only compete with the sends for the dev stack's one moto process.
    let later = Duration::from_hours(1);
    config.simulator.status_delays = whatsapp_sim::StatusDelays { sent: later, delivered: later, read: later };
    Stack::start(config).await.unwrap_or_else(|e| panic!("the stack did not start: {e:#}"))
}

/// The consent records of everyone who has any, imported the way a CRM would: a file on S3
/// (`POST /v1/consents:import` with `{"s3"}`), read by consent-updater a part at a time.
async fn import_consent(client: &Client, people: &[Customer], now: Timestamp) {
    let month_ago = (now - SignedDuration::from_hours(30 * 24)).to_string();
    let days_ago = (now - SignedDuration::from_hours(2 * 24)).to_string();
    let mut csv = String::from("contact,category,status,source,evidence,occurred_at\n");
    let mut records = 0;
    for c in people {
        let mut record = |status: &str, at: &str| {
            records += 1;
            writeln!(csv, "{},marketing,{status},crm_sync,shop account of {},{at}", c.number, c.first_name).unwrap();
        };
        match c.consent {
            Consent::OptedIn => record("opted_in", &month_ago),
            Consent::OptedOut => {
                record("opted_in", &month_ago);
                record("opted_out", &days_ago);
            }
            Consent::Never => {}
        }
    }
    let file = client.upload("consent.csv", csv.into_bytes()).await.unwrap();
    let body = json!({ "s3": file });
    let started =
        client.api(Method::POST, "/v1/consents:import", Some(&body)).await.unwrap().expect(202, "import").unwrap();
    let path = format!("/v1/consents/imports/{}", started["id"].as_str().unwrap());
    let done = eventually("the consent import", Duration::from_mins(20), || async {
        let view = client.get(&path).await?;
        Ok((view["done"] == true).then_some(view))
    })
    .await
    .unwrap();
    assert_eq!(
        (&done["accepted"], &done["rejected"], &done["recorded"]),
        (&json!(records), &json!(0), &json!(records))
    );
    let summary: Value =
        serde_json::from_slice(&client.download(done["result"].as_str().unwrap()).await.unwrap()).unwrap();
    assert_eq!(summary["accepted"], records, "{summary}");
}

/// The shop's file: a header, one line per customer with their own values, then a line
/// without its offer (Meta would refuse it) and a customer listed twice.
fn audience_file(people: &[Customer]) -> String {
    let mut csv = String::from("to,first_name,offer\n");
    for c in people {
        writeln!(csv, "{},{},{}% off", c.number, c.first_name, 10 + c.group).unwrap();
    }
    csv.push_str("+819012349999,Sem Oferta,\n");
    writeln!(csv, "{},{},10% off", people[0].number, people[0].first_name).unwrap();
    csv
}

/// Every page of the per-recipient report.
async fn report(client: &Client, campaign: &str) -> Vec<Value> {
    let mut messages = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client.get(&format!("/v1/campaigns/{campaign}/messages?limit=500&cursor={cursor}")).await.unwrap();
        messages.extend(page["messages"].as_array().cloned().unwrap_or_default());
        match page["next_cursor"].as_str() {
            Some(next) => next.clone_into(&mut cursor),
            None => return messages,
        }
    }
}

fn count(view: &Value, state: &str) -> u64 {
    view["counts"][state].as_u64().unwrap_or(0)
}

/// The morning offers Meta accepted so far, by recipient digits: when, and with what values.
fn offers(stack: &Stack) -> BTreeMap<String, Vec<(Timestamp, Value)>> {
    let mut by_person: BTreeMap<String, Vec<(Timestamp, Value)>> = BTreeMap::new();
    for m in stack.simulator().unwrap().accepted() {
        if m.template.as_deref() == Some("morning_offer") {
            by_person.entry(m.to.clone()).or_default().push((m.accepted_at, m.request.clone()));
        }
    }
    by_person
}

/// Waits until what is due at the clock's time has been handed on: nothing queued or being
/// sent, and nothing moved, over two looks a few ticks apart.
async fn settle(client: &Client, campaign: &str) {
    let path = format!("/v1/campaigns/{campaign}");
    let deadline = std::time::Instant::now() + Duration::from_mins(5);
    let mut last = None;
    loop {
        tokio::time::sleep(Duration::from_secs(3)).await;
        // A read the busy dev stack did not answer in time is asked again.
        let Ok(view) = client.get(&path).await else {
            assert!(std::time::Instant::now() < deadline, "{path} did not answer within 5 minutes");
            continue;
        };
        let busy = count(&view, "queued") + count(&view, "sending");
        let seen = (busy, count(&view, "scheduled"), count(&view, "sent") + count(&view, "delivered"));
        if busy == 0 && last == Some(seen) {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "the due messages were not sent within 5 minutes: {view}");
        last = Some(seen);
    }
}

/// Waits (up to 5 minutes) until the simulator has accepted an offer for each of `due`.
async fn all_sent(stack: &Stack, what: &str, due: &[&str]) {
    eventually(what, Duration::from_mins(5), || async {
        let sent = offers(stack);
        Ok(due.iter().all(|d| sent.contains_key(*d)).then_some(()))
    })
    .await
    .unwrap();
}

/// What the marketer does to the campaign on a morning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    Nothing,
    /// Paused a minute before the window opens, resumed after its first step: nothing of the
    /// morning reaches Meta while paused, everything after.
    PauseThenResume,
    /// Cancelled after the window's first step: who was due by then was sent, everyone else
    /// is cancelled.
    CancelHalfWay,
}

/// The controls the test takes on each morning (earliest first): a pause on the third, a
/// cancellation on the last.
fn control(morning: usize, mornings: usize) -> Control {
    match morning {
        2 => Control::PauseThenResume,
        m if m + 1 == mornings => Control::CancelHalfWay,
        _ => Control::Nothing,
    }
}

async fn campaign_control(client: &Client, id: &str, action: &str) -> Value {
    let path = format!("/v1/campaigns/{id}/{action}");
    client.api(Method::POST, &path, None).await.unwrap().expect(200, action).unwrap()
}

/// Moves the clock through each zone's morning: a minute before it (nothing goes), then in
/// steps to the window's end, when everyone of that morning has been sent their offer — the
/// campaign paused and resumed on one morning, cancelled half-way through the last. Returns
/// who was cancelled: the last morning's customers not due at its first step.
async fn through_each_morning(
    stack: &Stack,
    client: &Client,
    id: &str,
    people: &[Customer],
    slots: &BTreeMap<String, Timestamp>,
) -> BTreeSet<String> {
    let mut mornings: Vec<Timestamp> = GROUPS.iter().map(|g| ten_o_clock(g.zone)).collect();
    mornings.sort();
    mornings.dedup();
    assert!(mornings.len() >= 6, "at least six different mornings");
    let mut cancelled = BTreeSet::new();
    for (i, &opens) in mornings.iter().enumerate() {
        let started = std::time::Instant::now();
        let control = control(i, mornings.len());
        let this_morning: Vec<&Customer> = people.iter().filter(|c| c.ten_o_clock() == opens).collect();
        let sent_this_morning = || {
            let sent = offers(stack);
            this_morning.iter().filter(|c| sent.contains_key(c.digits())).count()
        };
        stack.set_clock(opens - SignedDuration::from_mins(1)).unwrap();
        settle(client, id).await;
        if control == Control::PauseThenResume {
            let paused = campaign_control(client, id, "pause").await;
            assert_eq!(paused["status"], "paused", "{paused}");
        }
        let mut minutes = STEP_MINUTES;
        while minutes <= WINDOW_MINUTES {
            let at = opens + SignedDuration::from_mins(minutes);
            stack.set_clock(at).unwrap();
            settle(client, id).await;
            if minutes == STEP_MINUTES && control == Control::PauseThenResume {
                // Due, released by the tick, and parked by the sender: none reached Meta.
                assert_eq!(sent_this_morning(), 0, "offers went out while the campaign was paused");
                let resumed = campaign_control(client, id, "resume").await;
                assert_eq!(resumed["status"], "active", "{resumed}");
                settle(client, id).await;
            }
            if minutes == STEP_MINUTES && control == Control::CancelHalfWay {
                // Who was due by now has reached Meta; then the marketer calls the rest off.
                let due: Vec<&str> = this_morning
                    .iter()
                    .filter(|c| c.consent == Consent::OptedIn && slots[c.digits()] <= at)
                    .map(|c| c.digits())
                    .collect();
                all_sent(stack, "the offers due before the cancellation", &due).await;
                let view = campaign_control(client, id, "cancel").await;
                assert_eq!(view["status"], "cancelled", "{view}");
                cancelled =
                    this_morning.iter().filter(|c| slots[c.digits()] > at).map(|c| c.digits().to_owned()).collect();
                assert!(!cancelled.is_empty(), "some of the last morning were still to go");
            }
            minutes += STEP_MINUTES;
        }
        let due: Vec<&str> = people
            .iter()
            .filter(|c| c.consent == Consent::OptedIn && c.ten_o_clock() <= opens && !cancelled.contains(c.digits()))
            .map(Customer::digits)
            .collect();
        all_sent(stack, "this morning's offers", &due).await;
        eprintln!(
            "the morning from {opens}{}: {} offers sent by its end, {:.0} s",
            match control {
                Control::Nothing => "",
                Control::PauseThenResume => " (paused, resumed)",
                Control::CancelHalfWay => " (cancelled half-way)",
            },
            due.len(),
            started.elapsed().as_secs_f64()
        );
    }
    cancelled
}

/// The simulator's log against the plan: each consenting customer sent once, not before their
/// planned time, within 10:00–10:10 of their zone, with their own values; nobody else, and
/// nobody the cancellation stopped.
fn each_consenting_customer_was_sent_once_at_their_10_00(
    people: &[Customer],
    slots: &BTreeMap<String, Timestamp>,
    cancelled: &BTreeSet<String>,
    sent: &BTreeMap<String, Vec<(Timestamp, Value)>>,
) {
    for c in people {
        let Some(sends) = sent.get(c.digits()) else {
            assert!(
                c.consent != Consent::OptedIn || cancelled.contains(c.digits()),
                "{} was never sent their offer",
                c.number
            );
            continue;
        };
        assert_eq!(c.consent, Consent::OptedIn, "{} ({:?}) was sent an offer", c.number, c.consent);
        assert!(!cancelled.contains(c.digits()), "{} was sent an offer after the campaign was cancelled", c.number);
        assert_eq!(sends.len(), 1, "{} was sent {} offers", c.number, sends.len());
        let (at, request) = &sends[0];
        let zone = TimeZone::get(GROUPS[c.group].zone).unwrap();
        let local = at.to_zoned(zone);
        assert!(*at >= slots[c.digits()], "{} sent at {local}, before the time planned", c.number);
        assert!(
            local.hour() == 10 && i64::from(local.minute()) <= WINDOW_MINUTES,
            "{} sent at {local}, not at their 10:00",
            c.number
        );
        let values = request.to_string();
        assert!(
            values.contains(&format!("\"{}\"", c.first_name)) && values.contains(&format!("{}% off", 10 + c.group)),
            "{}: {request}",
            c.number
        );
    }
    let reached = people.iter().filter(|c| c.consent == Consent::OptedIn && !cancelled.contains(c.digits())).count();
    assert_eq!(sent.len(), reached);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_personal_campaign_to_an_s3_audience_in_seven_zones_reaches_each_consenting_one_at_their_10_00() {
    let created_at: Timestamp = CREATED_AT.parse().unwrap();
    let stack = start(created_at).await;
    let client = Client::new(stack.endpoints.clone()).unwrap();
    let people = customers();
    let total = people.len();
    let consenting: BTreeSet<&str> =
        people.iter().filter(|c| c.consent == Consent::OptedIn).map(Customer::digits).collect();
    assert!(consenting.len() * 10 > total * 8 && consenting.len() * 10 < total * 9, "{}", consenting.len());
    let started = std::time::Instant::now();
    import_consent(&client, &people, created_at).await;
    eprintln!("consent imported: {:.0} s", started.elapsed().as_secs_f64());

    let file = client.upload("morning.csv", audience_file(&people).into_bytes()).await.unwrap();
    let body = json!({"name": "Morning offer", "category": "marketing",
        "template": {"name": "morning_offer", "language": "en"}, "audience": {"s3": file},
        "deliver_at_local": {"time": "10:00", "date": DAY, "window_minutes": WINDOW_MINUTES},
        "idempotency_key": "morning"});
    let started = std::time::Instant::now();
    let created = client.api(Method::POST, "/v1/campaigns", Some(&body)).await.unwrap().expect(202, "POST").unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    // The file read to its end by the ticks, every accepted line a message.
    let view = eventually("the audience file read", Duration::from_mins(15), || async {
        let view = client.get(&format!("/v1/campaigns/{id}")).await?;
        Ok((view["audience"]["done"] == true && view["messages"] == view["accepted"]).then_some(view))
    })
    .await
    .unwrap();
    eprintln!("audience file read, {total} messages created: {:.0} s", started.elapsed().as_secs_f64());
    let audience = &view["audience"];
    assert_eq!((&audience["accepted"], &audience["rejected"]), (&json!(total), &json!(2)), "{view}");
    assert_eq!(audience["read"], total + 3, "a header and every line: {view}");

    // Planned: each person once, at 10:00–10:10 of their own zone's morning.
    let planned = report(&client, &id).await;
    let mut slots: BTreeMap<String, Timestamp> = BTreeMap::new();
    for m in &planned {
        let to = m["to"].as_str().unwrap().to_owned();
        let at: Timestamp = m["not_before"].as_str().unwrap_or_else(|| panic!("no time planned: {m}")).parse().unwrap();
        assert!(slots.insert(to.clone(), at).is_none(), "{to} twice in the report");
    }
    assert_eq!(slots.len(), total, "the report lists every recipient once");
    for c in &people {
        let at = slots[c.digits()];
        let opens = c.ten_o_clock();
        assert!(at >= opens && at < opens + SignedDuration::from_mins(WINDOW_MINUTES), "{}: {at}", c.number);
    }

    let cancelled = through_each_morning(&stack, &client, &id, &people, &slots).await;

    // What reached Meta: every consenting person once, at their 10:00, with their own values;
    // nobody else, and nobody after the cancellation.
    each_consenting_customer_was_sent_once_at_their_10_00(&people, &slots, &cancelled, &offers(&stack));
    let reached = people.iter().filter(|c| c.consent == Consent::OptedIn && !cancelled.contains(c.digits())).count();

    // The report after: each recipient once — the consenting sent, the cancelled cancelled,
    // everyone else suppressed — and the counts add up to everyone.
    let view = eventually("the campaign to settle", Duration::from_mins(5), || async {
        let view = client.get(&format!("/v1/campaigns/{id}")).await?;
        let sent = count(&view, "sent") + count(&view, "delivered") + count(&view, "read");
        Ok((sent == reached as u64 && count(&view, "cancelled") == cancelled.len() as u64).then_some(view))
    })
    .await
    .unwrap();
    assert_eq!(count(&view, "suppressed"), (total - reached - cancelled.len()) as u64, "{view}");
    let after = report(&client, &id).await;
    let states: BTreeMap<&str, &str> =
        after.iter().map(|m| (m["to"].as_str().unwrap(), m["state"].as_str().unwrap())).collect();
    assert_eq!((after.len(), states.len()), (total, total), "the report lists every recipient once");
    for c in &people {
        let state = states[c.digits()];
        let expected = match c.consent {
            _ if cancelled.contains(c.digits()) => ["cancelled"; 2],
            Consent::OptedIn => ["sent", "delivered"],
            _ => ["suppressed"; 2],
        };
        assert!(expected.contains(&state), "{} ({:?}): {state}", c.number, c.consent);
    }
    export_lists_everyone_once(&client, &id, &states).await;
    stack.stop().await;
}

/// The report exported to S3 as JSON Lines by the tick: the manifest lists the files, and
/// they hold every recipient once, in the state the report shows.
async fn export_lists_everyone_once(client: &Client, id: &str, states: &BTreeMap<&str, &str>) {
    let started = std::time::Instant::now();
    let body = json!({"format": "jsonl"});
    let path = format!("/v1/campaigns/{id}/exports");
    let export = client.api(Method::POST, &path, Some(&body)).await.unwrap().expect(202, "export").unwrap();
    let path = format!("{path}/{}", export["id"].as_str().unwrap());
    let done = eventually("the export", Duration::from_mins(5), || async {
        let view = client.get(&path).await?;
        Ok((view["done"] == true).then_some(view))
    })
    .await
    .unwrap();
    let manifest: Value =
        serde_json::from_slice(&client.download(done["manifest"].as_str().unwrap()).await.unwrap()).unwrap();
    assert_eq!(manifest["rows"], states.len(), "{manifest}");
    let mut exported: BTreeMap<String, String> = BTreeMap::new();
    for file in manifest["files"].as_array().unwrap() {
        let bytes = client.download(file.as_str().unwrap()).await.unwrap();
        for line in String::from_utf8(bytes).unwrap().lines() {
            let row: Value = serde_json::from_str(line).unwrap();
            let to = row["to"].as_str().unwrap().to_owned();
            let state = row["state"].as_str().unwrap().to_owned();
            assert!(exported.insert(to.clone(), state).is_none(), "{to} twice in the export");
        }
    }
    let reported: BTreeMap<String, String> = states.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
    assert_eq!(exported, reported, "the export lists every recipient once, as the report does");
    eprintln!(
        "report exported: {} files, {} rows, {:.0} s",
        manifest["files"].as_array().map_or(0, Vec::len),
        exported.len(),
        started.elapsed().as_secs_f64()
    );
}
