//! What Meta charges for a message, and polite's estimate of it.
//!
//! Meta prices each delivered message by its pricing category (`marketing`, `utility`,
//! `authentication`, `service`, and newer ones such as `marketing_lite` or
//! `authentication_international`) and the recipient's country, and says how it priced it in
//! the `pricing` object of one of the message's statuses. polite keeps that object exactly as
//! Meta sent it ([`PricingRecord`]), unknown values included, and counts it per category and
//! type. What it costs is an estimate: a [`RateCard`] — data, with effective dates — gives the
//! rate per category and market and the monthly allowance of free service messages per
//! business number; [`RateCard::estimate`] prices one message from it. Meta's invoice is the
//! authority (volume tiers, international authentication rates and currency conversion are
//! Meta's to apply).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The category counted for a `pricing` without a (textual) `category`.
pub const UNSPECIFIED: &str = "unspecified";

/// Meta's pricing category of non-template messages in the customer-service window.
pub const SERVICE: &str = "service";

/// Meta's `pricing` object of a message, kept verbatim (every field, unknown values
/// included), read through accessors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PricingRecord(Map<String, Value>);

impl PricingRecord {
    /// The record of Meta's `pricing` value; `None` when it is not an object.
    pub fn from_meta(value: Value) -> Option<Self> {
        match value {
            Value::Object(map) => Some(Self(map)),
            _ => None,
        }
    }

    /// Meta's object, as received.
    pub fn as_meta(&self) -> &Map<String, Value> {
        &self.0
    }

    fn text(&self, field: &str) -> Option<&str> {
        self.0.get(field).and_then(Value::as_str).filter(|s| !s.is_empty())
    }

    /// Meta's `category` (`marketing`, `utility`, `authentication`, `service`,
    /// `marketing_lite`, …), or [`UNSPECIFIED`] when it has none.
    pub fn category(&self) -> &str {
        self.text("category").unwrap_or(UNSPECIFIED)
    }

    /// Meta's `type` (`regular`, `free_customer_service`, `free_entry_point`, …), or
    /// [`UNSPECIFIED`].
    pub fn kind(&self) -> &str {
        self.text("type").unwrap_or(UNSPECIFIED)
    }

    /// Whether Meta charges it: its `billable` while Meta still sends the flag, else whether
    /// `type` is `regular` (the free types are named `free_…`).
    pub fn billable(&self) -> bool {
        match self.0.get("billable").and_then(Value::as_bool) {
            Some(flag) => flag,
            None => self.kind() == "regular",
        }
    }
}

/// An amount of money in millionths of the rate card's currency unit: exact sums, shown as
/// a decimal string (`"0.0625"`) so no reader rounds it through a float.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "String")]
pub struct Money {
    micros: i64,
}

impl Money {
    pub const ZERO: Money = Money { micros: 0 };

    pub const fn from_micros(micros: i64) -> Self {
        Self { micros }
    }

    pub const fn micros(self) -> i64 {
        self.micros
    }
}

impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money { micros: self.micros.saturating_add(other.micros) }
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, other: Money) {
        *self = *self + other;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, |a, b| a + b)
    }
}

impl fmt::Display for Money {
    /// At least four decimals (Meta's rates have four), more when the amount needs them.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.micros < 0 { "-" } else { "" };
        let abs = self.micros.unsigned_abs();
        let mut fraction = format!("{:06}", abs % 1_000_000);
        while fraction.len() > 4 && fraction.ends_with('0') {
            fraction.pop();
        }
        write!(f, "{sign}{}.{fraction}", abs / 1_000_000)
    }
}

impl From<Money> for String {
    fn from(m: Money) -> String {
        m.to_string()
    }
}

/// An amount that is not a decimal with at most six places.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an amount is a decimal number with at most six decimal places, like \"0.0625\": {0:?}")]
pub struct InvalidAmount(pub String);

