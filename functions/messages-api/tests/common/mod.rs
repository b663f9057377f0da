//! The scheduler on moto, as the test files share it.

#![allow(dead_code, reason = "each test file uses part of the harness")]

use jiff::{SignedDuration, Timestamp};
use lambda_http::{Body, Request};
use messages_api::handle_at;
use polite_adapters::contacts::DynamoContacts;
use polite_adapters::messages::DynamoMessages;
use polite_adapters::queue::SqsQueue;
use polite_adapters::templates::DynamoTemplates;
use polite_app::scheduler::Scheduler;
use polite_domain::campaign::CampaignSettings;
use polite_domain::envelope::{self, kinds};
use polite_domain::message::MessageState;
use polite_domain::ports::prelude::*;
use polite_domain::request::SendJob;
use polite_tests::{Stack, drain};
use serde_json::Value;

pub(crate) fn now() -> Timestamp {
    "2026-11-23T12:00:00Z".parse().unwrap()
}

pub(crate) fn later(minutes: i64) -> Timestamp {
    now() + SignedDuration::from_mins(minutes)
}

/// `a` with `b`'s fields set.
pub(crate) fn merge(mut a: Value, b: &Value) -> Value {
    for (k, v) in b.as_object().unwrap() {
        a[k] = v.clone();
    }
    a
}

pub(crate) struct Harness {
    pub(crate) stack: Stack,
    pub(crate) sqs: aws_sdk_sqs::Client,
    pub(crate) scheduler:
        Scheduler<DynamoMessages, DynamoContacts, SqsQueue, polite_adapters::templates::DynamoTemplates>,
}

impl Harness {
    pub(crate) async fn new() -> Harness {
        Self::with(CampaignSettings::default()).await
    }

    pub(crate) async fn with(campaigns: CampaignSettings) -> Harness {
        let stack = Stack::create().await.unwrap();
        let dynamo = aws_sdk_dynamodb::Client::new(&stack.sdk);
        let sqs = aws_sdk_sqs::Client::new(&stack.sdk);
        let scheduler = Scheduler {
            messages: DynamoMessages::new(dynamo.clone(), stack.table("MessagesTable"), b"test-contact-hash-key"),
            contacts: DynamoContacts::new(dynamo.clone(), stack.table("ContactsTable"), b"test-contact-hash-key"),
            templates: DynamoTemplates::new(dynamo, stack.table("TemplatesTable")),
            send_queue: SqsQueue::new(sqs.clone(), stack.queue("SendQueue")),
            campaigns,
            audiences: polite_app::scheduler::NoAudiences,
        };
        Harness { stack, sqs, scheduler }
    }

    pub(crate) async fn call_at(&self, method: &str, path: &str, body: Option<&Value>, at: Timestamp) -> (u16, Value) {
        let req: Request = lambda_http::http::Request::builder()
            .method(method)
            .uri(path)
            .body(body.map_or(Body::Empty, |b| Body::Text(b.to_string())))
            .unwrap();
        let response = handle_at(&self.scheduler, &req, at).await;
        let status = response.status().as_u16();
        let bytes = response.body().as_ref();
        (status, if bytes.is_empty() { Value::Null } else { serde_json::from_slice(bytes).unwrap() })
    }

    pub(crate) async fn call(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        self.call_at(method, path, body, now()).await
    }

    /// The template registry holds `name` (pt_BR) as APPROVED in `category`, as Meta set it an
    /// hour before [`now`].
    pub(crate) async fn registry(&self, name: &str, category: polite_domain::message::Category) {
        self.registry_shaped(name, category, None).await;
    }

    /// [`Self::registry`], with the template's variables as Meta's list gives them.
    pub(crate) async fn registry_shaped(
        &self,
        name: &str,
        category: polite_domain::message::Category,
        shape: Option<polite_domain::placeholders::TemplateShape>,
    ) {
        use polite_domain::ports::prelude::*;
        use polite_domain::template::{TemplateKey, TemplateUpdate};
        let update = TemplateUpdate {
            key: TemplateKey::new(name, "pt_BR"),
            id: None,
            status: Some("APPROVED".into()),
            reason: None,
            category: Some(category),
            pending_category: None,
            quality: None,
            shape,
            at: now() - SignedDuration::from_hours(1),
        };
        self.scheduler.templates.apply_template(&update).await.unwrap();
    }

    pub(crate) async fn post(&self, body: &Value) -> (u16, Value) {
        self.call("POST", "/v1/messages", Some(body)).await
    }

    /// Ids of the send jobs waiting on send-queue (received and deleted).
    pub(crate) async fn queued_jobs(&self) -> Vec<String> {
        let bodies = drain(&self.sqs, self.stack.queue("SendQueue")).await.unwrap();
        bodies.iter().map(|b| envelope::decode::<SendJob>(kinds::SEND_JOB, b).unwrap().id).collect()
    }

    pub(crate) async fn state(&self, id: &str) -> MessageState {
        self.scheduler.messages.get(id).await.unwrap().unwrap().state
    }
}
