//! event-publisher's use case: the events read from the tables' outboxes put on the bus in
//! order, their details scrubbed from the outboxes once published, and each campaign they
//! name checked for completion ([`CampaignCompletion::complete_if_done`]) — checked here rather
//! than by the writer, so a crash between a message's last move and the check cannot skip it.

use std::collections::BTreeMap;

use jiff::Timestamp;
use metrics::counter;
use polite_domain::events::{DetailType, Event};
use polite_domain::ports::{BusError, CampaignCompletion, EventBus, PublishedEvents};

/// What publishing needs: the bus, the campaigns to complete, and the outboxes to scrub.
#[derive(Debug)]
pub struct Publisher<B, C, O> {
    pub bus: B,
    pub campaigns: C,
    pub outboxes: O,
}

/// One outbox item to publish: its event, and the table whose outbox holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    pub table: Option<String>,
    pub event: Event,
}

impl<B: EventBus + Sync, C: CampaignCompletion + Sync, O: PublishedEvents + Sync> Publisher<B, C, O> {
    /// Puts `items`' events on the bus in order, then scrubs them and checks the campaigns
    /// they name. `Some(i)`: item `i` and those after it are not done (deliver them again);
    /// `None`: all done.
    pub async fn publish(&self, items: &[OutboxEvent], now: Timestamp) -> Option<usize> {
        let events: Vec<Event> = items.iter().map(|i| i.event.clone()).collect();
        if let Err(e) = self.bus.put(&events).await {
            let first = match &e {
                BusError::Partial { failed, .. } => failed.iter().min().copied().unwrap_or(0),
                BusError::Unavailable(_) => 0,
            };
            tracing::error!(error = %e, failed_from = first, "events not put on the bus; they come again");
            counter!("EventsNotPublished").increment(u64::try_from(events.len() - first).unwrap_or(0));
            return Some(first);
        }
        // On the bus: the outboxes keep the ids, not the persons (all at once). A failure
        // loses nothing (the item expires in days); it is counted.
        let scrubs = items.iter().filter_map(|item| {
            counter!("EventsPublished", "detail_type" => item.event.detail_type.as_str()).increment(1);
            item.table.as_deref().map(|table| self.outboxes.scrub(table, item.event.id()))
        });
        for err in futures_util::future::join_all(scrubs).await.into_iter().filter_map(Result::err) {
            counter!("OutboxNotScrubbed").increment(1);
            tracing::warn!(error = %err, "a published event's detail stays in the outbox until it expires");
        }
        // Each campaign once, at the position of its first event in the batch.
        let mut campaigns: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, e) in events.iter().enumerate() {
            if let (DetailType::MessageStateChanged, Some(id)) = (e.detail_type, e.detail["campaign_id"].as_str()) {
                campaigns.entry(id).or_insert(i);
            }
        }
        let mut retry_from: Option<usize> = None;
        for (campaign, position) in campaigns {
            match self.campaigns.complete_if_done(campaign, now).await {
                Ok(true) => tracing::info!(campaign, "campaign completed"),
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(campaign, error = %e, "campaign completion not checked; it comes again");
                    retry_from = Some(retry_from.map_or(position, |p| p.min(position)));
                }
            }
        }
        retry_from
    }
}
