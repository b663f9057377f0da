//! A template's variables as Meta approved them, and the parameters of a send checked against
//! them the way Meta checks a send: the wrong number of parameters is Meta's 132000, a
//! parameter of the wrong kind (a text where the header takes an image, a name the template
//! does not have) its 132012. polite checks before anything is stored, so a campaign rejects
//! the one recipient whose parameters are wrong instead of Meta failing their message later.
//!
//! A template's placeholders are `{{1}}`, `{{2}}` … (positional) or `{{first_name}}` (named,
//! `parameter_format: NAMED`), in the header (text) and the body; a media header takes one
//! parameter of its format; a URL button with a variable takes one text parameter.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

/// The variables of one template, read from Meta's `components`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateShape {
    /// Placeholders are names (`{{first_name}}`) rather than positions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub named: bool,
    /// The body's placeholders, each once, positions in order (`1`, `2`) or names in order of
    /// appearance.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub body: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<HeaderShape>,
    /// The indexes of URL buttons whose link ends in a variable.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub url_buttons: Vec<u32>,
}

/// What a template's header takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HeaderShape {
    /// A text header and its placeholders (none for a fixed text).
    Text(Vec<String>),
    /// One parameter of this kind: `image`, `video`, `document` or `location`.
    Media(String),
}

/// Why a send's parameters do not fit its template.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Mismatch {
    /// The number of parameters differs from the template's (Meta's 132000).
    #[error("{part}: the template takes {expected} parameter(s), {given} given")]
    Count { part: String, expected: usize, given: usize },
    /// A parameter is not what the template takes there (Meta's 132012).
    #[error("{part}: {problem}")]
    Format { part: String, problem: String },
}

impl Mismatch {
    /// Meta's error code for the same mismatch.
    pub fn meta_code(&self) -> u32 {
        match self {
            Mismatch::Count { .. } => 132_000,
            Mismatch::Format { .. } => 132_012,
        }
    }
}

/// The placeholders of `text`, each once: positions sorted, names in order of appearance.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let after = &rest[open + 2..];
        let Some(close) = after.find("}}") else { break };
        let name = after[..close].trim();
        let valid = !name.is_empty() && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if valid && !found.iter().any(|f| f == name) {
            found.push(name.to_owned());
        }
        rest = &after[close + 2..];
    }
    if found.iter().all(|f| f.bytes().all(|b| b.is_ascii_digit())) {
        found.sort_by_key(|f| f.parse::<u32>().unwrap_or(u32::MAX));
    }
    found
}

/// A component's or parameter's `type`, lower case (Meta lists `BODY`, sends take `body`).
pub(crate) fn kind(component: &Value) -> String {
    component.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase()
}

/// A button component's `index` (Meta takes `0` and `"0"` alike).
pub(crate) fn button_index(component: &Value) -> Option<u64> {
    component.get("index").and_then(|i| i.as_u64().or_else(|| i.as_str()?.parse().ok()))
}

impl TemplateShape {
    /// The shape of a template Meta lists with these `components` and `parameter_format`
    /// (`NAMED` or `POSITIONAL`, the default).
    pub fn from_meta(components: &[Value], parameter_format: Option<&str>) -> TemplateShape {
        let mut shape = TemplateShape {
            named: parameter_format.is_some_and(|f| f.eq_ignore_ascii_case("named")),
            ..Self::default()
        };
        for component in components {
            let text = component.get("text").and_then(Value::as_str).unwrap_or_default();
            match kind(component).as_str() {
                "body" => shape.body = placeholders(text),
                "header" => {
                    let format = component.get("format").and_then(Value::as_str).unwrap_or("TEXT").to_ascii_lowercase();
                    shape.header = Some(if format == "text" {
                        HeaderShape::Text(placeholders(text))
                    } else {
                        HeaderShape::Media(format)
                    });
                }
                "buttons" => {
                    let buttons =
                        component.get("buttons").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
                    shape.url_buttons = buttons
                        .iter()
                        .zip(0u32..)
                        .filter(|(b, _)| {
                            kind(b) == "url" && b.get("url").and_then(Value::as_str).is_some_and(|u| u.contains("{{"))
                        })
                        .map(|(_, i)| i)
                        .collect();
                }
                _ => {}
            }
        }
        shape
    }

    /// Whether the template takes any parameter at all.
    pub fn takes_parameters(&self) -> bool {
        !self.body.is_empty()
            || !self.url_buttons.is_empty()
            || match &self.header {
                Some(HeaderShape::Text(p)) => !p.is_empty(),
                Some(HeaderShape::Media(_)) => true,
                None => false,
            }
    }

