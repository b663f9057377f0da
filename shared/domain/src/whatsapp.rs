//! Sending through the WhatsApp Cloud API, as pure facts: what polite sends, what Meta
//! answers, and what each error code means for the next step (docs/whatsapp.md, "Error codes and what polite does").
//!
//! The HTTP client lives in `polite-adapters` (`graph`); the simulator in `infra/` answers
//! the same shapes. Deciding *what to do* with an answer is here, so it is tested with plain
//! values.

use std::time::Duration;

use crate::ContactRef;

/// `biz_opaque_callback_data` prefix of polite's own courtesy replies (consent
/// confirmations): status-processor knows these are not messages of the messages table.
pub const CONFIRMATION_CALLBACK_PREFIX: &str = "polite-confirmation:";

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The business phone number id to send from; `None`: the client's configured number.
    pub from: Option<String>,
    /// Sent by `to` for a phone number, by `recipient` for a business-scoped user id.
    pub to: ContactRef,
    pub content: Content,
    /// Echoed back on every status webhook of the message (`biz_opaque_callback_data`, ≤ 512
    /// characters): polite's message id, so statuses correlate even when the wamid was never
    /// recorded.
    pub callback_data: Option<String>,
    /// The wamid this message replies to (shown quoted in the chat).
    pub reply_to: Option<String>,
    /// Which endpoint it goes to.
    pub endpoint: Endpoint,
}

/// The Graph API endpoint a message is posted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Endpoint {
    /// `POST /<phone_number_id>/messages`: the Cloud API, every kind of message.
    #[default]
    Messages,
    /// `POST /<phone_number_id>/marketing_messages`: the Marketing Messages API, MARKETING
    /// templates only (same body as `/messages`).
    MarketingMessages,
}

impl Endpoint {
    /// The path after the phone number id.
    pub fn path(self) -> &'static str {
        match self {
            Self::Messages => "messages",
            Self::MarketingMessages => "marketing_messages",
        }
    }
}

/// 131055 on `/marketing_messages`: the business has not accepted the Marketing Messages API's
/// terms (or the API is not open to the number) — Meta's documented fallback is `/messages`.
pub const MARKETING_API_NOT_AVAILABLE: i64 = 131_055;

/// 131063 on `/messages`: marketing templates are turned off on the Cloud API for this
/// account; they must go through the Marketing Messages API.
pub const MARKETING_OFF_ON_CLOUD_API: i64 = 131_063;

/// The reason a failed message shows for Meta's codes that name a cause a person can act on;
/// `None` for the rest (the error's code and title say it).
pub fn failure_reason(code: i64) -> Option<&'static str> {
    Some(match code {
        131_062 => "needs_phone_number",
        MARKETING_OFF_ON_CLOUD_API => "marketing_messages_api_required",
        131_064 => "template_messaging_limited",
        131_037 => "no_approved_display_name",
        137_000 => "identity_key_changed",
        130_472 => "marketing_experiment_holdout",
        139_200 => "direct_send_blocked",
        _ => return None,
    })
}

/// What the message says.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// Free-form text: only inside the 24 h customer-service window (else 131047).
    Text { body: String },
    /// An approved template: `{"name", "language": {"code"}, "components"?}` as the Graph API
    /// takes it.
    Template(serde_json::Value),
    /// Other free-form content (media, interactive, a reaction) in Meta's shape:
    /// `{"type": t, t: {…}}`. Only inside the window, like text.
    Message(serde_json::Value),
}

/// Meta accepted the message (200): not yet delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    pub wamid: String,
    /// `accepted` or `held_for_quality_assessment` (template pacing); absent for most sends.
    pub message_status: Option<String>,
    /// The answer's `contacts[]` entry: the person's phone and business-scoped user id, as far
    /// as Meta shows them (a send by `recipient` answers with the user id only).
    pub wa_id: Option<crate::WaId>,
    pub user_id: Option<crate::BusinessScopedUserId>,
}

impl Accepted {
    /// Accepted, with no `contacts[]` entry.
    pub fn new(wamid: impl Into<String>) -> Self {
        Self { wamid: wamid.into(), message_status: None, wa_id: None, user_id: None }
    }

    /// The identities the answer shows together, when it shows two.
    pub fn linked(&self, at: jiff::Timestamp) -> Option<crate::people::Observation> {
        let (phone, user) = (self.wa_id.clone()?, self.user_id.clone()?);
        Some(crate::people::Observation::Together { phone: Some(phone), user: Some(user), parent: None, at })
    }
}

