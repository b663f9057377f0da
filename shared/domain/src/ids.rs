//! Identities of the people polite messages: WhatsApp ids (phone numbers as digits) and
//! business-scoped user ids, parsed once at the edge so invalid values cannot exist inside.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use phonenumber::metadata::DATABASE;
use serde::{Serialize, Serializer};

/// Why a phone number or user id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// Characters other than an optional leading `+`, digits and common separators.
    #[error("a phone number may hold only digits, an optional leading '+' and separators (space, '-', '.', '(', ')')")]
    InvalidCharacters,
    /// E.164 numbers have at most 15 digits and country codes never start with 0.
    #[error("a phone number must have 7 to 15 digits in E.164 form and must not start with 0 (got {0} digits)")]
    InvalidLength(usize),
    /// The leading digits are not a country calling code libphonenumber knows.
    #[error("the number does not start with a known country calling code")]
    UnknownCountryCode,
    /// A business-scoped user id must look like `CC.opaque` (e.g. `US.1349…`).
    #[error(
        "a business-scoped user id looks like 'US.13491208655302741918' (two upper-case letters, '.', then letters or digits)"
    )]
    InvalidUserId,
}

/// HMAC-SHA256 of `text` under `key`, hex: names something that holds a phone number (a
/// number, a key derived from one) without revealing it.
pub fn keyed_hash(key: &[u8], text: &str) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    // HMAC accepts keys of any length.
    let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(text.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A WhatsApp id: the recipient's phone number in E.164 form, digits only (`"16505551234"`).
///
/// Parsed from E.164 with or without `+`; separators people type (`+1 (650) 555-1234`) are
/// removed. The country calling code must be one libphonenumber knows, so a `WaId` always
/// has a country. Full validity (is this range allocated?) is a separate, softer question:
/// see [`WaId::is_valid_number`].
#[derive(Clone)]
pub struct WaId {
    digits: String,
    country_code: u16,
    /// What libphonenumber says of the number, computed on first use: parsing with its
    /// metadata costs microseconds, and the gate asks several questions per decision.
    facts: OnceLock<PhoneFacts>,
}

/// libphonenumber's answers for one number.
#[derive(Debug, Clone)]
pub(crate) struct PhoneFacts {
    pub(crate) region: Option<String>,
    pub(crate) valid: bool,
    pub(crate) zones: crate::zone::PhoneZones,
    /// The same zones, looked up in the tz database once (the gate needs them per decision).
    pub(crate) iana_zones: Vec<crate::IanaZone>,
}

// Identity is the digits; the cached facts follow from them.
/// FNV-1a of `s`: stable across builds and machines (unlike `std`'s hasher) and well spread,
/// for decisions derived from an id — its due-index shard, its send jitter.
pub fn stable_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

impl PartialEq for WaId {
    fn eq(&self, other: &Self) -> bool {
        self.digits == other.digits
    }
}
impl Eq for WaId {}
impl std::hash::Hash for WaId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.digits.hash(state);
    }
}
impl PartialOrd for WaId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for WaId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.digits.cmp(&other.digits)
    }
}