    /// Checks a send's `components` (Meta's form) as Meta would.
    ///
    /// # Errors
    /// The first [`Mismatch`].
    pub fn check(&self, components: &[Value]) -> Result<(), Mismatch> {
        let params_of = |wanted: &str| -> Vec<Value> {
            components
                .iter()
                .filter(|c| kind(c) == wanted)
                .flat_map(|c| c.get("parameters").and_then(Value::as_array).cloned().unwrap_or_default())
                .collect()
        };
        self.check_texts("body", &self.body, &params_of("body"), &["text", "currency", "date_time"])?;
        let header = params_of("header");
        match &self.header {
            Some(HeaderShape::Text(names)) => self.check_texts("header", names, &header, &["text"])?,
            Some(HeaderShape::Media(format)) => {
                count("header", 1, header.len())?;
                let given = header.first().map(kind).unwrap_or_default();
                if &given != format || header.first().and_then(|p| p.get(format.as_str())).is_none() {
                    return Err(Mismatch::Format {
                        part: "header".into(),
                        problem: format!("the template's header takes a {format} parameter, not {given}"),
                    });
                }
            }
            None => count("header", 0, header.len())?,
        }
        for component in components.iter().filter(|c| kind(c) == "button") {
            let index = button_index(component);
            let is_url =
                component.get("sub_type").and_then(Value::as_str).is_some_and(|s| s.eq_ignore_ascii_case("url"));
            if is_url && !index.is_some_and(|i| self.url_buttons.iter().any(|b| u64::from(*b) == i)) {
                return Err(Mismatch::Format {
                    part: format!("button {}", index.unwrap_or_default()),
                    problem: "the template has no URL button with a variable there".into(),
                });
            }
        }
        for index in &self.url_buttons {
            let given = components
                .iter()
                .filter(|c| kind(c) == "button")
                .find(|c| button_index(c) == Some(u64::from(*index)))
                .and_then(|c| c.get("parameters").and_then(Value::as_array).map(Vec::len))
                .unwrap_or(0);
            count(&format!("button {index}"), 1, given)?;
        }
        Ok(())
    }

