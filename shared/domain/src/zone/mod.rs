//! Where is the recipient? IANA time zones, and the zones a phone number may be in.
//!
//! The tz database is compiled into the binary (jiff's `tzdb-bundle-always`): the
//! `provided.al2023` Lambda image cannot be assumed to carry `/usr/share/zoneinfo`.
//! The phone-prefix → zones table is generated from libphonenumber
//! (`tools/gen_zone_table.py`) and keeps its multi-zone and unknown answers as they are.

mod prefix_data;

use std::fmt;

use jiff::tz::TimeZone;
use phonenumber::metadata::DATABASE;
use serde::{Serialize, Serializer};

/// libphonenumber's placeholder for "no zone known"; never a real zone.
const UNKNOWN_ZONE: &str = "Etc/Unknown";

/// The version of libphonenumber the prefix table comes from.
pub const PREFIX_TABLE_VERSION: &str = prefix_data::SOURCE_VERSION;

/// A time zone from the IANA database, by name (`"Europe/Lisbon"`).
#[derive(Clone)]
pub struct IanaZone {
    name: String,
    tz: TimeZone,
}

/// The IANA database compiled into the binary. Used explicitly (not `TimeZone::get`, which
/// prefers the host's zoneinfo when there is one) so every machine decides the same way.
/// jiff caches each zone once parsed.
fn bundled_db() -> &'static jiff::tz::TimeZoneDatabase {
    static DB: std::sync::LazyLock<jiff::tz::TimeZoneDatabase> =
        std::sync::LazyLock::new(jiff::tz::TimeZoneDatabase::bundled);
    &DB
}

/// The name is not a zone of the bundled IANA database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{0}' is not an IANA time zone name (e.g. 'Europe/Lisbon', 'America/Sao_Paulo')")]
pub struct UnknownZone(pub String);

impl IanaZone {
    /// Looks `name` up in the compiled-in IANA database. Backward-compatible aliases such
    /// as `Asia/Calcutta` are accepted; `Etc/Unknown` and fixed offsets typed as text are not.
    pub fn parse(name: &str) -> Result<Self, UnknownZone> {
        let name = name.trim();
        if name.is_empty() || name.eq_ignore_ascii_case(UNKNOWN_ZONE) || !name.contains('/') && name != "UTC" {
            return Err(UnknownZone(name.to_owned()));
        }
        let tz = bundled_db().get(name).map_err(|_| UnknownZone(name.to_owned()))?;
        Ok(Self { name: name.to_owned(), tz })
    }

    /// Coordinated Universal Time.
    pub fn utc() -> Self {
        Self { name: "UTC".to_owned(), tz: TimeZone::UTC }
    }

    /// The name as given.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rules of the zone.
    pub fn tz(&self) -> &TimeZone {
        &self.tz
    }
}

impl PartialEq for IanaZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}
impl Eq for IanaZone {}

impl fmt::Debug for IanaZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IanaZone({})", self.name)
    }
}

impl fmt::Display for IanaZone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl std::str::FromStr for IanaZone {
    type Err = UnknownZone;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

deserialize_from_str!(IanaZone);

impl Serialize for IanaZone {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.name)
    }
}

/// How precisely libphonenumber could place a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PrefixPrecision {
    /// A geographical number (landline, NANP area code, geo-mobile country): the zones of
    /// its area.
    Area,
    /// A mobile or non-geographical number: only the country is known, so every zone of it.
    Country,
    /// libphonenumber has no zone for the number (unknown type, or `Etc/Unknown`).
    Unknown,
}

/// The zones a phone number may be in, per libphonenumber, as candidate names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneZones {
    /// Candidate zone names; empty when unknown.
    pub zones: Vec<&'static str>,
    /// How they were found.
    pub precision: PrefixPrecision,
}

/// The zones of a country (ISO 3166 region, as a business-scoped user id's prefix gives it):
/// every zone libphonenumber has for its calling code — what a mobile number there would get.
pub fn zones_for_region(region: &str) -> PhoneZones {
    let unknown = PhoneZones { zones: Vec::new(), precision: PrefixPrecision::Unknown };
    let Some(meta) = DATABASE.by_id(region) else { return unknown };
    match longest_prefix_zones(&meta.country_code().to_string()) {
        Some(zones) if !zones.is_empty() => PhoneZones { zones, precision: PrefixPrecision::Country },
        _ => unknown,
    }
}