impl WaId {
    /// Parses `+16505551234`, `16505551234` or `+1 (650) 555-1234`.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let trimmed = input.trim();
        let body = trimmed.strip_prefix('+').unwrap_or(trimmed);
        let mut digits = String::with_capacity(body.len());
        for c in body.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(IdError::InvalidCharacters),
            }
        }
        // E.164: at most 15 digits; the shortest allocated ones have 7 (Niue, St Helena, Tokelau: +683 7012).
        if !(7..=15).contains(&digits.len()) || digits.starts_with('0') {
            return Err(IdError::InvalidLength(digits.len()));
        }
        let country_code = country_code_of(&digits).ok_or(IdError::UnknownCountryCode)?;
        Ok(Self { digits, country_code, facts: OnceLock::new() })
    }

    /// The digits, as WhatsApp writes a `wa_id`.
    pub fn as_str(&self) -> &str {
        &self.digits
    }

    /// `+` and the digits: the form the Graph API's `to` field takes.
    pub fn e164(&self) -> String {
        format!("+{}", self.digits)
    }

    /// The country calling code (`1` for NANP, `55` for Brazil, `7` for Russia…).
    pub fn country_code(&self) -> u16 {
        self.country_code
    }

    /// The ISO 3166 region libphonenumber assigns the number to (`"US"`, `"BR"`), when the
    /// number is specific enough to tell.
    pub fn region(&self) -> Option<String> {
        self.facts().region.clone()
    }

    /// The region, or when the number does not tell, the main region of its calling code
    /// (`"US"` for an unallocated +1 number, `"RU"` for +7).
    pub fn main_region(&self) -> Option<String> {
        self.region().or_else(|| DATABASE.region(&self.country_code)?.first().map(|r| (*r).to_owned()))
    }

    /// Whether libphonenumber considers the number allocated and well-formed for its region.
    pub fn is_valid_number(&self) -> bool {
        self.facts().valid
    }

    /// The number with all but the country code and last two digits hidden, for logs
    /// (`55*********21`). Numbers never appear in logs in clear.
    pub fn masked(&self) -> String {
        let cc = self.country_code.to_string();
        let n = self.digits.len();
        let tail = &self.digits[n - 2..];
        format!("{cc}{}{tail}", "*".repeat(n - cc.len() - 2))
    }

    /// HMAC-SHA256 of the digits under `key`, hex: identifies a number without revealing it
    /// (erasure tombstones, metrics dimensions). Without the key it cannot be reversed by
    /// enumerating the (small) space of phone numbers.
    pub fn keyed_hash(&self, key: &[u8]) -> String {
        keyed_hash(key, &self.digits)
    }

    pub(crate) fn facts(&self) -> &PhoneFacts {
        self.facts.get_or_init(|| {
            let parsed = phonenumber::parse(None, self.e164()).ok();
            let zones = crate::zone::compute_zones(&self.digits, self.country_code, parsed.as_ref());
            let iana_zones = zones.zones.iter().filter_map(|z| crate::IanaZone::parse(z).ok()).collect();
            PhoneFacts {
                region: parsed.as_ref().and_then(|n| n.country().id()).map(|id| id.as_ref().to_owned()),
                valid: parsed.as_ref().is_some_and(|n| n.is_valid_with(&DATABASE)),
                zones,
                iana_zones,
            }
        })
    }
}

/// The zones libphonenumber gives for `number`, exactly as its `time_zones_for_number`.
///
/// Landlines and NANP numbers usually resolve to one zone; mobile ranges in most countries
/// resolve to every zone of the country (Australia: 8, Russia: 16).
pub fn zones_for_number(number: &WaId) -> crate::zone::PhoneZones {
    number.facts().zones.clone()
}

/// The country calling code at the start of `digits`, if libphonenumber knows one.
/// Calling codes are prefix-free and 1–3 digits long.
fn country_code_of(digits: &str) -> Option<u16> {
    (1..=3).find_map(|len| {
        let code: u16 = digits.get(..len)?.parse().ok()?;
        DATABASE.by_code(&code).is_some().then_some(code)
    })
}

impl fmt::Display for WaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.digits)
    }
}

/// Debug output is masked: ids end up in panics and error chains, which reach logs.
impl fmt::Debug for WaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WaId({})", self.masked())
    }
}

impl FromStr for WaId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl FromStr for BusinessScopedUserId {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

deserialize_from_str!(WaId, BusinessScopedUserId);

impl Serialize for WaId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.digits)
    }
}

/// A business-scoped user id (BSUID), e.g. `US.13491208655302741918`, or a parent BSUID
/// `US.ENT.…` (some managed businesses): since 2026 webhook payloads identify a user by it and
/// may omit the phone number.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct BusinessScopedUserId(String);

/// The marker of a parent BSUID, between the region and the opaque part.
const PARENT_MARKER: &str = "ENT.";

