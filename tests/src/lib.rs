//! polite's integration-test harness. Tests in `tests/` use [`moto`] for a real local
//! DynamoDB + SQS endpoint and [`Stack::create`] for a fresh copy of the template's tables
//! and queues under a unique prefix, so tests run in parallel without seeing each other.

pub mod moto;

pub use moto::{Moto, Stack};