/// The calling code of a country (`"BR"` → 55), when libphonenumber knows it.
pub fn calling_code(region: &str) -> Option<u16> {
    DATABASE.by_id(region).map(phonenumber::Metadata::country_code)
}

/// The zones for a number (its `digits`, its `country_code`, and libphonenumber's parse of it),
/// computed once per `WaId` (see `ids::PhoneFacts`; `ids::zones_for_number` asks).
pub(crate) fn compute_zones(digits: &str, country_code: u16, parsed: Option<&phonenumber::PhoneNumber>) -> PhoneZones {
    let unknown = PhoneZones { zones: Vec::new(), precision: PrefixPrecision::Unknown };
    let geographical = match classify(country_code, parsed) {
        NumberClass::Unknown => return unknown,
        NumberClass::Geographic => true,
        NumberClass::Mobile => prefix_data::GEO_MOBILE_COUNTRIES.contains(&country_code),
        NumberClass::NonGeographic => false,
    };
    let (key, precision) = if geographical {
        (digits.to_owned(), PrefixPrecision::Area)
    } else {
        (country_code.to_string(), PrefixPrecision::Country)
    };
    match longest_prefix_zones(&key) {
        Some(zones) if !zones.is_empty() => PhoneZones { zones, precision },
        _ => unknown,
    }
}

/// libphonenumber's number types, reduced to what decides the zone lookup.
enum NumberClass {
    Unknown,
    /// Fixed line, or fixed line or mobile (NANP).
    Geographic,
    Mobile,
    /// Toll-free, premium, VoIP, personal, pager, UAN, voicemail.
    NonGeographic,
}

/// libphonenumber's `getNumberType`, in its order of checks.
///
/// Not `phonenumber::PhoneNumber::number_type`: in 0.3.10 it matches the national number
/// without its leading zeros, so Italian (`+39 02…`), Ivorian or Gabonese landlines come out
/// `Unknown`. The descriptors are matched here against the national number as written.
fn classify(country_code: u16, parsed: Option<&phonenumber::PhoneNumber>) -> NumberClass {
    let Some(parsed) = parsed else { return NumberClass::Unknown };
    let national = parsed.national().to_string();
    // The crate's own region detection has the same leading-zero problem (+39 02… gets no
    // region), so like libphonenumber's `getRegionCodeForNumber`, try each region sharing
    // the calling code and take the first whose plan knows the number.
    let regions = DATABASE.by_code(&country_code).unwrap_or_default();
    regions
        .into_iter()
        .map(|meta| classify_in(meta, &national))
        .find(|class| !matches!(class, NumberClass::Unknown))
        .unwrap_or(NumberClass::Unknown)
}

fn classify_in(meta: &phonenumber::Metadata, national: &str) -> NumberClass {
    let d = meta.descriptors();
    let matches = |desc: Option<&phonenumber::metadata::Descriptor>| desc.is_some_and(|d| d.is_match(national));
    if !d.general().is_match(national) {
        NumberClass::Unknown
    } else if [
        d.premium_rate(),
        d.toll_free(),
        d.shared_cost(),
        d.voip(),
        d.personal_number(),
        d.pager(),
        d.uan(),
        d.voicemail(),
    ]
    .into_iter()
    .any(matches)
    {
        NumberClass::NonGeographic
    } else if matches(d.fixed_line()) {
        NumberClass::Geographic
    } else if matches(d.mobile()) {
        NumberClass::Mobile
    } else {
        NumberClass::Unknown
    }
}

fn longest_prefix_zones(digits: &str) -> Option<Vec<&'static str>> {
    let longest = digits.len().min(prefix_data::LONGEST_PREFIX);
    (1..=longest).rev().find_map(|len| {
        let prefix = &digits[..len];
        let i = prefix_data::PREFIXES.binary_search_by(|(p, _)| (*p).cmp(prefix)).ok()?;
        let (_, ids) = prefix_data::PREFIXES[i];
        Some(ids.iter().map(|&z| prefix_data::ZONES[usize::from(z)]).collect())
    })
}