impl BusinessScopedUserId {
    /// Parses `CC.opaque` or `CC.ENT.opaque`: two upper-case letters, a dot, an optional
    /// `ENT.`, then 1–128 ASCII letters or digits.
    pub fn parse(input: &str) -> Result<Self, IdError> {
        let (region, rest) = input.split_once('.').ok_or(IdError::InvalidUserId)?;
        let opaque = rest.strip_prefix(PARENT_MARKER).unwrap_or(rest);
        let region_ok = region.len() == 2 && region.bytes().all(|b| b.is_ascii_uppercase());
        let opaque_ok = (1..=128).contains(&opaque.len()) && opaque.bytes().all(|b| b.is_ascii_alphanumeric());
        if region_ok && opaque_ok { Ok(Self(input.to_owned())) } else { Err(IdError::InvalidUserId) }
    }

    /// The id as WhatsApp writes it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The region prefix (`"US"`): the person's country when no phone number is known.
    pub fn region(&self) -> &str {
        &self.0[..2]
    }

    /// A parent BSUID (`CC.ENT.…`).
    pub fn is_parent(&self) -> bool {
        self.0[3..].starts_with(PARENT_MARKER)
    }

    /// For logs: the region and the last two characters, the rest starred.
    pub fn masked(&self) -> String {
        let n = self.0.len();
        let hidden = n.saturating_sub(5);
        format!("{}{}{}", &self.0[..3], "*".repeat(hidden), &self.0[3 + hidden..])
    }

    /// HMAC-SHA256 of the id under `key`, hex (erasure tombstones): never equal to a phone
    /// number's, whose digits contain no dot.
    pub fn keyed_hash(&self, key: &[u8]) -> String {
        keyed_hash(key, &self.0)
    }
}

/// Debug output is masked: ids end up in panics and error chains, which reach logs.
impl fmt::Debug for BusinessScopedUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BusinessScopedUserId({})", self.masked())
    }
}

impl fmt::Display for BusinessScopedUserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a caller or a webhook names a person: a phone number or a business-scoped user id (a
/// contact reference: docs/architecture.md, "HTTP contract"). Both may name the same person
/// once polite has seen them together.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContactRef {
    Phone(WaId),
    User(BusinessScopedUserId),
}

/// A contact reference that is neither form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "a contact is a phone number in E.164 form ('16505551234' or '+16505551234') or a business-scoped user id ('US.13491208655302741918'): {0}"
)]
pub struct ContactRefError(pub IdError);

impl ContactRef {
    /// A BSUID when the input starts like one (two letters and a dot), else a phone number.
    pub fn parse(input: &str) -> Result<Self, ContactRefError> {
        let trimmed = input.trim();
        let looks_like_user =
            trimmed.as_bytes().get(2) == Some(&b'.') && trimmed.as_bytes()[..2].iter().all(u8::is_ascii_alphabetic);
        if looks_like_user {
            BusinessScopedUserId::parse(trimmed).map(Self::User).map_err(ContactRefError)
        } else {
            WaId::parse(trimmed).map(Self::Phone).map_err(ContactRefError)
        }
    }

    /// The person's region: the phone number's (libphonenumber), else the BSUID's prefix.
    pub fn region(&self) -> Option<String> {
        match self {
            Self::Phone(p) => p.region(),
            Self::User(u) => Some(u.region().to_owned()),
        }
    }

    /// The country whose rules apply: the number's main region, else the user id's prefix.
    pub fn main_region(&self) -> Option<String> {
        match self {
            Self::Phone(p) => p.main_region(),
            Self::User(u) => Some(u.region().to_owned()),
        }
    }

