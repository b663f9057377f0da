//! Free-form content besides text — media, interactive messages, reactions — and replies in
//! context, checked as the Cloud API checks them, so a support tool's answer is refused with a
//! reason at `POST /v1/messages` rather than failing at Meta later.
//!
//! Each check returns the message's content in Meta's shape (`{"type": t, t: {…}}`), which the
//! sender passes on unchanged.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::invalid::{Invalid, invalid};

/// Media as the caller names it: by `link` (an HTTP(S) URL Meta fetches) or by `id` (uploaded
/// to Meta's media API), exactly one.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MediaRequest {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub filename: Option<String>,
}

/// A reaction to the message `reply_to` names: an emoji, or `""` to take one back.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReactionRequest {
    pub emoji: String,
}

/// Meta's media types.
pub const MEDIA_TYPES: [&str; 5] = ["image", "video", "audio", "document", "sticker"];
/// Meta's limit on a media caption.
pub const MAX_CAPTION_CHARS: usize = 1024;

fn chars(s: &str) -> usize {
    s.chars().count()
}

/// The media message, in Meta's shape.
///
/// # Errors
/// [`Invalid`] naming the field.
pub fn check_media(media: MediaRequest) -> Result<Value, Invalid> {
    let kind = media.kind.as_str();
    if !MEDIA_TYPES.contains(&kind) {
        return Err(invalid("media.type", format!("must be one of {}", MEDIA_TYPES.join(", "))));
    }
    let mut object = serde_json::Map::new();
    match (media.link, media.id) {
        (Some(link), None) => {
            let url_ok = (link.starts_with("https://") || link.starts_with("http://"))
                && link.len() <= 2048
                && !link.contains(char::is_whitespace);
            if !url_ok {
                return Err(invalid("media.link", "must be an http(s) URL Meta can fetch (at most 2048 characters)"));
            }
            object.insert("link".into(), json!(link));
        }
        (None, Some(id)) => {
            if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(invalid("media.id", "must be a media id from Meta's media upload (digits)"));
            }
            object.insert("id".into(), json!(id));
        }
        _ => return Err(invalid("media", "give exactly one of \"link\" and \"id\"")),
    }
    if let Some(caption) = media.caption {
        if matches!(kind, "audio" | "sticker") {
            return Err(invalid("media.caption", format!("{kind} messages have no caption")));
        }
        if caption.trim().is_empty() || chars(&caption) > MAX_CAPTION_CHARS {
            return Err(invalid("media.caption", format!("must be 1–{MAX_CAPTION_CHARS} characters")));
        }
        object.insert("caption".into(), json!(caption));
    }
    if let Some(filename) = media.filename {
        if kind != "document" {
            return Err(invalid("media.filename", "only a document has a filename"));
        }
        if filename.trim().is_empty() || chars(&filename) > 240 {
            return Err(invalid("media.filename", "must be 1–240 characters"));
        }
        object.insert("filename".into(), json!(filename));
    }
    Ok(json!({"type": kind, kind: object}))
}

/// A string field of `object` that must be present with 1..=`max` characters.
fn text_field(object: &Value, pointer: &str, field: &'static str, max: usize) -> Result<(), Invalid> {
    match object.pointer(pointer).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() && chars(s) <= max => Ok(()),
        _ => Err(invalid(field, format!("is required, 1–{max} characters"))),
    }
}

/// An optional string field: when present, 1..=`max` characters.
fn optional_text(object: &Value, pointer: &str, field: &'static str, max: usize) -> Result<(), Invalid> {
    if object.pointer(pointer).is_none() {
        return Ok(());
    }
    text_field(object, pointer, field, max)
}

/// An interactive message — reply buttons (`button`) or a list (`list`) — in Meta's own
/// `interactive` object, checked against Meta's limits.
///
/// # Errors
/// [`Invalid`] naming the field.
pub fn check_interactive(interactive: Value) -> Result<Value, Invalid> {
    if !interactive.is_object() {
        return Err(invalid("interactive", "must be Meta's interactive object"));
    }
    text_field(&interactive, "/body/text", "interactive.body.text", 1024)?;
    optional_text(&interactive, "/footer/text", "interactive.footer.text", 60)?;
    if interactive.get("header").is_some() {
        let header_type = interactive.pointer("/header/type").and_then(Value::as_str);
        if header_type != Some("text") {
            return Err(invalid("interactive.header", "polite sends text headers: {\"type\": \"text\", \"text\": …}"));
        }
        text_field(&interactive, "/header/text", "interactive.header.text", 60)?;
    }
    match interactive.get("type").and_then(Value::as_str) {
        Some("button") => check_buttons(&interactive)?,
        Some("list") => check_list(&interactive)?,
        _ => return Err(invalid("interactive.type", "must be \"button\" (reply buttons) or \"list\"")),
    }
    let mut message = serde_json::Map::new();
    message.insert("type".into(), json!("interactive"));
    message.insert("interactive".into(), interactive);
    Ok(Value::Object(message))
}

