//! polite's adapters: the ports of `polite-domain` on DynamoDB and SQS, and the Lambda glue
//! every function shares. Vendor errors become domain variants here.

pub mod audiences;
pub mod batch;
pub mod bus;
pub mod clock;
pub mod config;
pub mod contacts;
mod dynamo;
pub mod graph;
pub mod http;
pub mod init;
pub mod messages;
pub mod outbox;
#[cfg(feature = "provision")]
pub mod provision;
pub mod queue;
mod retry;
pub mod scheduling;
pub mod secrets;
pub mod tables;
pub mod telemetry;
pub mod templates;