    /// As written in keys and answers: a phone number's digits or the user id.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Phone(p) => p.as_str(),
            Self::User(u) => u.as_str(),
        }
    }

    /// The phone number, when this reference is one.
    pub fn phone(&self) -> Option<&WaId> {
        match self {
            Self::Phone(p) => Some(p),
            Self::User(_) => None,
        }
    }

    /// For logs (see [`WaId::masked`], [`BusinessScopedUserId::masked`]).
    pub fn masked(&self) -> String {
        match self {
            Self::Phone(p) => p.masked(),
            Self::User(u) => u.masked(),
        }
    }

    /// A keyed hash that names the identity without revealing it.
    pub fn keyed_hash(&self, key: &[u8]) -> String {
        match self {
            Self::Phone(p) => p.keyed_hash(key),
            Self::User(u) => u.keyed_hash(key),
        }
    }
}

impl From<WaId> for ContactRef {
    fn from(phone: WaId) -> Self {
        Self::Phone(phone)
    }
}

impl From<BusinessScopedUserId> for ContactRef {
    fn from(user: BusinessScopedUserId) -> Self {
        Self::User(user)
    }
}

impl fmt::Display for ContactRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ContactRef {
    type Err = ContactRefError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for ContactRef {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

deserialize_from_str!(ContactRef);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn e164_with_and_without_plus_parse_to_the_same_digits() {
        let a = WaId::parse("+5511987654321").unwrap();
        let b = WaId::parse("5511987654321").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.as_str(), "5511987654321");
        assert_eq!(a.e164(), "+5511987654321");
    }

    #[test]
    fn typed_separators_are_removed() {
        assert_eq!(WaId::parse(" +1 (650) 555-1234 ").unwrap().as_str(), "16505551234");
    }

    #[test]
    fn letters_and_symbols_are_refused() {
        assert_eq!(WaId::parse("+1650555abcd"), Err(IdError::InvalidCharacters));
        assert_eq!(WaId::parse("1650555*1234"), Err(IdError::InvalidCharacters));
        assert_eq!(WaId::parse("++16505551234"), Err(IdError::InvalidCharacters));
    }

    #[test]
    fn numbers_of_impossible_length_are_refused() {
        assert_eq!(WaId::parse("123456"), Err(IdError::InvalidLength(6)));
        assert_eq!(WaId::parse("1234567890123456"), Err(IdError::InvalidLength(16)));
        assert_eq!(WaId::parse("05511987654321"), Err(IdError::InvalidLength(14)));
        assert_eq!(WaId::parse(""), Err(IdError::InvalidLength(0)));
    }

    #[test]
    fn unknown_country_codes_are_refused() {
        // +999 is not assigned.
        assert_eq!(WaId::parse("+99912345678"), Err(IdError::UnknownCountryCode));
    }

    #[test]
    fn country_calling_code_is_detected_for_one_two_and_three_digit_codes() {
        assert_eq!(WaId::parse("+16505551234").unwrap().country_code(), 1);
        assert_eq!(WaId::parse("+79161234567").unwrap().country_code(), 7);
        assert_eq!(WaId::parse("+5511987654321").unwrap().country_code(), 55);
        assert_eq!(WaId::parse("+351912345678").unwrap().country_code(), 351);
        assert_eq!(WaId::parse("+2348031234567").unwrap().country_code(), 234);
    }

    #[test]
    fn region_comes_from_libphonenumber() {
        assert_eq!(WaId::parse("+12125551234").unwrap().region().as_deref(), Some("US"));
        assert_eq!(WaId::parse("+14165551234").unwrap().region().as_deref(), Some("CA"));
        assert_eq!(WaId::parse("+5511987654321").unwrap().region().as_deref(), Some("BR"));
    }

    #[test]
    fn validity_is_reported_separately_from_parsing() {
        assert!(WaId::parse("+5511987654321").unwrap().is_valid_number());
        // 555-01xx numbers are reserved for fiction: parseable, not valid.
        assert!(!WaId::parse("+15550100050").unwrap().is_valid_number());
    }

    #[test]
    fn masked_form_hides_the_subscriber_digits() {
        let id = WaId::parse("+5511987654321").unwrap();
        assert_eq!(id.masked(), "55*********21");
        assert_eq!(format!("{id:?}"), "WaId(55*********21)");
        assert!(!format!("{id:?}").contains("98765"));
    }