/// Why a decision assumed the zone(s) it did. Recorded with every quiet-hours decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum ZoneBasis {
    /// The contact's own IANA zone (set through the API).
    Contact,
    /// The phone number's prefix placed the recipient in these zone(s); with several, the
    /// allowed window is their intersection.
    PhonePrefix { precision: PrefixPrecision },
    /// No phone number is known: the business-scoped user id's country placed the recipient
    /// in its zone(s) (the intersection rule, as for a mobile number there).
    UserIdCountry,
    /// The candidates' common window was empty or too short, or the number's zone is
    /// unknown: the country's configured primary zone was used instead.
    CountryPrimary { candidates: usize },
    /// Nothing better was known: the policy's fallback zone.
    Fallback,
}

/// The zone(s) a decision assumed for the recipient, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ZoneAssumption {
    /// Zone names; more than one means the intersection of their windows was used.
    pub zones: Vec<String>,
    /// Why these.
    pub basis: ZoneBasis,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zones(n: &str) -> PhoneZones {
        crate::ids::zones_for_number(&crate::WaId::parse(n).unwrap())
    }

    #[test]
    fn a_country_gets_every_zone_of_its_calling_code() {
        let brazil = zones_for_region("BR");
        assert_eq!(brazil.precision, PrefixPrecision::Country);
        assert!(brazil.zones.contains(&"America/Sao_Paulo") && brazil.zones.contains(&"America/Manaus"));
        assert_eq!(zones_for_region("PT").zones, zones("+351912345678").zones);
        assert_eq!(zones_for_region("ZZ").precision, PrefixPrecision::Unknown);
        assert_eq!(calling_code("BR"), Some(55));
    }

    #[test]
    fn prefix_table_is_sorted_for_binary_search() {
        assert!(prefix_data::PREFIXES.windows(2).all(|w| w[0].0 < w[1].0));
    }

    #[test]
    fn every_zone_in_the_table_exists_in_the_bundled_tz_database() {
        for name in prefix_data::ZONES {
            assert!(IanaZone::parse(name).is_ok(), "{name} missing from the bundled tzdb");
        }
    }

    #[test]
    fn nanp_area_codes_resolve_to_one_zone() {
        assert_eq!(zones("+12125551234").zones, ["America/New_York"]);
        assert_eq!(zones("+18085551234").zones, ["Pacific/Honolulu"]);
        assert_eq!(zones("+12125551234").precision, PrefixPrecision::Area);
    }

    #[test]
    fn brazilian_mobiles_are_geographical() {
        assert_eq!(zones("+5511987654321").zones, ["America/Sao_Paulo"]);
        assert_eq!(zones("+5592987654321").zones, ["America/Manaus"]);
    }

    #[test]
    fn indian_mobiles_use_the_backward_compatible_alias() {
        assert_eq!(zones("+919812345678").zones, ["Asia/Calcutta"]);
        assert!(IanaZone::parse("Asia/Calcutta").is_ok());
    }

    #[test]
    fn australian_and_russian_mobiles_keep_every_zone_of_the_country() {
        let au = zones("+61412345678");
        assert_eq!(au.zones.len(), 8);
        assert_eq!(au.precision, PrefixPrecision::Country);
        let ru = zones("+79161234567");
        assert_eq!(ru.zones.len(), 16);
        assert!(ru.zones.contains(&"Europe/Bucharest") && ru.zones.contains(&"Asia/Anadyr"));
    }

    #[test]
    fn unallocated_ranges_have_unknown_zone() {
        let uk_drama = zones("+447700900123");
        assert!(uk_drama.zones.is_empty());
        assert_eq!(uk_drama.precision, PrefixPrecision::Unknown);
    }

    #[test]
    fn zone_names_are_validated_against_the_iana_database() {
        assert_eq!(IanaZone::parse("Europe/Lisbon").unwrap().name(), "Europe/Lisbon");
        assert!(IanaZone::parse("UTC").is_ok());
        for bad in ["", "Mars/Olympus", "Etc/Unknown", "EST5EDT_", "+03:00", "lisbon"] {
            assert!(IanaZone::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn zone_serde_round_trip() {
        let z: IanaZone = serde_json::from_str("\"America/Sao_Paulo\"").unwrap();
        assert_eq!(serde_json::to_string(&z).unwrap(), "\"America/Sao_Paulo\"");
        assert!(serde_json::from_str::<IanaZone>("\"Nowhere/City\"").is_err());
    }
}
