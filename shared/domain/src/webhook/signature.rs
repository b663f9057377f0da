//! `X-Hub-Signature-256`: HMAC-SHA256 of the raw request body, keyed with the app secret.
//!
//! Verified over the exact bytes received — never re-serialised JSON, which changes escapes,
//! key order and whitespace. The header is attacker-controlled: any shape of it is handled
//! without panicking, and the comparison is constant-time (`Mac::verify_slice`).

use std::fmt::Write as _;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// The header WhatsApp signs with (header names are case-insensitive; callers look it up so).
pub const SIGNATURE_HEADER: &str = "x-hub-signature-256";

/// Why a signature was refused. Each maps to 401; the variants exist for logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the X-Hub-Signature-256 header is missing")]
    Missing,
    #[error("the X-Hub-Signature-256 header is not 'sha256=' followed by 64 hex digits")]
    Malformed,
    #[error("the X-Hub-Signature-256 signature does not match the body")]
    Mismatch,
}

/// Verifies `header` (`sha256=<64 hex>`) against `body` with `app_secret`.
///
/// Meta signs a body in which non-ASCII characters are `\uXXXX`-escaped; if the body we got
/// carries raw UTF-8 and the signature does not match, the escaped form is tried as well (as
/// the whatsapp-api-js client does), so a proxy that unescaped the JSON does not cost events.
pub fn verify_signature(app_secret: &[u8], body: &[u8], header: Option<&str>) -> Result<(), SignatureError> {
    let expected = parse_header(header.ok_or(SignatureError::Missing)?)?;
    if mac_of(app_secret, body).verify_slice(&expected).is_ok() {
        return Ok(());
    }
    let escaped = if body.is_ascii() { None } else { escape_non_ascii(body) };
    match escaped {
        Some(escaped) if mac_of(app_secret, &escaped).verify_slice(&expected).is_ok() => Ok(()),
        _ => Err(SignatureError::Mismatch),
    }
}

/// The header value for `body`, as Meta would send it (for the simulator and tests).
pub fn sign(app_secret: &[u8], body: &[u8]) -> String {
    format!("sha256={}", hex::encode(mac_of(app_secret, body).finalize().into_bytes()))
}

fn mac_of(key: &[u8], body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(body);
    mac
}

fn parse_header(value: &str) -> Result<[u8; 32], SignatureError> {
    let value = value.trim();
    let hex_digits = match value.get(..7) {
        Some(prefix) if prefix.eq_ignore_ascii_case("sha256=") => &value[7..],
        _ => return Err(SignatureError::Malformed),
    };
    let mut out = [0u8; 32];
    // decode_to_slice checks the length (64 digits) and accepts either case.
    hex::decode_to_slice(hex_digits, &mut out).map_err(|_| SignatureError::Malformed)?;
    Ok(out)
}

/// `body` with every non-ASCII character written as JSON `\uXXXX` escapes (UTF-16 units,
/// lower-case hex); `None` when the body is not UTF-8.
fn escape_non_ascii(body: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let mut out = String::with_capacity(body.len() + 16);
    for c in text.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                // Writing to a String cannot fail.
                let _ = write!(out, "\\u{unit:04x}");
            }
        }
    }
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"app-secret";
    const BODY: &[u8] = br#"{"object":"whatsapp_business_account","entry":[]}"#;

    #[test]
    fn a_signature_made_with_the_app_secret_verifies() {
        let header = sign(SECRET, BODY);
        assert_eq!(verify_signature(SECRET, BODY, Some(&header)), Ok(()));
    }

    #[test]
    fn known_answer_matches_hmac_sha256() {
        // RFC 4231 test case 2.
        let header = sign(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(header, "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    }

    #[test]
    fn upper_case_hex_and_prefix_are_accepted() {
        let header = sign(SECRET, BODY).to_uppercase();
        assert_eq!(verify_signature(SECRET, BODY, Some(&header)), Ok(()));
    }

    #[test]
    fn a_changed_body_or_wrong_secret_is_a_mismatch() {
        let header = sign(SECRET, BODY);
        assert_eq!(verify_signature(SECRET, b"{}", Some(&header)), Err(SignatureError::Mismatch));
        assert_eq!(verify_signature(b"other", BODY, Some(&header)), Err(SignatureError::Mismatch));
    }

    #[test]
    fn a_missing_header_is_reported_as_missing() {
        assert_eq!(verify_signature(SECRET, BODY, None), Err(SignatureError::Missing));
    }

    #[test]
    fn malformed_headers_are_refused_without_panicking() {
        let good = sign(SECRET, BODY);
        for bad in [
            "",
            "sha256=",
            "sha1=abc",
            &good[7..],              // no prefix
            &good[..good.len() - 1], // 63 digits
            &format!("{good}0"),     // 65 digits
            "sha256=zz5cc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            "sha256=ééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééééé",
            "é",
            "sha25",
        ] {
            assert_eq!(verify_signature(SECRET, BODY, Some(bad)), Err(SignatureError::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn a_body_signed_in_escaped_form_verifies_when_received_unescaped() {
        let escaped = br#"{"text":"Parar promo\u00e7\u00f5es \ud83d\ude00"}"#;
        let raw = "{\"text\":\"Parar promoções 😀\"}".as_bytes();
        let header = sign(SECRET, escaped);
        assert_eq!(verify_signature(SECRET, raw, Some(&header)), Ok(()));
        assert_eq!(verify_signature(SECRET, escaped, Some(&header)), Ok(()));
    }
}