    #[test]
    fn keyed_hashes_depend_on_the_key_and_hide_the_number() {
        let id = WaId::parse("+5511987654321").unwrap();
        let a = id.keyed_hash(b"key-a");
        assert_eq!(a, id.keyed_hash(b"key-a"));
        assert_ne!(a, id.keyed_hash(b"key-b"));
        assert_eq!(a.len(), 64);
        assert!(!a.contains("987654321"));
    }

    #[test]
    fn serde_round_trip_uses_digits_and_validates() {
        let id: WaId = serde_json::from_str("\"+16505551234\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"16505551234\"");
        assert!(serde_json::from_str::<WaId>("\"not a number\"").is_err());
    }

    #[test]
    fn business_scoped_user_ids_parse_and_expose_their_region() {
        let id = BusinessScopedUserId::parse("US.13491208655302741918").unwrap();
        assert_eq!(id.region(), "US");
        for bad in ["", "US", "US.", "us.123", "USA.123", "US.12 3", "US.1-2", "US.ENT.", "US.ENT.a.b"] {
            assert_eq!(BusinessScopedUserId::parse(bad), Err(IdError::InvalidUserId), "{bad}");
        }
        assert_eq!(BusinessScopedUserId::parse(&format!("US.{}", "a".repeat(129))), Err(IdError::InvalidUserId));
        assert!(BusinessScopedUserId::parse(&format!("US.{}", "a".repeat(128))).is_ok());
    }

    #[test]
    fn a_parent_user_id_is_a_user_id_with_ent_after_its_region() {
        let parent = BusinessScopedUserId::parse("US.ENT.11815799212886844830").unwrap();
        assert!(parent.is_parent());
        assert_eq!(parent.region(), "US");
        assert!(!BusinessScopedUserId::parse("US.13491208655302741918").unwrap().is_parent());
        // "ENT" alone is an ordinary opaque part.
        assert!(!BusinessScopedUserId::parse("US.ENT").is_ok_and(|id| id.is_parent()));
    }

    #[test]
    fn user_ids_are_masked_in_debug_output_and_hashed_apart_from_numbers() {
        let id = BusinessScopedUserId::parse("US.13491208655302741918").unwrap();
        assert_eq!(id.masked(), "US.******************18");
        assert_eq!(format!("{id:?}"), "BusinessScopedUserId(US.******************18)");
        assert_ne!(id.keyed_hash(b"k"), keyed_hash(b"k", "13491208655302741918"));
        assert_eq!(id.keyed_hash(b"k"), id.keyed_hash(b"k"));
    }

    #[test]
    fn a_contact_reference_is_a_phone_number_or_a_user_id_and_says_which_form_it_wanted() {
        let phone = ContactRef::parse("+1 650 555 1234").unwrap();
        assert_eq!(phone, ContactRef::Phone(WaId::parse("16505551234").unwrap()));
        assert_eq!(phone.to_string(), "16505551234");
        let user = ContactRef::parse("BR.98765432101234567890").unwrap();
        assert_eq!(user.to_string(), "BR.98765432101234567890");
        assert_eq!(user.region().as_deref(), Some("BR"));
        assert_eq!(phone.region().as_deref(), Some("US"));
        assert!(ContactRef::parse("US.ENT.118157992128868448").is_ok());
        let err = ContactRef::parse("not-a-contact").unwrap_err();
        assert!(
            err.to_string().contains("'16505551234'") && err.to_string().contains("'US.13491208655302741918'"),
            "{err}"
        );
        let json: ContactRef = serde_json::from_str("\"US.13491208655302741918\"").unwrap();
        assert_eq!(serde_json::to_string(&json).unwrap(), "\"US.13491208655302741918\"");
        assert_eq!(user.masked(), "BR.******************90");
        assert_eq!(phone.masked(), WaId::parse("16505551234").unwrap().masked());
    }
}
