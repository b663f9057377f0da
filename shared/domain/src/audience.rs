//! Who a campaign goes to: each entry of `recipients` read on its own — a contact reference,
//! or `{"to", "parameters"}` / `{"to", "components"}` for what is personal to that person —
//! and then filled into the template and checked against its variables
//! ([`crate::placeholders`]). A bad entry is rejected with its reason; the others go on.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ContactRef;
use crate::placeholders::{Mismatch, TemplateShape, button_index, kind};

/// Why one recipient was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Neither a phone number WhatsApp can address nor a business-scoped user id.
    InvalidNumber,
    /// The same contact appeared earlier in the list (it gets one message).
    Duplicate,
    /// The entry is neither a contact reference nor `{"to", "parameters" | "components"}`.
    InvalidRecipient,
    /// Their values do not fit the template's variables (Meta would refuse the message:
    /// 132000 for a wrong count, 132012 for a wrong kind).
    InvalidParameters,
}

/// A recipient that was not accepted, as `POST /v1/campaigns` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// As the caller sent it.
    pub to: String,
    pub reason: RejectReason,
    pub detail: String,
}

/// What an entry gives for its person.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// The body's placeholders by name (`{"first_name": "Ana"}`) or position (`{"1": "Ana"}`).
    Parameters(Map<String, Value>),
    /// Meta's `components`, as they are (a header image, a button's link, the body).
    Components(Vec<Value>),
}

/// A read entry: the person and their values, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Addressed {
    pub to: ContactRef,
    /// The reference as the caller wrote it (for a rejection).
    pub sent_as: String,
    pub values: Option<Values>,
}

/// A recipient as stored: the person, and the template components personal to them (`None`:
/// the campaign's template as it is). Stored as the bare reference when there are none, so
/// chunks written before personalisation read back unchanged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "StoredRecipient", into = "StoredRecipient")]
pub struct Recipient {
    pub to: ContactRef,
    pub components: Option<Vec<Value>>,
}

impl Recipient {
    /// A recipient without personal values.
    pub fn plain(to: ContactRef) -> Self {
        Recipient { to, components: None }
    }
}

#[derive(Serialize, Deserialize)]
#[serde(untagged)]
enum StoredRecipient {
    Plain(ContactRef),
    Personal { to: ContactRef, components: Vec<Value> },
}

impl From<StoredRecipient> for Recipient {
    fn from(stored: StoredRecipient) -> Self {
        match stored {
            StoredRecipient::Plain(to) => Recipient { to, components: None },
            StoredRecipient::Personal { to, components } => Recipient { to, components: Some(components) },
        }
    }
}

impl From<Recipient> for StoredRecipient {
    fn from(r: Recipient) -> Self {
        match r.components {
            None => StoredRecipient::Plain(r.to),
            Some(components) => StoredRecipient::Personal { to: r.to, components },
        }
    }
}

/// Reads every entry: the readable ones in order, each person once; the others rejected
/// with their reason.
pub fn read(entries: Vec<Value>) -> (Vec<Addressed>, Vec<Rejection>) {
    let mut seen = HashSet::with_capacity(entries.len());
    let mut accepted = Vec::with_capacity(entries.len());
    let mut rejected = Vec::new();
    for entry in entries {
        let (sent_as, values) = match entry_parts(entry) {
            Ok(parts) => parts,
            Err(rejection) => {
                rejected.push(rejection);
                continue;
            }
        };
        match ContactRef::parse(&sent_as) {
            Ok(to) if seen.insert(to.clone()) => accepted.push(Addressed { to, sent_as, values }),
            Ok(to) => rejected.push(Rejection {
                detail: format!("{} appears earlier in the list; it gets one message", to.masked()),
                to: sent_as,
                reason: RejectReason::Duplicate,
            }),
            Err(e) => {
                rejected.push(Rejection { detail: e.to_string(), to: sent_as, reason: RejectReason::InvalidNumber });
            }
        }
    }
    (accepted, rejected)
}

