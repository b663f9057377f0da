//! Real webhook bodies (Meta's documentation, pywa's and whatsapp-api-js's test data, in the
//! team's webhook corpus beside the checkout: `../shared/webhook-corpus/payloads/`): each
//! message's and status's identities land on the right person. The corpus is other projects'
//! published data, so it is read from there, never copied here; without it this test says so
//! and checks nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use std::io::Write as _;
use std::path::PathBuf;

use polite_domain::people::{self, Identities, Observation};
use polite_domain::webhook::{self, Notification};

fn corpus() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/webhook-corpus/payloads");
    if dir.is_dir() {
        return Some(dir);
    }
    let _ = writeln!(std::io::stderr(), "webhook corpus not found at {}: skipped", dir.display());
    None
}

/// Every observation of every message and status of one body, and the person they make.
fn observed(n: &Notification<'_>) -> (Vec<Observation>, Identities) {
    let mut all = Vec::new();
    for entry in &n.entry {
        for change in &entry.changes {
            let v = &change.value;
            for m in &v.messages {
                let contact = v.contacts.iter().find(|_| v.contacts.len() == 1);
                all.extend(people::in_message(contact, m, m.sent_at(jiff::Timestamp::UNIX_EPOCH)));
            }
            for s in &v.statuses {
                all.extend(people::in_status(v.contact_for_status(s), s));
            }
        }
    }
    let mut person = Identities::default();
    for o in &all {
        person.observe(o);
    }
    (all, person)
}

/// A file and the `(phone, user id, parent user id)` its person must end with.
type Expected = (&'static str, Option<&'static str>, Option<&'static str>, Option<&'static str>);

const EXPECTED: &[Expected] = &[
    ("wajs-v25_text_bsuid.json", Some("16315551181"), Some("US.13491208655302741918"), Some("US.11815799212886844830")),
    (
        "wajs-v25_status_read.json",
        Some("16315551181"),
        Some("US.13491208655302741918"),
        Some("US.11815799212886844830"),
    ),
    (
        "wajs-v25_status_sent.json",
        Some("16315551181"),
        Some("US.13491208655302741918"),
        Some("US.11815799212886844830"),
    ),
    ("pywa-text.json", Some("972987654321"), Some("US.13491208655302741918"), Some("US.ENT.11815799212886844830")),
    (
        "pywa-button_quick_reply_from_user_id.json",
        Some("972987654321"),
        Some("US.13491208655302741918"),
        Some("US.ENT.11815799212886844830"),
    ),
    (
        "pywa-status_sent_cbp.json",
        Some("972987654321"),
        Some("US.13491208655302741918"),
        Some("US.ENT.11815799212886844830"),
    ),
    // The number moved: the person is known by the new one only.
    ("pywa-system_user_changed_number.json", Some("972912345678"), None, None),
    ("metadocs-system_user_changed_number.json", Some("12195555358"), None, None),
    // Meta's examples use `user.93737…` as a placeholder user id (not the CC.… form): the phone
    // is what is left, or nothing at all where the phone was withheld.
    ("metadocs-bsuid_status_delivered_username.json", Some("16505551234"), None, None),
    ("metadocs-bsuid_status_delivered_empty_wa_id.json", None, None, None),
    ("metadocs-bsuid_text_empty_from.json", None, None, None),
    // A status of a message to a group is nobody's.
    ("pywa-status_group_read.json", None, None, None),
];

#[test]
fn each_real_bodys_identities_land_on_the_right_person() {
    let Some(dir) = corpus() else { return };
    for (file, phone, user, parent) in EXPECTED {
        let body = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        let n = webhook::parse(&body).unwrap_or_else(|e| panic!("{file}: {e}"));
        let (_, person) = observed(&n);
        let got = (
            person.phone().map(|p| p.as_str().to_owned()),
            person.user_id().map(|u| u.as_str().to_owned()),
            person.parent_user_id().map(|u| u.as_str().to_owned()),
        );
        let want = (phone.map(str::to_owned), user.map(str::to_owned), parent.map(str::to_owned));
        assert_eq!(got, want, "{file}");
    }
}

#[test]
fn no_body_of_the_corpus_makes_an_identity_out_of_an_empty_or_placeholder_field() {
    let Some(dir) = corpus() else { return };
    let mut read = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let body = std::fs::read(&path).unwrap();
        // Bodies the typed model does not read are parked by the intake, not learnt from.
        let Ok(n) = webhook::parse(&body) else { continue };
        read += 1;
        let text = String::from_utf8_lossy(&body);
        let (observations, _) = observed(&n);
        for o in &observations {
            for id in o.identities() {
                let id = id.to_string();
                assert!(!id.is_empty(), "{}: an empty identity", path.display());
                assert!(text.contains(&format!("\"{id}\"")), "{}: {id} is not in the body", path.display());
            }
        }
    }
    assert!(read > 40, "only {read} bodies read");
}
