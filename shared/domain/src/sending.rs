//! What message-sender does after calling the Graph API: the next state of the message, as a
//! pure function of the answer, the attempt number and the time (docs/architecture.md,
//! "Sending"; docs/whatsapp.md, "Error codes and what polite does").

use jiff::{SignedDuration, Timestamp};

use crate::message::{DeferReason, SendError};
use crate::status::Effect;
use crate::whatsapp::{Accepted, ENGAGEMENT_DEFERRAL, ErrorAction, SendFailure, pair_rate_backoff};

/// Retries of one message before a retryable error becomes `failed` (with the last code).
pub const MAX_ATTEMPTS: u32 = 8;

/// Attempts while the business number is throttled (130429): the message is not at fault, so
/// it keeps trying — at most every 15 minutes — for hours (its `expires_at` may end it sooner).
pub const MAX_THROTTLED_ATTEMPTS: u32 = 24;

/// The longest a retry waits on the queue (SQS `DelaySeconds` ≤ 900).
pub const MAX_RETRY_DELAY: SignedDuration = SignedDuration::from_secs(900);

/// 131048 (spam rate limit on the number): pause before trying again.
pub const SPAM_PAUSE: SignedDuration = SignedDuration::from_hours(1);

/// What to do with the message after a send attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AfterSend {
    /// Meta accepted it: `sent` with the wamid.
    Sent { wamid: String },
    /// Try again after `delay` (≤ 15 min: back on the queue, `deferred`), with why and the
    /// error that caused it (shown on the message while it waits).
    Retry { delay: SignedDuration, reason: DeferReason, error: SendError },
    /// Try again no earlier than `until` (> 15 min: back in the table, `scheduled`).
    Defer { until: Timestamp, reason: DeferReason, error: SendError },
    /// `failed` with Meta's error and what the error means for the contact (131050: a
    /// marketing opt-out; 130403: blocked; 131026: undeliverable).
    Fail { error: SendError, effect: Option<Effect> },
    /// Meta may have accepted it: stay `sending`; statuses (by callback data) or the
    /// unknown-outcome timeout decide. Never resend.
    Unknown,
}

/// Decides what follows a send attempt. `attempt` counts from 1; `jitter` in `[0, 1)` spreads
/// retries of many messages hit by the same limit.
pub fn after_send(result: &Result<Accepted, SendFailure>, attempt: u32, now: Timestamp, jitter: f64) -> AfterSend {
    let failure = match result {
        Ok(accepted) => return AfterSend::Sent { wamid: accepted.wamid.clone() },
        Err(failure) => failure,
    };
    let Some(action) = failure.action() else { return AfterSend::Unknown };
    let error = match failure {
        SendFailure::Rejected { error, .. } => SendError { code: error.code, title: error.message.clone() },
        other => SendError { code: 0, title: other.to_string() },
    };
    let limit = if action == ErrorAction::SlowDown { MAX_THROTTLED_ATTEMPTS } else { MAX_ATTEMPTS };
    match action {
        ErrorAction::OptOut | ErrorAction::Fail => AfterSend::Fail { effect: Effect::of_code(error.code), error },
        _ if attempt >= limit => AfterSend::Fail { error, effect: None },
        ErrorAction::DeferDay => {
            AfterSend::Defer { until: now + ENGAGEMENT_DEFERRAL, reason: DeferReason::RateLimited, error }
        }
        ErrorAction::PauseNumber => {
            AfterSend::Defer { until: now + SPAM_PAUSE, reason: DeferReason::RateLimited, error }
        }
        ErrorAction::RetryRecipient => AfterSend::Retry {
            delay: jittered(pair_rate_backoff(attempt - 1).try_into().unwrap_or(MAX_RETRY_DELAY), jitter),
            reason: DeferReason::RateLimited,
            error,
        },
        ErrorAction::SlowDown => {
            AfterSend::Retry { delay: jittered(exponential(attempt), jitter), reason: DeferReason::RateLimited, error }
        }
        ErrorAction::Retry | ErrorAction::Reauthenticate => AfterSend::Retry {
            delay: jittered(exponential(attempt), jitter),
            reason: DeferReason::GraphApiUnavailable,
            error,
        },
    }
}

/// 2^attempt seconds (2, 4, 8 … 256 s), capped at the queue's longest delay.
fn exponential(attempt: u32) -> SignedDuration {
    let seconds = 2i64.saturating_pow(attempt.min(20)).min(MAX_RETRY_DELAY.as_secs());
    SignedDuration::from_secs(seconds)
}