impl FromStr for Money {
    type Err = InvalidAmount;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidAmount(s.to_owned());
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s),
        };
        let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
        let all_digits = |part: &str| part.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || fraction.len() > 6 || !all_digits(whole) || !all_digits(fraction) {
            return Err(bad());
        }
        let whole: i64 = whole.parse().map_err(|_| bad())?;
        let fraction: i64 = format!("{fraction:0<6}").parse().map_err(|_| bad())?;
        let micros = whole.checked_mul(1_000_000).and_then(|w| w.checked_add(fraction)).ok_or_else(bad)?;
        Ok(Money { micros: if negative { -micros } else { micros } })
    }
}

deserialize_from_str!(Money);

/// How an estimate came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Basis {
    /// The rate card's rate for the category in the recipient's market.
    Rate,
    /// Meta says it does not charge it (`billable: false` or a `free_…` type).
    FreeByMeta,
    /// A service message within the number's monthly free allowance.
    FreeAllowance,
}

/// polite's estimate of what one message costs, kept on the message beside Meta's pricing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CostEstimate {
    pub amount: Money,
    pub currency: String,
    /// The rate card market the recipient's country belongs to.
    pub market: String,
    /// The rate card period used (its effective date).
    pub rates_from: Date,
    pub basis: Basis,
}

/// A rate card: rates per pricing category and market, each set with the date it takes
/// effect, and the monthly free allowance of service messages per business number.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateCard {
    /// One currency for every rate (Meta bills in the account's currency).
    pub currency: String,
    /// Where the figures come from, for whoever updates them.
    pub source: String,
    #[serde(default)]
    pub free_service_messages: Vec<Allowance>,
    pub rates: Vec<RatePeriod>,
}

/// Service messages free per business number per calendar month (UTC), from a date.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allowance {
    pub effective_from: Date,
    pub per_number_per_month: u64,
}

/// The rates in force from a date until the next period's.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatePeriod {
    pub effective_from: Date,
    pub markets: Vec<Market>,
}

/// A market: the countries (ISO 3166 alpha-2, or `"*"` for every country no other market
/// names) priced alike, and its rate per Meta pricing category.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Market {
    pub market: String,
    pub countries: Vec<String>,
    pub rates: BTreeMap<String, Money>,
}

/// A rate card that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RateCardError {
    #[error("the rate card is not valid JSON of the documented shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("the rate card is inconsistent: {0}")]
    Inconsistent(String),
}

/// The rate card polite ships with (`shared/domain/data/rate-card.json`).
pub const BUILTIN_RATE_CARD: &str = include_str!("../data/rate-card.json");

impl RateCard {
    /// The card polite ships with.
    ///
    /// # Errors
    /// [`RateCardError`] if the shipped file is broken (a test reads it on every build).
    pub fn builtin() -> Result<Self, RateCardError> {
        Self::parse(BUILTIN_RATE_CARD)
    }

    /// Reads a card and checks it: periods in date order, each with one `"*"` market and no
    /// country in two markets, rates not negative.
    ///
    /// # Errors
    /// [`RateCardError`] naming what is wrong.
    pub fn parse(json: &str) -> Result<Self, RateCardError> {
        let card: RateCard = serde_json::from_str(json)?;
        let bad = |what: String| Err(RateCardError::Inconsistent(what));
        if card.rates.is_empty() {
            return bad("it has no rate period".into());
        }
        let ascending = |a: &Date, b: &Date| a < b;
        if !card.rates.iter().map(|p| p.effective_from).is_sorted_by(ascending)
            || !card.free_service_messages.iter().map(|a| a.effective_from).is_sorted_by(ascending)
        {
            return bad("periods must be listed oldest first, one per date".into());
        }
        for period in &card.rates {
            let mut seen = std::collections::BTreeSet::new();
            for market in &period.markets {
                if let Some(country) = market.countries.iter().find(|c| !seen.insert(c.as_str())) {
                    return bad(format!("{country} is in two markets of {}", period.effective_from));
                }
                if let Some((category, _)) = market.rates.iter().find(|(_, rate)| rate.micros() < 0) {
                    return bad(format!("{}'s {category} rate is negative", market.market));
                }
            }
            if !seen.contains("*") {
                return bad(format!("the {} period has no \"*\" market for other countries", period.effective_from));
            }
        }
        Ok(card)
    }