/// Meta's error (`{"error": {...}}`), the fields polite acts on; the adapter reads it from
/// the Graph API's body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GraphError {
    pub code: i64,
    pub error_subcode: Option<i64>,
    /// Meta's `message` (the title shown on a failed message).
    pub message: String,
    /// `error_data.details`: Meta's longer explanation.
    pub details: Option<String>,
    /// Meta's request id, for support tickets.
    pub fbtrace_id: Option<String>,
}

/// Why a send did not come back accepted.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    /// Meta answered with an error body: [`GraphError::action`] says what to do.
    #[error("the Graph API refused the message (code {}, http {http_status}): {}", .error.code, .error.message)]
    Rejected { http_status: u16, error: GraphError },
    /// The request may have reached Meta but no answer came (a timeout, a connection lost
    /// mid-request): Meta may have accepted it. Never resend blindly (docs/decisions/0005-unknown-outcomes.md) — resolve
    /// it from statuses.
    #[error("no answer from the Graph API; the outcome is unknown")]
    OutcomeUnknown,
    /// The request never reached Meta (connection refused, DNS, TLS): safe to retry.
    #[error("the Graph API could not be reached")]
    Unreachable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// An answer that is neither a success nor Meta's error shape (a proxy's 502 page, a 200
    /// whose body does not read, …). Whether Meta accepted the message depends on the status:
    /// see [`SendFailure::proves_refusal`].
    #[error("unexpected answer from the Graph API (http {http_status})")]
    BadResponse { http_status: u16 },
}

/// What to do after a refused send (docs/whatsapp.md, "Error codes and what polite does").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorAction {
    /// Throughput or API rate limit (130429, 4, 80007): retry with backoff and slow the
    /// sender down.
    SlowDown,
    /// Pair rate limit (131056): retry this recipient only, after 4^n seconds.
    RetryRecipient,
    /// Temporary (131000, 131016, 2, 133004, 131057, 5xx): bounded retry with backoff.
    Retry,
    /// Per-user marketing limit (131049): no retry before 24 h.
    DeferDay,
    /// The user stopped marketing (131050): never retry; record a marketing opt-out.
    OptOut,
    /// The token is invalid or expired (0, 190): refresh it, then retry.
    Reauthenticate,
    /// The number's spam limit (131048): pause the number; no immediate retry.
    PauseNumber,
    /// Permanent for this message (131026, 131047, 132xxx, 133010, 368, …): `failed` with
    /// the code, never retried.
    Fail,
}

impl ErrorAction {
    /// The action for an error code.
    pub fn for_code(code: i64) -> Self {
        match code {
            130_429 | 4 | 80_007 => Self::SlowDown,
            131_056 => Self::RetryRecipient,
            131_000 | 131_016 | 2 | 133_004 | 131_057 => Self::Retry,
            131_049 => Self::DeferDay,
            131_050 => Self::OptOut,
            0 | 190 => Self::Reauthenticate,
            131_048 => Self::PauseNumber,
            // 131026, 131047, 131008/9, 131051, 132xxx, 133010, 131045, 131042, 368, 131031,
            // 130497, 10, 131005, 130403; 2026's 131062 (a BSUID recipient not allowed),
            // 131063 (marketing off on /messages), 131064 (template limited), 131037 (no
            // display name), 137000 (identity key changed), 130472 (marketing experiment
            // holdout), 139200 (Direct Send blocked) — and codes this table does not know:
            // failing visibly beats retrying something that may never succeed.
            _ => Self::Fail,
        }
    }

    /// Whether a retry of the same request may succeed.
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::SlowDown | Self::RetryRecipient | Self::Retry | Self::Reauthenticate)
    }
}

impl GraphError {
    /// What to do about this error.
    pub fn action(&self) -> ErrorAction {
        ErrorAction::for_code(self.code)
    }
}

impl SendFailure {
    /// What to do about this failure: Meta's code when it gave one; a failure that proves the
    /// message was not taken is retryable; `None` for an unknown outcome (docs/decisions/0005-unknown-outcomes.md: a 2xx
    /// without a readable body, a 5xx without Meta's error body, a timeout after the request
    /// was written — Meta may have accepted the message, so it is never resent).
    pub fn action(&self) -> Option<ErrorAction> {
        match self {
            Self::Rejected { error, .. } => Some(error.action()),
            Self::Unreachable(_) => Some(ErrorAction::Retry),
            Self::BadResponse { .. } if self.proves_refusal() => Some(ErrorAction::Retry),
            Self::BadResponse { .. } | Self::OutcomeUnknown => None,
        }
    }