fn check_buttons(interactive: &Value) -> Result<(), Invalid> {
    let buttons = interactive.pointer("/action/buttons").and_then(Value::as_array);
    let Some(buttons) = buttons.filter(|b| (1..=3).contains(&b.len())) else {
        return Err(invalid("interactive.action.buttons", "must hold 1–3 reply buttons"));
    };
    let mut ids = std::collections::BTreeSet::new();
    for button in buttons {
        if button.get("type").and_then(Value::as_str) != Some("reply") {
            return Err(invalid(
                "interactive.action.buttons",
                "each button is {\"type\": \"reply\", \"reply\": {id, title}}",
            ));
        }
        text_field(button, "/reply/id", "interactive.action.buttons.reply.id", 256)?;
        text_field(button, "/reply/title", "interactive.action.buttons.reply.title", 20)?;
        if !ids.insert(button.pointer("/reply/id").and_then(Value::as_str)) {
            return Err(invalid("interactive.action.buttons.reply.id", "must differ between buttons"));
        }
    }
    Ok(())
}

fn check_list(interactive: &Value) -> Result<(), Invalid> {
    text_field(interactive, "/action/button", "interactive.action.button", 20)?;
    let sections = interactive.pointer("/action/sections").and_then(Value::as_array);
    let Some(sections) = sections.filter(|s| (1..=10).contains(&s.len())) else {
        return Err(invalid("interactive.action.sections", "must hold 1–10 sections"));
    };
    let mut rows = 0;
    for section in sections {
        if sections.len() > 1 {
            text_field(section, "/title", "interactive.action.sections.title", 24)?;
        }
        let Some(list) = section.get("rows").and_then(Value::as_array).filter(|r| !r.is_empty()) else {
            return Err(invalid("interactive.action.sections.rows", "each section holds at least one row"));
        };
        for row in list {
            text_field(row, "/id", "interactive.action.sections.rows.id", 200)?;
            text_field(row, "/title", "interactive.action.sections.rows.title", 24)?;
            optional_text(row, "/description", "interactive.action.sections.rows.description", 72)?;
        }
        rows += list.len();
    }
    if rows > 10 {
        return Err(invalid("interactive.action.sections.rows", "a list holds at most 10 rows in all"));
    }
    Ok(())
}

/// A reaction to `message_id`, in Meta's shape.
///
/// # Errors
/// [`Invalid`] when the emoji is not one (a word, several characters).
pub fn check_reaction(reaction: ReactionRequest, message_id: &str) -> Result<Value, Invalid> {
    let emoji = reaction.emoji;
    // An emoji is a few code points (a flag, a skin tone, a joiner sequence), never letters,
    // digits or spaces; "" takes a reaction back.
    let looks_like_emoji = chars(&emoji) <= 10 && !emoji.chars().any(|c| c.is_alphanumeric() || c.is_whitespace());
    if !looks_like_emoji {
        return Err(invalid("reaction.emoji", "must be one emoji, or \"\" to remove the reaction"));
    }
    Ok(json!({"type": "reaction", "reaction": {"message_id": message_id, "emoji": emoji}}))
}