    fn check_texts(&self, part: &str, names: &[String], given: &[Value], kinds: &[&str]) -> Result<(), Mismatch> {
        count(part, names.len(), given.len())?;
        for parameter in given {
            let k = kind(parameter);
            if !kinds.contains(&k.as_str()) {
                return Err(Mismatch::Format {
                    part: part.into(),
                    problem: format!("a {k} parameter where text is taken"),
                });
            }
            if self.named {
                let name = parameter.get("parameter_name").and_then(Value::as_str).unwrap_or_default();
                if !names.iter().any(|n| n == name) {
                    return Err(Mismatch::Format {
                        part: part.into(),
                        problem: format!(
                            "the template's placeholders are {}; {} is not one of them",
                            names.join(", "),
                            if name.is_empty() { "a parameter without parameter_name" } else { name }
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The body component that fills the template's body placeholders from `values` — keyed
    /// by name (`{"first_name": "Ana"}`) or by position (`{"1": "Ana"}`), each a text.
    ///
    /// # Errors
    /// A [`Mismatch`] naming the missing, unknown or non-text value.
    pub fn body_from(&self, values: &Map<String, Value>) -> Result<Value, Mismatch> {
        count("body", self.body.len(), values.len())?;
        let mut parameters = Vec::with_capacity(self.body.len());
        for name in &self.body {
            let value = values.get(name).ok_or_else(|| Mismatch::Format {
                part: "body".into(),
                problem: format!(
                    "no value for {{{{{name}}}}} (given: {})",
                    values.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            })?;
            let text = match value {
                Value::String(s) if !s.trim().is_empty() => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => {
                    return Err(Mismatch::Format {
                        part: "body".into(),
                        problem: format!("{{{{{name}}}}} must be a non-empty text"),
                    });
                }
            };
            parameters.push(if self.named {
                json!({"type": "text", "parameter_name": name, "text": text})
            } else {
                json!({"type": "text", "text": text})
            });
        }
        Ok(json!({"type": "body", "parameters": parameters}))
    }
}

fn count(part: &str, expected: usize, given: usize) -> Result<(), Mismatch> {
    if expected == given { Ok(()) } else { Err(Mismatch::Count { part: part.into(), expected, given }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(components: &Value, format: Option<&str>) -> TemplateShape {
        TemplateShape::from_meta(components.as_array().map(Vec::as_slice).unwrap_or_default(), format)
    }

    #[test]
    fn placeholders_are_read_once_each_positions_in_order() {
        assert_eq!(placeholders("Hi {{2}}, {{1}} and {{ 2 }}"), ["1", "2"]);
        assert_eq!(placeholders("Hi {{first_name}}, {{code}}; {{first_name}}"), ["first_name", "code"]);
        assert_eq!(placeholders("no variables {{}} {{Bad-Name}} {{open"), Vec::<String>::new());
    }

    #[test]
    fn the_shape_comes_from_metas_components() {
        let s = shape(
            &json!([
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": "Hi {{first_name}}, {{discount}} off"},
                {"type": "BUTTONS", "buttons": [{"type": "QUICK_REPLY", "text": "Stop"}, {"type": "URL", "url": "https://shop.example/{{1}}"}]}
            ]),
            Some("NAMED"),
        );
        assert!(s.named);
        assert_eq!(s.body, ["first_name", "discount"]);
        assert_eq!(s.header, Some(HeaderShape::Media("image".into())));
        assert_eq!(s.url_buttons, [1]);
        assert!(s.takes_parameters());
        assert!(!shape(&json!([{"type": "BODY", "text": "Fixed text"}]), None).takes_parameters());
    }

    #[test]
    fn a_send_is_checked_as_meta_checks_it() {
        let s = shape(&json!([{"type": "BODY", "text": "Hi {{1}}, your order {{2}} shipped"}]), None);
        let body = |params: Value| json!({"type": "body", "parameters": params});
        assert_eq!(s.check(&[body(json!([{"type": "text", "text": "Ana"}, {"type": "text", "text": "A1"}]))]), Ok(()));
        let short = s.check(&[body(json!([{"type": "text", "text": "Ana"}]))]).unwrap_err();
        assert_eq!(
            (short.meta_code(), short.to_string()),
            (132_000, "body: the template takes 2 parameter(s), 1 given".into())
        );
        assert_eq!(s.check(&[]).map_err(|e| e.meta_code()), Err(132_000), "none given");
        let image = s.check(&[body(json!([{"type": "image", "image": {}}, {"type": "text", "text": "A1"}]))]);
        assert_eq!(image.map_err(|e| e.meta_code()), Err(132_012));
        let header = s.check(&[
            body(json!([{"type": "text", "text": "Ana"}, {"type": "text", "text": "A1"}])),
            json!({"type": "header", "parameters": [{"type": "text", "text": "x"}]}),
        ]);
        assert_eq!(header.map_err(|e| e.meta_code()), Err(132_000), "the template has no header variable");
    }

    #[test]
    fn named_media_and_url_button_parameters_are_checked() {
        let s = shape(
            &json!([
                {"type": "HEADER", "format": "IMAGE"},
                {"type": "BODY", "text": "Hi {{first_name}}"},
                {"type": "BUTTONS", "buttons": [{"type": "URL", "url": "https://shop.example/{{1}}"}]}
            ]),
            Some("NAMED"),
        );
        let header = json!({"type": "header", "parameters": [{"type": "image", "image": {"link": "https://x/y.png"}}]});
        let body =
            json!({"type": "body", "parameters": [{"type": "text", "parameter_name": "first_name", "text": "Ana"}]});
        let button =
            json!({"type": "button", "sub_type": "url", "index": "0", "parameters": [{"type": "text", "text": "ana"}]});
        assert_eq!(s.check(&[header.clone(), body.clone(), button.clone()]), Ok(()));
        assert_eq!(s.check(&[header.clone(), body.clone()]).map_err(|e| e.meta_code()), Err(132_000), "no button");
        let video = json!({"type": "header", "parameters": [{"type": "video", "video": {"link": "https://x/y.mp4"}}]});
        assert_eq!(s.check(&[video, body, button.clone()]).map_err(|e| e.meta_code()), Err(132_012));
        let unnamed =
            json!({"type": "body", "parameters": [{"type": "text", "parameter_name": "name", "text": "Ana"}]});
        let wrong = s.check(&[header, unnamed, button]).unwrap_err();
        assert_eq!(wrong.meta_code(), 132_012);
        assert!(wrong.to_string().contains("first_name"), "{wrong}");
    }

    #[test]
    fn a_recipients_values_fill_the_body() {
        let named = shape(&json!([{"type": "BODY", "text": "Hi {{first_name}}, {{discount}} off"}]), Some("NAMED"));
        let values = json!({"first_name": "Ana", "discount": "20%"});
        let body = named.body_from(values.as_object().unwrap_or(&Map::new())).unwrap_or_default();
        assert_eq!(
            body,
            json!({"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": "discount", "text": "20%"}
            ]})
        );
        assert_eq!(named.check(std::slice::from_ref(&body)), Ok(()), "what it fills passes the check");
        let positional = shape(&json!([{"type": "BODY", "text": "Order {{1}}: {{2}} items"}]), None);
        let filled = positional.body_from(json!({"2": 3, "1": "A1"}).as_object().unwrap_or(&Map::new()));
        assert_eq!(filled.map(|b| b["parameters"][1]["text"].clone()), Ok(json!("3")));
        let missing = named.body_from(json!({"first_name": "Ana"}).as_object().unwrap_or(&Map::new()));
        assert_eq!(missing.map_err(|e| e.meta_code()), Err(132_000));
        let unknown = named.body_from(json!({"first_name": "Ana", "code": "X"}).as_object().unwrap_or(&Map::new()));
        assert_eq!(unknown.map_err(|e| e.meta_code()), Err(132_012));
        let empty = named.body_from(json!({"first_name": "", "discount": "x"}).as_object().unwrap_or(&Map::new()));
        assert_eq!(empty.map_err(|e| e.meta_code()), Err(132_012));
    }
}
