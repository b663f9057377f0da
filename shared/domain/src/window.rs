//! The customer-service window: each message a person writes opens 24 hours in which the
//! business may answer with anything (free-form text, media, service messages); outside it
//! only templates go (docs/whatsapp.md).

use jiff::{SignedDuration, Timestamp};

/// The customer-service window WhatsApp opens with each inbound message.
pub const SERVICE_WINDOW: SignedDuration = SignedDuration::from_hours(24);

/// When the window a user's message at `last_inbound_at` opened closes.
pub fn window_closes(last_inbound_at: Timestamp) -> Option<Timestamp> {
    last_inbound_at.checked_add(SERVICE_WINDOW).ok()
}
