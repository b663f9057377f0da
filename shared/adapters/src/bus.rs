//! EventBridge: polite's events onto its bus, `PutEvents` in chunks of 10 (the API's limit,
//! and 256 KiB a call), entries that fail for a passing reason retried on their own.
//!
//! `PutEvents` can accept some entries and refuse others (`FailedEntryCount`): each refused
//! entry is retried with jittered backoff; what still fails is reported by position, so the
//! publisher fails exactly the stream records behind it.

use std::time::Duration;

use aws_sdk_eventbridge::Client;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use polite_domain::events::{Event, SOURCE};
use polite_domain::ports::{BusError, EventBus};

/// EventBridge's limit on entries per `PutEvents` call.
pub const MAX_BATCH: usize = 10;
/// Attempts per entry.
const ATTEMPTS: usize = 4;

/// One EventBridge bus.
#[derive(Debug, Clone)]
pub struct EventBridgeBus {
    client: Client,
    bus: String,
}

impl EventBridgeBus {
    /// The bus named `bus`, on a client built once at init.
    pub fn new(client: Client, bus: impl Into<String>) -> Self {
        Self { client, bus: bus.into() }
    }

    fn entry(&self, event: &Event) -> Result<PutEventsRequestEntry, BusError> {
        let detail = serde_json::to_string(&event.detail).map_err(|e| BusError::Unavailable(Box::new(e)))?;
        let mut entry = PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(event.detail_type.as_str())
            .detail(detail);
        // The event's time is when the fact happened, not when it was published.
        if let Some(at) = event.detail["occurred_at"].as_str().and_then(|t| t.parse::<jiff::Timestamp>().ok()) {
            entry = entry.time(aws_sdk_eventbridge::primitives::DateTime::from_secs(at.as_second()));
        }
        Ok(entry.build())
    }

    /// One call for `chunk` (positions into the caller's list); the positions to retry, with
    /// the last reason.
    async fn put_chunk(&self, events: &[Event], chunk: &[usize]) -> Result<(Vec<usize>, String), BusError> {
        let entries = chunk.iter().map(|&i| self.entry(&events[i])).collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .put_events()
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| BusError::Unavailable(Box::new(e.into_service_error())))?;
        let mut again = Vec::new();
        let mut reason = String::new();
        // Results come back in the entries' order; a failed one has an error code.
        for (&position, result) in chunk.iter().zip(out.entries()) {
            if let Some(code) = result.error_code() {
                reason = format!("{code}: {}", result.error_message().unwrap_or_default());
                again.push(position);
            }
        }
        Ok((again, reason))
    }
}

impl EventBus for EventBridgeBus {
    async fn put(&self, events: &[Event]) -> Result<(), BusError> {
        let mut delays = crate::retry::delays(Duration::from_millis(50), ATTEMPTS - 1);
        let mut pending: Vec<usize> = (0..events.len()).collect();
        let mut reason = String::new();
        let mut reached = false;
        let mut last_error = None;
        loop {
            let mut retry = Vec::new();
            for chunk in pending.chunks(MAX_BATCH) {
                match self.put_chunk(events, chunk).await {
                    Ok((again, why)) => {
                        reached = true;
                        if !again.is_empty() {
                            reason = why;
                        }
                        retry.extend(again);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, entries = chunk.len(), "PutEvents failed");
                        retry.extend_from_slice(chunk);
                        last_error = Some(e);
                    }
                }
            }
            pending = retry;
            if pending.is_empty() {
                return Ok(());
            }
            match delays.next() {
                Some(delay) => tokio::time::sleep(delay).await,
                None => break,
            }
        }
        match (reached, last_error) {
            (false, Some(e)) => Err(e),
            (_, e) => {
                if reason.is_empty() {
                    reason = e.map_or_else(|| "still failing after retries".to_owned(), |e| e.to_string());
                }
                Err(BusError::Partial { failed: pending, reason })
            }
        }
    }
}