/// The wamid a reply quotes: Meta's message ids start `wamid.`.
///
/// # Errors
/// [`Invalid`] on `reply_to`.
pub fn check_reply_to(reply_to: &str) -> Result<(), Invalid> {
    let ok = reply_to.starts_with("wamid.") && reply_to.len() <= 256 && reply_to.bytes().all(|b| b.is_ascii_graphic());
    if ok { Ok(()) } else { Err(invalid("reply_to", "must be the wamid of the customer's message (\"wamid.…\")")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn media(json: &str) -> Result<Value, Invalid> {
        check_media(serde_json::from_str(json).unwrap())
    }

    #[test]
    fn media_go_by_link_or_id_with_the_fields_their_type_has() {
        assert_eq!(
            media(r#"{"type":"image","link":"https://shop.example/blue.jpg","caption":"The blue one"}"#).unwrap(),
            json!({"type": "image", "image": {"link": "https://shop.example/blue.jpg", "caption": "The blue one"}})
        );
        assert_eq!(
            media(r#"{"type":"document","id":"1479537139650973","filename":"invoice.pdf"}"#).unwrap(),
            json!({"type": "document", "document": {"id": "1479537139650973", "filename": "invoice.pdf"}})
        );
        for (json, field) in [
            (r#"{"type":"gif","link":"https://a.example/x"}"#, "media.type"),
            (r#"{"type":"image"}"#, "media"),
            (r#"{"type":"image","link":"https://a.example/x","id":"1"}"#, "media"),
            (r#"{"type":"image","link":"ftp://a.example/x"}"#, "media.link"),
            (r#"{"type":"image","id":"abc"}"#, "media.id"),
            (r#"{"type":"audio","id":"1","caption":"hi"}"#, "media.caption"),
            (r#"{"type":"image","id":"1","filename":"x.jpg"}"#, "media.filename"),
        ] {
            assert_eq!(media(json).unwrap_err().field, field, "{json}");
        }
        let long = "x".repeat(MAX_CAPTION_CHARS + 1);
        assert_eq!(
            media(&format!(r#"{{"type":"video","id":"1","caption":"{long}"}}"#)).unwrap_err().field,
            "media.caption"
        );
    }

    #[test]
    fn interactive_messages_keep_to_metas_limits() {
        let buttons = json!({"type": "button", "body": {"text": "Which size?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "s", "title": "Small"}},
                                   {"type": "reply", "reply": {"id": "m", "title": "Medium"}}]}});
        assert_eq!(check_interactive(buttons.clone()).unwrap(), json!({"type": "interactive", "interactive": buttons}));
        let list = json!({"type": "list", "body": {"text": "Pick a store"}, "action": {"button": "Stores",
            "sections": [{"rows": [{"id": "sp", "title": "São Paulo", "description": "Av. Paulista"}]}]}});
        assert!(check_interactive(list).is_ok());
        let four = json!({"type": "button", "body": {"text": "?"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "1", "title": "a"}}, {"type": "reply", "reply": {"id": "2", "title": "b"}},
            {"type": "reply", "reply": {"id": "3", "title": "c"}}, {"type": "reply", "reply": {"id": "4", "title": "d"}}]}});
        assert_eq!(check_interactive(four).unwrap_err().field, "interactive.action.buttons");
        let long_title = json!({"type": "button", "body": {"text": "?"},
            "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "A title that is far too long"}}]}});
        assert_eq!(check_interactive(long_title).unwrap_err().field, "interactive.action.buttons.reply.title");
        let same = json!({"type": "button", "body": {"text": "?"}, "action": {"buttons": [
            {"type": "reply", "reply": {"id": "1", "title": "a"}}, {"type": "reply", "reply": {"id": "1", "title": "b"}}]}});
        assert_eq!(check_interactive(same).unwrap_err().field, "interactive.action.buttons.reply.id");
        let no_body =
            json!({"type": "button", "action": {"buttons": [{"type": "reply", "reply": {"id": "1", "title": "a"}}]}});
        assert_eq!(check_interactive(no_body).unwrap_err().field, "interactive.body.text");
        let eleven = json!({"type": "list", "body": {"text": "?"}, "action": {"button": "Pick",
            "sections": [{"rows": (0..11).map(|i| json!({"id": i.to_string(), "title": "x"})).collect::<Vec<_>>()}]}});
        assert_eq!(check_interactive(eleven).unwrap_err().field, "interactive.action.sections.rows");
        assert_eq!(
            check_interactive(json!({"type": "flow", "body": {"text": "?"}})).unwrap_err().field,
            "interactive.type"
        );
    }

    #[test]
    fn a_reaction_is_one_emoji_on_the_quoted_message() {
        let ok = check_reaction(ReactionRequest { emoji: "👍".into() }, "wamid.A1").unwrap();
        assert_eq!(ok, json!({"type": "reaction", "reaction": {"message_id": "wamid.A1", "emoji": "👍"}}));
        assert!(check_reaction(ReactionRequest { emoji: "👍🏽".into() }, "wamid.A1").is_ok(), "a skin tone");
        assert!(check_reaction(ReactionRequest { emoji: String::new() }, "wamid.A1").is_ok(), "taken back");
        for word in ["ok", "thumbs up", "1"] {
            assert_eq!(
                check_reaction(ReactionRequest { emoji: word.into() }, "wamid.A1").unwrap_err().field,
                "reaction.emoji"
            );
        }
        assert!(check_reply_to("wamid.HBgNNTUxMTk4NzY1NDMyMRUCABEYEjAA").is_ok());
        assert_eq!(check_reply_to("msg_1").unwrap_err().field, "reply_to");
    }
}
