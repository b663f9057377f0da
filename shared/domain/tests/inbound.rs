//! consent-updater's reading of inbound events, from webhook bodies through `route`.

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test code: a panic is the failure report")]

use jiff::Timestamp;
use polite_domain::caps::SentRecord;
use polite_domain::consent::{ConsentCategory, ConsentKeywords, ConsentSource, ConsentStatus, KeywordIntent};
use polite_domain::inbound::{
    ConfirmRequest, ConfirmationTexts, ConsentChange, Ignored, InboundAction, NoConfirmation, Reading, confirmation,
    interpret,
};
use polite_domain::message::Category;
use polite_domain::people::Observation;
use polite_domain::webhook::route;
use polite_domain::{ContactRef, WaId};

const ANA: &str = "5511987654321";

fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

fn body(field: &str, value_parts: &str) -> Vec<u8> {
    format!(
        r#"{{"object":"whatsapp_business_account","entry":[{{"id":"900100200300","changes":[{{"field":"{field}","value":{{"messaging_product":"whatsapp","metadata":{{"display_phone_number":"15550001111","phone_number_id":"700800900"}},{value_parts}}}}}]}}]}}"#
    )
    .into_bytes()
}

fn message(kind_and_content: &str) -> Vec<u8> {
    body(
        "messages",
        &format!(
            r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}"}}],"messages":[{{"from":"{ANA}","id":"wamid.A1","timestamp":"1795435201",{kind_and_content}}}]"#
        ),
    )
}

fn read(body: &[u8]) -> Reading {
    read_with(body, &ConsentKeywords::default())
}

fn read_with(body: &[u8], keywords: &ConsentKeywords) -> Reading {
    let routed = route(body, now());
    assert!(routed.parked.is_empty(), "{:?}", routed.parked);
    assert_eq!(routed.inbound.len(), 1);
    interpret(&routed.inbound[0], keywords, now()).unwrap()
}

fn actions(reading: Reading) -> Vec<InboundAction> {
    match reading {
        Reading::Act(actions) => actions,
        Reading::Ignore(why) => panic!("ignored: {why:?}"),
    }
}

fn consents(actions: &[InboundAction]) -> Vec<(ConsentCategory, ConsentStatus, String)> {
    actions
        .iter()
        .filter_map(|a| match a {
            InboundAction::Consent(ConsentChange { contact, event }) => {
                assert_eq!(contact.to_string(), ANA);
                Some((event.category, event.status, event.source.as_str().to_owned()))
            }
            _ => None,
        })
        .collect()
}

fn at(s: i64) -> Timestamp {
    Timestamp::from_second(s).unwrap()
}