    /// Whether the failure proves the message was not taken: Meta's error body, no
    /// connection, or a 4xx from something in front of Meta (a proxy's 400/403/429 page) —
    /// except 408, which a gateway sends after the request went through. A 2xx or a
    /// 5xx without Meta's body (a load balancer's 502/503/504 after Meta took the request)
    /// proves nothing.
    pub fn proves_refusal(&self) -> bool {
        match self {
            Self::Rejected { .. } | Self::Unreachable(_) => true,
            Self::BadResponse { http_status } => (400..500).contains(http_status) && *http_status != 408,
            Self::OutcomeUnknown => false,
        }
    }
}

/// The wait before retry `attempt` (0-based) of a pair-rate-limited recipient: 4^n seconds
/// (docs/whatsapp.md: "retry that recipient after 4^n s"), capped at 15 minutes so it still fits
/// an SQS delay.
pub fn pair_rate_backoff(attempt: u32) -> Duration {
    let seconds = 4u64.saturating_pow(attempt.saturating_add(1)).min(900);
    Duration::from_secs(seconds)
}

/// 131049 (per-user marketing limit): no retry before 24 h.
pub const ENGAGEMENT_DEFERRAL: jiff::SignedDuration = jiff::SignedDuration::from_hours(24);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_of_the_table_maps_to_its_documented_action() {
        let table: &[(&[i64], ErrorAction)] = &[
            (&[130_429, 4, 80_007], ErrorAction::SlowDown),
            (&[131_056], ErrorAction::RetryRecipient),
            (&[131_000, 131_016, 2, 133_004, 131_057], ErrorAction::Retry),
            (&[131_049], ErrorAction::DeferDay),
            (&[131_050], ErrorAction::OptOut),
            (&[0, 190], ErrorAction::Reauthenticate),
            (&[131_048], ErrorAction::PauseNumber),
            (
                &[
                    131_047, 131_026, 131_008, 131_009, 131_051, 132_000, 132_001, 132_005, 132_007, 132_012, 132_015,
                    132_016, 133_010, 131_045, 131_042, 368, 131_031, 130_497, 10, 131_005, 131_063, 130_403, 131_062,
                    131_064, 131_037, 137_000, 130_472, 139_200,
                ],
                ErrorAction::Fail,
            ),
        ];
        for (codes, action) in table {
            for code in *codes {
                assert_eq!(ErrorAction::for_code(*code), *action, "code {code}");
            }
        }
    }

    #[test]
    fn permanent_codes_are_never_retried_and_an_unknown_code_fails_visibly() {
        for code in [131_026, 131_047, 131_050, 131_049, 132_001, 368, 999_999] {
            assert!(!ErrorAction::for_code(code).is_retryable(), "code {code}");
        }
        assert_eq!(ErrorAction::for_code(999_999), ErrorAction::Fail);
    }

    #[test]
    fn an_unknown_outcome_has_no_action_because_meta_may_have_accepted_the_message() {
        assert_eq!(SendFailure::OutcomeUnknown.action(), None);
        let refused = SendFailure::Unreachable("connection refused".into());
        assert_eq!(refused.action(), Some(ErrorAction::Retry));
    }

    #[test]
    fn an_answer_that_does_not_prove_a_refusal_is_an_unknown_outcome_never_a_retry() {
        for http_status in [200, 201, 204, 500, 502, 503, 504, 408] {
            let failure = SendFailure::BadResponse { http_status };
            assert_eq!(failure.action(), None, "http {http_status}");
            assert!(!failure.proves_refusal());
        }
        // A proxy's own refusal before Meta saw the request is safe to retry.
        for http_status in [400, 403, 429] {
            assert_eq!(
                SendFailure::BadResponse { http_status }.action(),
                Some(ErrorAction::Retry),
                "http {http_status}"
            );
        }
    }

    #[test]
    fn pair_rate_backoff_grows_by_four_and_stays_within_an_sqs_delay() {
        let waits: Vec<u64> = (0..6).map(|n| pair_rate_backoff(n).as_secs()).collect();
        assert_eq!(waits, [4, 16, 64, 256, 900, 900]);
        assert_eq!(pair_rate_backoff(u32::MAX).as_secs(), 900);
    }
}