    /// The monthly service allowance per number in force at `at`, if any.
    fn allowance_at(&self, day: Date) -> Option<u64> {
        self.free_service_messages.iter().rev().find(|a| a.effective_from <= day).map(|a| a.per_number_per_month)
    }

    /// Whether a message priced `pricing` at `at` draws on its number's monthly allowance
    /// of free service messages (the caller then says how many it has used).
    pub fn counts_toward_allowance(&self, pricing: &PricingRecord, at: Timestamp) -> bool {
        pricing.category() == SERVICE && self.allowance_at(utc_day(at)).is_some()
    }

    /// The estimate for a message Meta priced `pricing` at `at`, to a person of `country`
    /// (ISO 3166; `None` prices them as `"*"`), when its business number has already sent
    /// `service_used` service messages this month. `None` when the card has no rate for the
    /// category in that market, or no period in force.
    pub fn estimate(
        &self,
        pricing: &PricingRecord,
        country: Option<&str>,
        at: Timestamp,
        service_used: u64,
    ) -> Option<CostEstimate> {
        let day = utc_day(at);
        let period = self.rates.iter().rev().find(|p| p.effective_from <= day)?;
        let in_market = |m: &&Market| country.is_some_and(|c| m.countries.iter().any(|x| x.eq_ignore_ascii_case(c)));
        let market = period
            .markets
            .iter()
            .find(in_market)
            .or_else(|| period.markets.iter().find(|m| m.countries.iter().any(|c| c == "*")))?;
        let estimate = |amount, basis| CostEstimate {
            amount,
            currency: self.currency.clone(),
            market: market.market.clone(),
            rates_from: period.effective_from,
            basis,
        };
        if !pricing.billable() {
            return Some(estimate(Money::ZERO, Basis::FreeByMeta));
        }
        let category = pricing.category();
        if category == SERVICE && self.allowance_at(day).is_some_and(|free| service_used < free) {
            return Some(estimate(Money::ZERO, Basis::FreeAllowance));
        }
        market.rates.get(category).map(|rate| estimate(*rate, Basis::Rate))
    }
}

/// The UTC calendar day of `at` (allowances run per UTC month; card periods start at UTC
/// midnight).
pub fn utc_day(at: Timestamp) -> Date {
    at.to_zoned(jiff::tz::TimeZone::UTC).date()
}

/// The UTC month of `at`, `YYYY-MM`: the period of the service allowance.
pub fn utc_month(at: Timestamp) -> String {
    let day = utc_day(at);
    format!("{:04}-{:02}", day.year(), day.month())
}