#[test]
fn a_stop_text_opts_out_of_both_categories_opens_the_window_and_asks_for_a_confirmation() {
    let acts = actions(read(&message(r#""type":"text","text":{"body":"  Parar "}"#)));
    assert_eq!(
        acts[0],
        InboundAction::Inbound { contact: ContactRef::parse(ANA).unwrap(), at: at(1_795_435_201), username: None }
    );
    assert_eq!(
        consents(&acts),
        [
            (ConsentCategory::Marketing, ConsentStatus::OptedOut, ConsentSource::KEYWORD.to_owned()),
            (ConsentCategory::Utility, ConsentStatus::OptedOut, ConsentSource::KEYWORD.to_owned())
        ]
    );
    let confirm = acts.iter().find(|a| matches!(a, InboundAction::Confirm(_)));
    assert_eq!(
        confirm,
        Some(&InboundAction::Confirm(ConfirmRequest {
            contact: ContactRef::parse(ANA).unwrap(),
            intent: KeywordIntent::OptOut,
            wamid: "wamid.A1".into(),
            at: at(1_795_435_201),
            business_number: Some("700800900".into()),
        })),
        "the reply quotes the keyword and comes from the number the user wrote to"
    );
    for a in &acts {
        if let InboundAction::Consent(c) = a {
            assert_eq!(c.event.occurred_at, at(1_795_435_201), "the message's own time orders the ledger");
        }
    }
}

#[test]
fn start_opts_back_in_and_an_ordinary_text_only_opens_the_window() {
    let acts = actions(read(&message(r#""type":"text","text":{"body":"start"}"#)));
    assert!(consents(&acts).iter().all(|(_, s, _)| *s == ConsentStatus::OptedIn));
    assert_eq!(consents(&acts).len(), 2);
    let acts = actions(read(&message(r#""type":"text","text":{"body":"please stop sending me things"}"#)));
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert!(matches!(acts[0], InboundAction::Inbound { .. }));
    assert!(matches!(&acts[1], InboundAction::Heard(h) if h.kind == "text"), "the business hears it: {acts:?}");
}

#[test]
fn the_optout_button_by_payload_or_localised_label_opts_out_of_marketing_only() {
    for button in [
        r#""type":"button","button":{"payload":"OPTOUT_MARKETING","text":"Stop promotions"}"#,
        r#""type":"button","button":{"text":"Parar promoções"}"#,
        r#""type":"button","button":{"payload":"Stop promotions","text":"Stop promotions"}"#,
    ] {
        let acts = actions(read(&message(button)));
        assert_eq!(
            consents(&acts),
            [(ConsentCategory::Marketing, ConsentStatus::OptedOut, ConsentSource::BUTTON.to_owned())]
        );
    }
    let acts = actions(read(&message(r#""type":"button","button":{"payload":"BUY_NOW","text":"Buy"}"#)));
    assert!(consents(&acts).is_empty());
}

#[test]
fn user_preferences_stop_and_resume_change_marketing_and_other_values_are_ignored() {
    let pref = |value: &str| {
        body(
            "user_preferences",
            &format!(
                r#""user_preferences":[{{"wa_id":"{ANA}","detail":"x","category":"marketing_messages","value":"{value}","timestamp":1795435300}}]"#
            ),
        )
    };
    let acts = actions(read(&pref("stop")));
    assert_eq!(
        consents(&acts),
        [(ConsentCategory::Marketing, ConsentStatus::OptedOut, ConsentSource::USER_PREFERENCES.to_owned())]
    );
    assert!(!acts.iter().any(|a| matches!(a, InboundAction::Inbound { .. })), "not a message: no window");
    let acts = actions(read(&pref("resume")));
    assert_eq!(
        consents(&acts),
        [(ConsentCategory::Marketing, ConsentStatus::OptedIn, ConsentSource::USER_PREFERENCES.to_owned())]
    );
    // A signup without its id proves nothing; with it, it is an opt-in whose evidence it is.
    assert_eq!(read(&pref("signup")), Reading::Ignore(Ignored::OtherPreference));
    assert_eq!(read(&pref("unsubscribe_all")), Reading::Ignore(Ignored::OtherPreference));
    let signup = body(
        "user_preferences",
        &format!(
            r#""user_preferences":[{{"wa_id":"{ANA}","detail":"x","category":"marketing_messages","value":"signup","signup_id":"1317","timestamp":1795435300}}]"#
        ),
    );
    let acts = actions(read(&signup));
    assert_eq!(
        consents(&acts),
        [(ConsentCategory::Marketing, ConsentStatus::OptedIn, ConsentSource::USER_PREFERENCES.to_owned())]
    );
    let InboundAction::Consent(change) = &acts[0] else { panic!("{acts:?}") };
    assert_eq!(change.event.evidence.as_deref(), Some("user_preferences signup 1317"));
}

#[test]
fn a_number_change_moves_the_person_and_is_not_a_user_message() {
    let b = body(
        "messages",
        &format!(
            r#""messages":[{{"from":"{ANA}","id":"wamid.S1","timestamp":"1795435400","type":"system","system":{{"body":"changed","wa_id":"5511912345678","type":"user_changed_number"}}}}]"#
        ),
    );
    let acts = actions(read(&b));
    assert_eq!(
        acts,
        [InboundAction::Identities(Observation::NumberChanged {
            old: WaId::parse(ANA).unwrap(),
            new: WaId::parse("5511912345678").unwrap(),
            at: at(1_795_435_400),
        })]
    );
}

/// The defect of issue 19: a STOP from a username user (no phone, only `from_user_id`) and a
/// `user_preferences` stop without `wa_id` were dropped as `no_phone_number`.
#[test]
fn a_stop_from_a_person_known_only_by_user_id_opts_them_out() {
    for from in [r#""from":"","#, ""] {
        let b = body(
            "messages",
            &format!(
                r#""contacts":[{{"profile":{{"name":"Bia","username":"@bia"}},"wa_id":"","user_id":"US.1349"}}],"messages":[{{{from}"from_user_id":"US.1349","id":"wamid.B1","timestamp":"1795435201","type":"text","text":{{"body":"STOP"}}}}]"#
            ),
        );
        let acts = actions(read(&b));
        let bia = ContactRef::parse("US.1349").unwrap();
        assert_eq!(
            acts[0],
            InboundAction::Inbound { contact: bia.clone(), at: at(1_795_435_201), username: Some("@bia".into()) }
        );
        let stops: Vec<_> = acts
            .iter()
            .filter_map(|a| match a {
                InboundAction::Consent(c) if c.contact == bia && c.event.status == ConsentStatus::OptedOut => {
                    Some(c.event.category)
                }
                _ => None,
            })
            .collect();
        assert_eq!(stops, [ConsentCategory::Marketing, ConsentCategory::Utility]);
    }
    let pref = body(
        "user_preferences",
        r#""user_preferences":[{"user_id":"US.1349","detail":"x","category":"marketing_messages","value":"stop","timestamp":1795435300}]"#,
    );
    let acts = actions(read(&pref));
    let InboundAction::Consent(change) = &acts[0] else { panic!("{acts:?}") };
    assert_eq!(change.contact.to_string(), "US.1349");
    assert_eq!(change.event.status, ConsentStatus::OptedOut);
}

/// A text from Ana that shows her number and her user id (`BR.1349`) together.
fn text_from_ana_with_user_id(wamid: &str, text: &str) -> Vec<u8> {
    body(
        "messages",
        &format!(
            r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}","user_id":"BR.1349"}}],"messages":[{{"from":"{ANA}","from_user_id":"BR.1349","id":"{wamid}","timestamp":"1795435201","type":"text","text":{{"body":"{text}"}}}}]"#
        ),
    )
}

#[test]
fn identities_shown_together_come_first_and_a_lone_one_links_nothing() {
    let acts = actions(read(&text_from_ana_with_user_id("wamid.L1", "hi")));
    assert_eq!(
        acts[0],
        InboundAction::Identities(Observation::Together {
            phone: Some(WaId::parse(ANA).unwrap()),
            user: Some(polite_domain::BusinessScopedUserId::parse("BR.1349").unwrap()),
            parent: None,
            at: at(1_795_435_201),
        })
    );
    // The person is addressed by the identity that keeps finding them (a retired user id
    // still does; a retired number may be someone else's).
    assert_eq!(
        acts[1],
        InboundAction::Inbound {
            contact: ContactRef::parse("BR.1349").unwrap(),
            at: at(1_795_435_201),
            username: None
        }
    );
    let nothing = body(
        "messages",
        r#""messages":[{"from":"","id":"wamid.N1","timestamp":"1795435201","type":"text","text":{"body":"STOP"}}]"#,
    );
    assert_eq!(read(&nothing), Reading::Ignore(Ignored::NoContact));
}

#[test]
fn a_stop_with_both_identities_opts_out_the_person_by_user_id_and_is_answered_on_the_number() {
    let acts = actions(read(&text_from_ana_with_user_id("wamid.S1", "STOP")));
    let consents: Vec<String> = acts
        .iter()
        .filter_map(|a| match a {
            InboundAction::Consent(c) => Some(c.contact.to_string()),
            _ => None,
        })
        .collect();
    assert_eq!(consents, ["BR.1349", "BR.1349"], "marketing and utility, on the person's user id");
    let Some(confirm) = acts.iter().find_map(|a| match a {
        InboundAction::Confirm(c) => Some(c),
        _ => None,
    }) else {
        panic!("{acts:?}")
    };
    assert_eq!(confirm.contact, ContactRef::parse(ANA).unwrap(), "the reply goes to the number they wrote from");
}

#[test]
fn a_replayed_event_reads_to_the_same_ledger_ids() {
    let b = message(r#""type":"text","text":{"body":"STOP"}"#);
    let first = consents_ids(actions(read(&b)));
    let routed = route(&b, now() + jiff::SignedDuration::from_hours(72));
    let later =
        interpret(&routed.inbound[0], &ConsentKeywords::default(), now() + jiff::SignedDuration::from_hours(72));
    assert_eq!(first, consents_ids(actions(later.unwrap())));
}

fn consents_ids(actions: Vec<InboundAction>) -> Vec<String> {
    actions
        .into_iter()
        .filter_map(|a| match a {
            InboundAction::Consent(c) => Some(c.event.id.as_str().to_owned()),
            _ => None,
        })
        .collect()
}

#[test]
fn configured_keywords_are_used() {
    let keywords = ConsentKeywords { opt_out: vec!["HALT".into()], ..ConsentKeywords::default() };
    let acts = actions(read_with(&message(r#""type":"text","text":{"body":"halt"}"#), &keywords));
    assert_eq!(consents(&acts).len(), 2);
    let acts = actions(read_with(&message(r#""type":"text","text":{"body":"stop"}"#), &keywords));
    assert!(consents(&acts).is_empty(), "the configured list replaces the default");
}

#[test]
fn a_confirmation_goes_out_only_when_configured_changed_and_inside_the_window() {
    let texts = ConfirmationTexts { opt_out: Some("Done: no more promotions.".into()), opt_in: None };
    let sent = at(1_795_435_201);
    let soon = at(1_795_435_261);
    assert_eq!(confirmation(&texts, KeywordIntent::OptOut, true, sent, soon), Ok("Done: no more promotions."));
    assert_eq!(confirmation(&texts, KeywordIntent::OptIn, true, sent, soon), Err(NoConfirmation::Off));
    assert_eq!(
        confirmation(&ConfirmationTexts::default(), KeywordIntent::OptOut, true, sent, soon),
        Err(NoConfirmation::Off)
    );
    assert_eq!(
        confirmation(&texts, KeywordIntent::OptOut, false, sent, soon),
        Err(NoConfirmation::Unchanged),
        "a replay or a superseded keyword confirms nothing"
    );
    let just_open = at(1_795_435_201 + 24 * 3600 - 1);
    let closed = at(1_795_435_201 + 24 * 3600);
    assert!(confirmation(&texts, KeywordIntent::OptOut, true, sent, just_open).is_ok());
    assert_eq!(confirmation(&texts, KeywordIntent::OptOut, true, sent, closed), Err(NoConfirmation::WindowClosed));
}

#[test]
fn confirmation_texts_are_off_by_default_and_blank_texts_count_as_off() {
    assert!(ConfirmationTexts::default().is_off());
    let blank: ConfirmationTexts = serde_json::from_str(r#"{"opt_out":"  "}"#).unwrap();
    assert!(blank.is_off());
    let on: ConfirmationTexts = serde_json::from_str(r#"{"opt_in":"Welcome back"}"#).unwrap();
    assert_eq!(on.for_intent(KeywordIntent::OptIn), Some("Welcome back"));
    assert!(serde_json::from_str::<ConfirmationTexts>(r#"{"optout":"x"}"#).is_err(), "a misspelt key is an error");
}

#[test]
fn a_user_id_update_moves_the_person_to_the_new_id() {
    let b = body(
        "user_id_update",
        &format!(
            r#""user_id_update":[{{"wa_id":"{ANA}","detail":"changed","user_id":{{"previous":"BR.1349","current":"BR.2468"}},"parent_user_id":{{"previous":"BR.ENT.1","current":"BR.ENT.1"}},"timestamp":"1795435500"}}]"#
        ),
    );
    let acts = actions(read(&b));
    let user = |u: &str| polite_domain::BusinessScopedUserId::parse(u).unwrap();
    assert_eq!(
        acts,
        [
            InboundAction::Identities(Observation::UserIdChanged {
                old: user("BR.1349"),
                new: user("BR.2468"),
                at: at(1_795_435_500)
            }),
            InboundAction::Identities(Observation::Together {
                phone: Some(WaId::parse(ANA).unwrap()),
                user: Some(user("BR.2468")),
                parent: Some(user("BR.ENT.1")),
                at: at(1_795_435_500),
            }),
        ],
        "an unchanged parent id is no move"
    );
}

#[test]
fn a_consent_change_queued_before_user_ids_still_reads() {
    let old = r#"{"wa_id":"16505551234","event":{"id":"ce_1","category":"marketing","status":"opted_out","source":"send_failure_131050","evidence":null,"occurred_at":"2026-11-23T12:00:02Z","recorded_at":"2026-11-23T12:00:02Z"}}"#;
    let change: ConsentChange = serde_json::from_str(old).unwrap();
    assert_eq!(change.contact, ContactRef::parse("16505551234").unwrap());
}

#[test]
fn a_stop_on_standby_opts_out_like_one_on_messages() {
    let b = body(
        "standby",
        &format!(
            r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}"}}],"messages":[{{"from":"{ANA}","id":"wamid.SB","timestamp":"1795435201","type":"text","text":{{"body":"STOP"}}}}]"#
        ),
    );
    let acts = actions(read(&b));
    let stops = consents(&acts);
    assert_eq!(stops.len(), 2, "{acts:?}");
    assert!(stops.iter().all(|(_, status, _)| *status == ConsentStatus::OptedOut));
}

#[test]
fn a_message_whose_time_or_type_does_not_read_is_still_the_persons_and_dated_by_its_arrival() {
    // Meta's older examples: no `type`, a placeholder timestamp. A real sender still opens
    // the window, as of when polite received it.
    let b = body(
        "messages",
        &format!(r#""messages":[{{"from":"{ANA}","id":"wamid.T1","timestamp":"TIMESTAMP","contacts":[]}}]"#),
    );
    let acts = actions(read(&b));
    assert_eq!(acts[0], InboundAction::Inbound { contact: ContactRef::parse(ANA).unwrap(), at: now(), username: None });
    assert!(matches!(&acts[1], InboundAction::Heard(h) if h.id == "wamid.T1" && h.at == now()), "{acts:?}");
    assert_eq!(acts.len(), 2);
    // The same with placeholders for the sender too: no one to apply it to.
    let nobody = body(
        "messages",
        r#""messages":[{"from":"PHONE_NUMBER","id":"wamid.ID","timestamp":"TIMESTAMP","type":"text","text":{"body":"STOP"}}]"#,
    );
    assert_eq!(read(&nobody), Reading::Ignore(Ignored::NoContact));
}

#[test]
fn a_group_message_opens_no_window_and_carries_no_consent() {
    let b = body(
        "messages",
        &format!(
            r#""messages":[{{"from":"{ANA}","group_id":"120363000000000001","id":"wamid.G1","timestamp":"1795435201","type":"text","text":{{"body":"STOP"}}}}]"#
        ),
    );
    assert_eq!(read(&b), Reading::Ignore(Ignored::GroupMessage));
}

#[test]
fn a_call_the_user_makes_opens_their_window_and_one_the_business_makes_does_not() {
    let call = |direction: &str| {
        body(
            "calls",
            &format!(
                r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}"}}],"calls":[{{"id":"wacid.C1","from":"{ANA}","to":"15550001111","event":"connect","direction":"{direction}","timestamp":"1795435201"}}]"#
            ),
        )
    };
    let acts = actions(read(&call("USER_INITIATED")));
    assert_eq!(
        acts[0],
        InboundAction::Inbound { contact: ContactRef::parse(ANA).unwrap(), at: at(1_795_435_201), username: None }
    );
    // Each call event (connect, terminate) is heard on its own.
    assert!(
        matches!(&acts[1], InboundAction::Heard(h) if h.id == "wacid.C1#connect" && h.kind == "call" && h.element["event"] == "connect"),
        "{acts:?}"
    );
    assert_eq!(acts.len(), 2);
    assert_eq!(read(&call("BUSINESS_INITIATED")), Reading::Ignore(Ignored::BusinessCall));
}

#[test]
fn an_echo_of_the_business_app_is_a_send_to_the_person_not_a_message_from_them() {
    let user = "US.13491208655302741918";
    let echo = |field: &str, kind: &str| {
        body(
            field,
            &format!(
                r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}","user_id":"{user}"}}],"message_echoes":[{{"from":"15550001111","to":"{ANA}","to_user_id":"{user}","id":"wamid.E1","timestamp":"1795435201","type":"{kind}"}}]"#
            ),
        )
    };
    let person = ContactRef::parse(user).unwrap();
    for field in ["smb_message_echoes", "message_echoes"] {
        let acts = actions(read(&echo(field, "text")));
        assert!(matches!(
            &acts[0],
            InboundAction::Identities(Observation::Together { phone: Some(_), user: Some(_), .. })
        ));
        assert_eq!(
            acts[1..],
            [InboundAction::Sent {
                contact: person.clone(),
                wamid: "wamid.E1".into(),
                sent: SentRecord { category: Category::Service, at: at(1_795_435_201) },
            }],
            "{field}: no window opens, no consent changes"
        );
    }
    // An echo does not say a template's category: it counts as the strictest.
    let acts = actions(read(&echo("smb_message_echoes", "template")));
    assert!(matches!(&acts[1], InboundAction::Sent { sent: SentRecord { category: Category::Marketing, .. }, .. }));
}

#[test]
fn a_placeholder_id_is_completed_by_the_contacts_entry_and_a_contradicting_entry_completes_nothing() {
    // pywa's echo: `to` and `to_user_id` are placeholders; the entry names the person.
    let placeholder = body(
        "smb_message_echoes",
        &format!(
            r#""contacts":[{{"profile":{{"name":"Ana"}},"wa_id":"{ANA}"}}],"message_echoes":[{{"from":"<BUSINESS>","to":"<WHATSAPP_USER_PHONE_NUMBER>","to_user_id":"<BSUID>","id":"wamid.E2","timestamp":"1795435201","type":"text"}}]"#
        ),
    );
    let acts = actions(read(&placeholder));
    assert!(matches!(&acts[0], InboundAction::Sent { contact, .. } if contact.to_string() == ANA), "{acts:?}");

    // A message from one number whose only entry is another number's (and carries a user id):
    // the entry is someone else's, so the sender gets no user id from it.
    let other = body(
        "messages",
        &format!(
            r#""contacts":[{{"profile":{{"name":"Bea"}},"wa_id":"5511900000001","user_id":"BR.77"}}],"messages":[{{"from":"{ANA}","id":"wamid.A9","timestamp":"1795435201","type":"text","text":{{"body":"hi"}}}}]"#
        ),
    );
    let acts = actions(read(&other));
    assert!(!acts.iter().any(|a| matches!(a, InboundAction::Identities(_))), "{acts:?}");
    assert!(matches!(&acts[0], InboundAction::Inbound { contact, .. } if contact.to_string() == ANA), "{acts:?}");
}

#[test]
fn every_user_message_is_heard_once_last_with_the_element_as_meta_sent_it() {
    for (kind, fields) in [
        ("text", r#""type":"text","text":{"body":"Is the blue one back?"}"#),
        ("button", r#""type":"button","button":{"payload":"MORE","text":"Tell me more"}"#),
        ("image", r#""type":"image","image":{"id":"1479537139650973","mime_type":"image/jpeg","sha256":"abc"}"#),
        (
            "interactive",
            r#""type":"interactive","interactive":{"type":"button_reply","button_reply":{"id":"yes","title":"Yes"}}"#,
        ),
        ("reaction", r#""type":"reaction","reaction":{"message_id":"wamid.OUT1","emoji":"👍"}"#),
        ("location", r#""type":"location","location":{"latitude":-23.5,"longitude":-46.6}"#),
        (
            "order",
            r#""type":"order","order":{"catalog_id":"c1","product_items":[{"product_retailer_id":"sku1","quantity":1}]}"#,
        ),
        ("text", r#""type":"text","text":{"body":"STOP"}"#),
    ] {
        let b = message(fields);
        let acts = actions(read(&b));
        let heard: Vec<&polite_domain::inbound::Heard> = acts
            .iter()
            .filter_map(|a| match a {
                InboundAction::Heard(h) => Some(h),
                _ => None,
            })
            .collect();
        assert_eq!(heard.len(), 1, "{kind}: {acts:?}");
        assert!(matches!(acts.last(), Some(InboundAction::Heard(_))), "{kind}: heard after its other actions");
        let h = heard[0];
        assert_eq!((h.kind.as_str(), h.id.as_str(), h.at), (kind, "wamid.A1", at(1_795_435_201)));
        assert_eq!(h.contact, ContactRef::parse(ANA).unwrap());
        assert_eq!(h.phone_number_id.as_deref(), Some("700800900"));
        let sent: serde_json::Value =
            serde_json::from_str(&format!(r#"{{"from":"{ANA}","id":"wamid.A1","timestamp":"1795435201",{fields}}}"#))
                .unwrap();
        assert_eq!(h.element, sent, "{kind}: the element exactly as Meta sent it");
    }
}