fn entry_parts(entry: Value) -> Result<(String, Option<Values>), Rejection> {
    let shape = "a contact reference, or {\"to\": \"<contact>\", \"parameters\": {…}} or {\"to\": \"<contact>\", \"components\": […]}";
    let bad = |to: String, detail: String| Rejection { to, reason: RejectReason::InvalidRecipient, detail };
    let mut object = match entry {
        Value::String(to) => return Ok((to, None)),
        Value::Object(object) => object,
        other => return Err(bad(other.to_string(), format!("each recipient is {shape}"))),
    };
    let Some(Value::String(to)) = object.remove("to") else {
        return Err(bad(Value::Object(object).to_string(), format!("no \"to\": each recipient is {shape}")));
    };
    let values = match (object.remove("parameters"), object.remove("components")) {
        (Some(_), Some(_)) => return Err(bad(to, "give parameters or components, not both".into())),
        (Some(Value::Object(p)), None) => Some(Values::Parameters(p)),
        (None, Some(Value::Array(c))) if c.iter().all(Value::is_object) => Some(Values::Components(c)),
        (Some(_), None) => return Err(bad(to, "parameters must be an object of placeholder → value".into())),
        (None, Some(_)) => return Err(bad(to, "components must be a list of Meta's template components".into())),
        (None, None) => None,
    };
    if let Some(unknown) = object.keys().next() {
        return Err(bad(to, format!("unknown field {unknown}: each recipient is {shape}")));
    }
    Ok((to, values))
}

/// The key a component is replaced by: its type, and a button's index.
fn component_key(component: &Value) -> (String, Option<u64>) {
    (kind(component), button_index(component))
}

/// The campaign's components with the person's own replacing those of the same part.
pub fn merge(campaign: &[Value], personal: &[Value]) -> Vec<Value> {
    let keys: Vec<_> = personal.iter().map(component_key).collect();
    campaign.iter().filter(|c| !keys.contains(&component_key(c))).chain(personal).cloned().collect()
}

/// The shape values are filled by when the registry does not know the template's: their own
/// keys (all digits: positions; otherwise names). Meta checks them when the message goes.
fn shape_of_keys(values: &Map<String, Value>) -> TemplateShape {
    let named = !values.keys().all(|k| k.bytes().all(|b| b.is_ascii_digit()));
    let mut body: Vec<String> = values.keys().cloned().collect();
    if !named {
        body.sort_by_key(|k| k.parse::<u32>().unwrap_or(u32::MAX));
    }
    TemplateShape { named, body, ..TemplateShape::default() }
}