/// The allowance of free service messages of business number `phone_number_id` in the UTC
/// month of `at`.
pub fn allowance_key(phone_number_id: &str, at: jiff::Timestamp) -> String {
    format!("{phone_number_id}/{}", utc_month(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pricing(json: &str) -> PricingRecord {
        PricingRecord::from_meta(serde_json::from_str(json).unwrap()).unwrap()
    }

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    const CARD: &str = r#"{
        "currency": "USD", "source": "test",
        "free_service_messages": [{"effective_from": "2026-10-01", "per_number_per_month": 2}],
        "rates": [
            {"effective_from": "2025-07-01", "markets": [
                {"market": "Brazil", "countries": ["BR"], "rates": {"marketing": "0.0625", "utility": "0.0068"}},
                {"market": "Other", "countries": ["*"], "rates": {"marketing": "0.0604", "service": "0.0040"}}
            ]},
            {"effective_from": "2026-10-01", "markets": [
                {"market": "Brazil", "countries": ["BR"], "rates": {"marketing": "0.0700", "service": "0.0050"}},
                {"market": "Other", "countries": ["*"], "rates": {"marketing": "0.0604"}}
            ]}
        ]
    }"#;

    #[test]
    fn metas_pricing_is_kept_verbatim_and_read_through_accessors() {
        let meta =
            r#"{"billable":true,"pricing_model":"PMP","type":"regular","category":"marketing_lite","tier":"t1"}"#;
        let record = pricing(meta);
        let verbatim: Value = serde_json::from_str(meta).unwrap();
        assert_eq!(serde_json::to_value(&record).unwrap(), verbatim, "every field, as Meta sent it");
        assert_eq!((record.category(), record.kind(), record.billable()), ("marketing_lite", "regular", true));
        let free = pricing(r#"{"pricing_model":"PMP","type":"free_customer_service","category":"service"}"#);
        assert!(!free.billable(), "no flag: billable follows the type");
        assert!(pricing(r#"{"type":"regular","category":"utility"}"#).billable());
        let odd = pricing(r#"{"type":5}"#);
        assert_eq!((odd.category(), odd.kind(), odd.billable()), (UNSPECIFIED, UNSPECIFIED, false));
        assert_eq!(PricingRecord::from_meta(serde_json::json!("regular")), None);
    }

    #[test]
    fn money_is_exact_decimal_text() {
        for (text, micros, shown) in [
            ("0.0625", 62_500, "0.0625"),
            ("12", 12_000_000, "12.0000"),
            ("0.000001", 1, "0.000001"),
            ("-1.5", -1_500_000, "-1.5000"),
        ] {
            let m: Money = text.parse().unwrap();
            assert_eq!((m.micros(), m.to_string().as_str()), (micros, shown), "{text}");
        }
        for bad in ["", ".5", "1.0000001", "1e3", "0,5", "abc"] {
            assert!(bad.parse::<Money>().is_err(), "{bad}");
        }
        let sum: Money = ["0.0625", "0.0625", "0.0068"].iter().map(|s| s.parse::<Money>().unwrap()).sum();
        assert_eq!(sum.to_string(), "0.1318");
    }

    #[test]
    fn the_estimate_uses_the_period_and_market_in_force() {
        let card = RateCard::parse(CARD).unwrap();
        let marketing = pricing(r#"{"type":"regular","category":"marketing"}"#);
        let july = card.estimate(&marketing, Some("BR"), at("2026-07-15T12:00:00Z"), 0).unwrap();
        assert_eq!((july.amount.to_string(), july.market.as_str()), ("0.0625".into(), "Brazil"));
        assert_eq!(july.rates_from.to_string(), "2025-07-01");
        assert_eq!(july.basis, Basis::Rate);
        let october = card.estimate(&marketing, Some("br"), at("2026-10-01T00:00:00Z"), 0).unwrap();
        assert_eq!(october.amount.to_string(), "0.0700", "from the new period's first second (UTC)");
        let elsewhere = card.estimate(&marketing, Some("KE"), at("2026-07-15T12:00:00Z"), 0).unwrap();
        assert_eq!((elsewhere.market.as_str(), elsewhere.amount.to_string()), ("Other", "0.0604".into()));
        let nowhere = card.estimate(&marketing, None, at("2026-07-15T12:00:00Z"), 0).unwrap();
        assert_eq!(nowhere.market, "Other");
        assert_eq!(card.estimate(&marketing, Some("BR"), at("2025-06-30T23:59:59Z"), 0), None, "before any period");
    }

    #[test]
    fn free_messages_cost_nothing_and_unknown_categories_are_not_estimated() {
        let card = RateCard::parse(CARD).unwrap();
        let now = at("2026-11-02T10:00:00Z");
        let entry_point = pricing(r#"{"type":"free_entry_point","category":"marketing"}"#);
        let free = card.estimate(&entry_point, Some("BR"), now, 0).unwrap();
        assert_eq!((free.amount, free.basis), (Money::ZERO, Basis::FreeByMeta));
        let unknown = pricing(r#"{"type":"regular","category":"group_marketing"}"#);
        assert_eq!(card.estimate(&unknown, Some("BR"), now, 0), None, "no rate for it: not guessed");
        let utility = pricing(r#"{"type":"regular","category":"utility"}"#);
        assert_eq!(card.estimate(&utility, Some("BR"), now, 0), None, "the 2026-10 Brazil rates have no utility");
    }

    #[test]
    fn service_messages_are_free_up_to_the_monthly_allowance_once_it_is_in_force() {
        let card = RateCard::parse(CARD).unwrap();
        let service = pricing(r#"{"type":"regular","category":"service"}"#);
        let november = at("2026-11-02T10:00:00Z");
        assert!(card.counts_toward_allowance(&service, november));
        let within = card.estimate(&service, Some("BR"), november, 1).unwrap();
        assert_eq!((within.amount, within.basis), (Money::ZERO, Basis::FreeAllowance));
        let beyond = card.estimate(&service, Some("BR"), november, 2).unwrap();
        assert_eq!((beyond.amount.to_string(), beyond.basis), ("0.0050".into(), Basis::Rate));
        let september = at("2026-09-30T23:00:00Z");
        assert!(!card.counts_toward_allowance(&service, september), "no allowance before it starts");
        assert_eq!(card.estimate(&service, Some("KE"), september, 0).unwrap().amount.to_string(), "0.0040");
        let marketing = pricing(r#"{"type":"regular","category":"marketing"}"#);
        assert!(!card.counts_toward_allowance(&marketing, november));
        assert_eq!(utc_month(november), "2026-11");
    }

    #[test]
    fn an_inconsistent_card_is_refused_with_what_is_wrong() {
        let cases = [
            (r#"{"currency":"USD","source":"x","rates":[]}"#, "no rate period"),
            (
                r#"{"currency":"USD","source":"x","rates":[{"effective_from":"2025-07-01","markets":[{"market":"A","countries":["BR"],"rates":{}}]}]}"#,
                "no \"*\" market",
            ),
            (
                r#"{"currency":"USD","source":"x","rates":[{"effective_from":"2025-07-01","markets":[{"market":"A","countries":["BR","*"],"rates":{}},{"market":"B","countries":["BR"],"rates":{}}]}]}"#,
                "BR is in two markets",
            ),
            (
                r#"{"currency":"USD","source":"x","rates":[{"effective_from":"2026-07-01","markets":[{"market":"A","countries":["*"],"rates":{}}]},{"effective_from":"2025-07-01","markets":[{"market":"A","countries":["*"],"rates":{}}]}]}"#,
                "oldest first",
            ),
            (
                r#"{"currency":"USD","source":"x","rates":[{"effective_from":"2025-07-01","markets":[{"market":"A","countries":["*"],"rates":{"marketing":"-1"}}]}]}"#,
                "negative",
            ),
            (r#"{"currency":"USD","source":"x","rates":[],"extra":1}"#, "unknown field"),
            (
                r#"{"currency":"USD","source":"x","rates":[{"effective_from":"2025-07-01","markets":[{"market":"A","countries":["*"],"rates":{"marketing":0.06}}]}]}"#,
                "floating point `0.06`",
            ),
        ];
        for (json, needle) in cases {
            let error = RateCard::parse(json).unwrap_err().to_string();
            assert!(error.contains(needle), "{error} should mention {needle}");
        }
    }

    #[test]
    fn the_shipped_card_reads_and_prices_every_template_category_everywhere() {
        let card = RateCard::builtin().unwrap();
        let now = at("2026-12-02T12:00:00Z");
        for country in ["BR", "US", "IN", "PT", "KE", "JP", "ZZ"] {
            for category in ["marketing", "utility", "authentication"] {
                let priced = pricing(&format!(r#"{{"type":"regular","category":"{category}"}}"#));
                let estimate = card.estimate(&priced, Some(country), now, 0);
                assert!(estimate.is_some_and(|e| e.amount > Money::ZERO), "{category} in {country}");
            }
        }
        let service = pricing(r#"{"type":"regular","category":"service"}"#);
        assert!(card.counts_toward_allowance(&service, now), "1,000 free service messages since 2026-10-01");
        let free = card.estimate(&service, Some("BR"), now, 999).unwrap();
        assert_eq!(free.basis, Basis::FreeAllowance);
    }
}