/// `base` plus up to half of it again, never past the queue's longest delay.
fn jittered(base: SignedDuration, jitter: f64) -> SignedDuration {
    let extra = base.as_secs_f64() * 0.5 * jitter.clamp(0.0, 1.0);
    let total = base + SignedDuration::from_secs_f64(extra);
    total.min(MAX_RETRY_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::whatsapp::GraphError;

    fn now() -> Timestamp {
        "2026-11-23T12:00:00Z".parse().unwrap()
    }

    fn refused(code: i64) -> Result<Accepted, SendFailure> {
        Err(SendFailure::Rejected {
            http_status: 400,
            error: GraphError {
                code,
                error_subcode: None,
                message: format!("error {code}"),
                details: None,
                fbtrace_id: None,
            },
        })
    }

    #[test]
    fn an_accepted_message_is_sent_with_its_wamid() {
        let ok = Ok(Accepted::new("wamid.X"));
        assert_eq!(after_send(&ok, 1, now(), 0.0), AfterSend::Sent { wamid: "wamid.X".into() });
    }

    #[test]
    fn permanent_codes_fail_at_once_and_131050_also_opts_out() {
        let AfterSend::Fail { error, effect: Some(Effect::OptOutMarketing) } =
            after_send(&refused(131_050), 1, now(), 0.0)
        else {
            panic!("131050 must fail with an opt-out")
        };
        assert_eq!((error.code, error.title.as_str()), (131_050, "error 131050"));
        assert!(matches!(
            after_send(&refused(130_403), 1, now(), 0.0),
            AfterSend::Fail { effect: Some(Effect::Blocked), .. }
        ));
        for code in [131_047, 132_001, 368] {
            assert!(
                matches!(after_send(&refused(code), 1, now(), 0.0), AfterSend::Fail { effect: None, .. }),
                "{code}"
            );
        }
    }

    #[test]
    fn a_per_user_marketing_limit_waits_a_day_and_a_spam_limit_an_hour() {
        assert_eq!(
            after_send(&refused(131_049), 1, now(), 0.0),
            AfterSend::Defer {
                until: now() + ENGAGEMENT_DEFERRAL,
                reason: DeferReason::RateLimited,
                error: SendError { code: 131_049, title: "error 131049".into() }
            }
        );
        assert!(
            matches!(after_send(&refused(131_048), 1, now(), 0.0), AfterSend::Defer { until, .. } if until == now() + SPAM_PAUSE)
        );
    }

    #[test]
    fn throughput_limits_back_off_exponentially_with_jitter_within_the_queue_delay() {
        let delay = |attempt, jitter| match after_send(&refused(130_429), attempt, now(), jitter) {
            AfterSend::Retry { delay, reason: DeferReason::RateLimited, error } if error.code == 130_429 => {
                delay.as_secs()
            }
            other => panic!("{other:?}"),
        };
        assert_eq!([delay(1, 0.0), delay(2, 0.0), delay(3, 0.0)], [2, 4, 8]);
        assert_eq!(delay(3, 0.99), 11, "jitter adds up to half");
        assert_eq!(delay(7, 0.99), 191);
        // A throttled number is not the message's fault: it keeps trying longer, every ≤ 15 min.
        assert_eq!(delay(MAX_ATTEMPTS, 0.0), 256);
        assert_eq!(delay(MAX_THROTTLED_ATTEMPTS - 1, 0.99), 900);
        assert!(
            matches!(after_send(&refused(130_429), MAX_THROTTLED_ATTEMPTS, now(), 0.0), AfterSend::Fail { .. }),
            "bounded"
        );
        assert!(matches!(after_send(&refused(131_000), MAX_ATTEMPTS, now(), 0.0), AfterSend::Fail { .. }));
    }

    #[test]
    fn a_pair_rate_limit_waits_four_to_the_n_seconds_for_that_recipient() {
        let delays: Vec<i64> = (1..=4)
            .map(|attempt| match after_send(&refused(131_056), attempt, now(), 0.0) {
                AfterSend::Retry { delay, .. } => delay.as_secs(),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(delays, [4, 16, 64, 256]);
    }

    #[test]
    fn an_unknown_outcome_is_never_retried_but_an_unreachable_api_is() {
        assert_eq!(after_send(&Err(SendFailure::OutcomeUnknown), 1, now(), 0.0), AfterSend::Unknown);
        for http_status in [200, 502, 503, 504] {
            let ambiguous = Err(SendFailure::BadResponse { http_status });
            assert_eq!(after_send(&ambiguous, 1, now(), 0.0), AfterSend::Unknown, "http {http_status}");
        }
        let unreachable = Err(SendFailure::Unreachable("refused".into()));
        assert!(matches!(
            after_send(&unreachable, 1, now(), 0.0),
            AfterSend::Retry { reason: DeferReason::GraphApiUnavailable, error, .. } if error.code == 0
        ));
        assert!(
            matches!(after_send(&unreachable, MAX_ATTEMPTS, now(), 0.0), AfterSend::Fail { error, .. } if error.code == 0)
        );
    }
}