/// Fills each person's values into the template — `campaign` is the template's own
/// `components` — and checks what they would be sent against `shape` (the template's
/// variables, when the registry knows them). Those that do not fit are rejected.
pub fn personalise(
    addressed: &[Addressed],
    campaign: &[Value],
    shape: Option<&TemplateShape>,
) -> (Vec<Recipient>, Vec<Rejection>) {
    let mut recipients = Vec::with_capacity(addressed.len());
    let mut rejected = Vec::new();
    for a in addressed {
        let personal: Result<Option<Vec<Value>>, Mismatch> = match &a.values {
            None => Ok(None),
            Some(Values::Components(c)) => Ok(Some(c.clone())),
            Some(Values::Parameters(p)) => {
                let body = match shape {
                    Some(s) => s.body_from(p),
                    None => shape_of_keys(p).body_from(p),
                };
                body.map(|b| Some(vec![b]))
            }
        };
        let checked = personal.and_then(|personal| {
            if let Some(shape) = shape {
                shape.check(&merge(campaign, personal.as_deref().unwrap_or_default()))?;
            }
            Ok(personal)
        });
        match checked {
            Ok(components) => recipients.push(Recipient { to: a.to.clone(), components }),
            Err(mismatch) => rejected.push(Rejection {
                to: a.sent_as.clone(),
                reason: RejectReason::InvalidParameters,
                detail: format!("{mismatch} (Meta would refuse it: {})", mismatch.meta_code()),
            }),
        }
    }
    (recipients, rejected)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn entries(v: &Value) -> Vec<Value> {
        v.as_array().cloned().unwrap_or_default()
    }

    #[test]
    fn entries_are_read_one_by_one() {
        use RejectReason::{Duplicate, InvalidNumber, InvalidRecipient};
        let (ok, rejected) = read(entries(&json!([
            "+5511987654321",
            {"to": "+16505551234", "parameters": {"first_name": "Ana"}},
            {"to": "US.13491208655302741918", "components": [{"type": "header", "parameters": []}]},
            {"to": "+16505551235", "parameters": {"a": "x"}, "components": []},
            {"to": "+16505551236", "parameter": {}},
            {"parameters": {}},
            42,
            "12",
            {"to": "5511987654321"}
        ])));
        let read: Vec<(String, bool)> = ok.iter().map(|a| (a.to.to_string(), a.values.is_some())).collect();
        assert_eq!(
            read,
            [("5511987654321".into(), false), ("16505551234".into(), true), ("US.13491208655302741918".into(), true)]
        );
        let reasons: Vec<RejectReason> = rejected.iter().map(|r| r.reason).collect();
        assert_eq!(
            reasons,
            [InvalidRecipient, InvalidRecipient, InvalidRecipient, InvalidRecipient, InvalidNumber, Duplicate]
        );
        assert!(rejected[1].detail.contains("unknown field parameter"), "{}", rejected[1].detail);
    }

    #[test]
    fn a_stored_recipient_without_values_is_the_bare_reference() {
        let plain = Recipient::plain(ContactRef::parse("+16505551234").unwrap_or_else(|e| panic!("{e}")));
        assert_eq!(serde_json::to_value(&plain).ok(), Some(json!("16505551234")));
        let personal = Recipient { components: Some(vec![json!({"type": "body"})]), ..plain.clone() };
        let stored = serde_json::to_value(&personal).unwrap_or_default();
        assert_eq!(stored, json!({"to": "16505551234", "components": [{"type": "body"}]}));
        assert_eq!(serde_json::from_value::<Recipient>(stored).ok(), Some(personal));
        assert_eq!(serde_json::from_value::<Recipient>(json!("16505551234")).ok(), Some(plain));
    }

    #[test]
    fn the_persons_parts_replace_the_campaigns() {
        let campaign = [
            json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/a.png"}}]}),
            json!({"type": "body", "parameters": []}),
            json!({"type": "button", "sub_type": "url", "index": 0, "parameters": [{"type": "text", "text": "all"}]}),
        ];
        let personal = [
            json!({"type": "BODY", "parameters": [{"type": "text", "text": "Ana"}]}),
            json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "ana"}]}),
        ];
        let merged = merge(&campaign, &personal);
        assert_eq!(merged, [campaign[0].clone(), personal[0].clone(), personal[1].clone()]);
    }

    #[test]
    fn values_that_do_not_fit_the_template_reject_only_their_person() {
        let shape = TemplateShape::from_meta(
            &[json!({"type": "BODY", "text": "Hi {{first_name}}, {{discount}} off"})],
            Some("NAMED"),
        );
        let (ok, _) = read(entries(&json!([
            {"to": "+16505551231", "parameters": {"first_name": "Ana", "discount": "20%"}},
            {"to": "+16505551232", "parameters": {"first_name": "Bo"}},
            {"to": "+16505551233"},
            {"to": "+16505551234", "components": [{"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Cy"},
                {"type": "text", "parameter_name": "discount", "text": "5%"}]}]}
        ])));
        let (recipients, rejected) = personalise(&ok, &[], Some(&shape));
        let kept: Vec<String> = recipients.iter().map(|r| r.to.to_string()).collect();
        assert_eq!(kept, ["16505551231", "16505551234"]);
        let why: Vec<(&str, RejectReason)> = rejected.iter().map(|r| (r.to.as_str(), r.reason)).collect();
        assert_eq!(
            why,
            [("+16505551232", RejectReason::InvalidParameters), ("+16505551233", RejectReason::InvalidParameters)]
        );
        assert!(rejected[0].detail.contains("132000"), "{}", rejected[0].detail);
        assert_eq!(
            recipients[0].components,
            Some(vec![json!({"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": "discount", "text": "20%"}]})])
        );
        // Without the template's variables, values are filled by their keys and kept.
        let (unchecked, none) = personalise(&ok, &[], None);
        assert_eq!((unchecked.len(), none.len()), (4, 0));
        assert_eq!(
            unchecked[1].components.as_ref().map(|c| c[0]["parameters"][0]["parameter_name"].clone()),
            Some(json!("first_name"))
        );
    }
}
