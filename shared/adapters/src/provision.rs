//! Creates polite's tables and queues *from `template.yaml`*, so the local stack and the
//! tests can never drift from what `sam deploy` creates.
//!
//! Reads the template's `AWS::DynamoDB::Table` (with its stream), `AWS::SQS::Queue` and
//! `AWS::Events::EventBus` and `AWS::S3::Bucket` resources (short-form
//! tags such as `!GetAtt X.Arn` and their long forms both understood) and creates each under
//! `<prefix>-<LogicalId>`, dead-letter queues first so redrive policies can point at them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, anyhow, bail};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_norway::Value;

/// A table as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    /// `(name, "S" | "N" | "B")`
    pub attributes: Vec<(String, String)>,
    /// `(name, "HASH" | "RANGE")`
    pub key_schema: Vec<(String, String)>,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
    /// `StreamSpecification.StreamViewType`, when the table has a stream.
    pub stream_view: Option<String>,
}

/// A global secondary index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection: String,
}

/// A queue as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSpec {
    pub logical_id: String,
    /// Plain attributes (`VisibilityTimeout`, `MessageRetentionPeriod`…) as strings.
    pub attributes: BTreeMap<String, String>,
    /// `(dead-letter queue logical id, maxReceiveCount)`.
    pub redrive: Option<(String, u32)>,
}

/// A function as the template declares it: the bin it runs and what triggers it (the local
/// stack serves and feeds functions from this).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSpec {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo bin.
    pub binary: String,
    /// `Timeout` in seconds (the function's own, else the Globals').
    pub timeout: u32,
    /// HttpApi events: `(METHOD, /path/{param})`.
    pub routes: Vec<(String, String)>,
    /// SQS events: the queue's logical id and `BatchSize`.
    pub queues: Vec<(String, u32)>,
    /// Schedule events: the expression (`rate(1 minute)`).
    pub schedules: Vec<String>,
    /// DynamoDB stream events: the table's logical id, `BatchSize` and the filter patterns
    /// (`FilterCriteria.Filters[].Pattern`, JSON text).
    pub streams: Vec<StreamSource>,
}

/// A function's DynamoDB stream event source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamSource {
    pub table: String,
    pub batch_size: u32,
    pub filters: Vec<String>,
}

/// The resources of a template.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resources {
    pub tables: Vec<TableSpec>,
    pub queues: Vec<QueueSpec>,
    pub functions: Vec<FunctionSpec>,
    /// `AWS::Events::EventBus` logical ids.
    pub buses: Vec<String>,
    /// `AWS::S3::Bucket` logical ids.
    pub buckets: Vec<String>,
}

/// What was created: logical id → physical name (tables, buses, buckets) or URL (queues).
#[derive(Debug, Clone, Default)]
pub struct Provisioned {
    pub tables: BTreeMap<String, String>,
    pub queues: BTreeMap<String, String>,
    pub buses: BTreeMap<String, String>,
    pub buckets: BTreeMap<String, String>,
}

impl Provisioned {
    /// Environment variables a function reads for these resources: `ContactsTable` →
    /// `CONTACTS_TABLE`, `SendQueue` → `SEND_QUEUE_URL` (the same names the deployed template
    /// sets).
    pub fn env(&self) -> BTreeMap<String, String> {
        let tables = self.tables.iter().map(|(id, name)| (env_name(id), name.clone()));
        let queues = self.queues.iter().map(|(id, url)| (format!("{}_URL", env_name(id)), url.clone()));
        let buses = self.buses.iter().map(|(id, name)| (env_name(id), name.clone()));
        let buckets = self.buckets.iter().map(|(id, name)| (env_name(id), name.clone()));
        tables.chain(queues).chain(buses).chain(buckets).collect()
    }
}

/// `InboundEventsQueue` → `INBOUND_EVENTS_QUEUE`; an acronym stays one word
/// (`InboundEventsDLQ` → `INBOUND_EVENTS_DLQ`).
pub fn env_name(logical_id: &str) -> String {
    let mut out = String::new();
    let mut previous: Option<char> = None;
    for c in logical_id.chars() {
        if c.is_ascii_uppercase() && previous.is_some_and(|p| p.is_ascii_lowercase() || p.is_ascii_digit()) {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        previous = Some(c);
    }
    out
}

/// Reads the tables and queues of the template at `path`.
pub fn read_template(path: &Path) -> anyhow::Result<Resources> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_template(&text)
}

/// Parses the tables and queues out of template text.
pub fn parse_template(text: &str) -> anyhow::Result<Resources> {
    let doc: Value = serde_norway::from_str(text).context("template.yaml is not valid YAML")?;
    let resources =
        doc.get("Resources").and_then(Value::as_mapping).ok_or_else(|| anyhow!("template has no Resources"))?;
    let default_timeout =
        doc.get("Globals").and_then(|g| g.get("Function")).and_then(|f| f.get("Timeout")).and_then(Value::as_u64);
    let mut out = Resources::default();
    for (id, resource) in resources {
        let id = id.as_str().ok_or_else(|| anyhow!("resource id is not a string"))?.to_owned();
        let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
        match resource.get("Type").and_then(Value::as_str) {
            Some("AWS::DynamoDB::Table") => out.tables.push(table_spec(id, &props)?),
            Some("AWS::SQS::Queue") => out.queues.push(queue_spec(id, &props)?),
            Some("AWS::Serverless::Function") => out.functions.push(function_spec(id, resource, default_timeout)?),
            Some("AWS::Events::EventBus") => out.buses.push(id),
            Some("AWS::S3::Bucket") => out.buckets.push(id),
            _ => {}
        }
    }
    Ok(out)
}

fn function_spec(logical_id: String, resource: &Value, default_timeout: Option<u64>) -> anyhow::Result<FunctionSpec> {
    let binary = resource
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("function {logical_id} has no Metadata.BuildProperties.Binary"))?
        .to_owned();
    let props = resource.get("Properties");
    let timeout = props.and_then(|p| p.get("Timeout")).and_then(Value::as_u64).or(default_timeout).unwrap_or(3);
    let mut spec = FunctionSpec {
        logical_id,
        binary,
        timeout: u32::try_from(timeout).unwrap_or(u32::MAX),
        routes: Vec::new(),
        queues: Vec::new(),
        schedules: Vec::new(),
        streams: Vec::new(),
    };
    let events = props.and_then(|p| p.get("Events")).and_then(Value::as_mapping);
    for (name, event) in events.into_iter().flatten() {
        let id = &spec.logical_id;
        let name = name.as_str().unwrap_or("?");
        let p = event.get("Properties").unwrap_or(&Value::Null);
        let text = |key: &str| {
            p.get(key)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| anyhow!("{id}.{name}: {key} is missing"))
        };
        match event.get("Type").and_then(Value::as_str) {
            Some("HttpApi") => spec.routes.push((text("Method")?.to_ascii_uppercase(), text("Path")?)),
            Some("SQS") => {
                let queue = p
                    .get("Queue")
                    .and_then(get_att_target)
                    .ok_or_else(|| anyhow!("{id}.{name}: Queue must be !GetAtt <Queue>.Arn"))?;
                let batch = p.get("BatchSize").and_then(Value::as_u64).unwrap_or(10);
                spec.queues.push((queue, u32::try_from(batch).unwrap_or(10)));
            }
            Some("Schedule" | "ScheduleV2") => spec.schedules.push(text("ScheduleExpression")?),
            Some("DynamoDB") => {
                let table = p
                    .get("Stream")
                    .and_then(get_att_target)
                    .ok_or_else(|| anyhow!("{id}.{name}: Stream must be !GetAtt <Table>.StreamArn"))?;
                let batch = p.get("BatchSize").and_then(Value::as_u64).unwrap_or(100);
                let filters = p
                    .get("FilterCriteria")
                    .and_then(|f| f.get("Filters"))
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        f.get("Pattern")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .ok_or_else(|| anyhow!("{id}.{name}: a filter's Pattern must be JSON text"))
                    })
                    .collect::<anyhow::Result<Vec<_>>>()?;
                spec.streams.push(StreamSource { table, batch_size: u32::try_from(batch).unwrap_or(100), filters });
            }
            _ => {}
        }
    }
    Ok(spec)
}

fn pairs(v: Option<&Value>, a: &str, b: &str) -> anyhow::Result<Vec<(String, String)>> {
    let Some(list) = v.and_then(Value::as_sequence) else { return Ok(Vec::new()) };
    list.iter()
        .map(|item| {
            let get =
                |k: &str| item.get(k).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| anyhow!("missing {k}"));
            Ok((get(a)?, get(b)?))
        })
        .collect()
}

fn table_spec(logical_id: String, p: &Value) -> anyhow::Result<TableSpec> {
    let attributes = pairs(p.get("AttributeDefinitions"), "AttributeName", "AttributeType")?;
    let key_schema = pairs(p.get("KeySchema"), "AttributeName", "KeyType")?;
    let indexes = p
        .get("GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .map(|list| {
            list.iter()
                .map(|g| {
                    Ok(IndexSpec {
                        name: g
                            .get("IndexName")
                            .and_then(Value::as_str)
                            .ok_or_else(|| anyhow!("GSI without IndexName"))?
                            .to_owned(),
                        key_schema: pairs(g.get("KeySchema"), "AttributeName", "KeyType")?,
                        projection: g
                            .get("Projection")
                            .and_then(|pr| pr.get("ProjectionType"))
                            .and_then(Value::as_str)
                            .unwrap_or("ALL")
                            .to_owned(),
                    })
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .transpose()?
        .unwrap_or_default();
    let ttl = p.get("TimeToLiveSpecification");
    let ttl_attribute = ttl
        .filter(|t| t.get("Enabled").and_then(Value::as_bool).unwrap_or(false))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    if key_schema.is_empty() {
        bail!("table {logical_id} has no KeySchema");
    }
    let stream_view =
        p.get("StreamSpecification").and_then(|s| s.get("StreamViewType")).and_then(Value::as_str).map(str::to_owned);
    Ok(TableSpec { logical_id, attributes, key_schema, indexes, ttl_attribute, stream_view })
}

fn queue_spec(logical_id: String, p: &Value) -> anyhow::Result<QueueSpec> {
    let mut attributes = BTreeMap::new();
    for key in ["VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "ReceiveMessageWaitTimeSeconds"] {
        if let Some(v) = p.get(key) {
            attributes
                .insert(key.to_owned(), scalar(v).ok_or_else(|| anyhow!("{logical_id}.{key} must be a literal"))?);
        }
    }
    let redrive = match p.get("RedrivePolicy") {
        None => None,
        Some(r) => {
            let target = r.get("deadLetterTargetArn").ok_or_else(|| anyhow!("{logical_id}: redrive without target"))?;
            let dlq = get_att_target(target)
                .ok_or_else(|| anyhow!("{logical_id}: deadLetterTargetArn must be !GetAtt <Queue>.Arn"))?;
            let max = r.get("maxReceiveCount").and_then(scalar).and_then(|s| s.parse().ok()).unwrap_or(5);
            Some((dlq, max))
        }
    };
    Ok(QueueSpec { logical_id, attributes, redrive })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The logical id in `!GetAtt X.Arn`, `!GetAtt [X, Arn]` or `{"Fn::GetAtt": [X, Arn]}`.
fn get_att_target(v: &Value) -> Option<String> {
    let inner = match v {
        Value::Tagged(t) if t.tag == "GetAtt" || t.tag == "!GetAtt" => &t.value,
        Value::Mapping(m) => m.get("Fn::GetAtt")?,
        _ => return None,
    };
    match inner {
        Value::String(s) => s.split_once('.').map(|(id, _)| id.to_owned()),
        Value::Sequence(seq) => seq.first().and_then(Value::as_str).map(str::to_owned),
        _ => None,
    }
}

/// Creates every table and queue of `resources` under `prefix`.
pub async fn provision(
    sdk: &aws_config::SdkConfig,
    resources: &Resources,
    prefix: &str,
) -> anyhow::Result<Provisioned> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut out = Provisioned::default();
    for t in &resources.tables {
        let name = format!("{prefix}-{}", t.logical_id);
        create_table(&ddb, &name, t).await.with_context(|| format!("creating table {name}"))?;
        out.tables.insert(t.logical_id.clone(), name);
    }
    // Dead-letter queues first: the others' redrive policies need their ARNs.
    let mut queues: Vec<&QueueSpec> = resources.queues.iter().collect();
    queues.sort_by_key(|q| q.redrive.is_some());
    for q in queues {
        let name = format!("{prefix}-{}", q.logical_id);
        let mut attrs: std::collections::HashMap<QueueAttributeName, String> =
            q.attributes.iter().map(|(k, v)| (QueueAttributeName::from(k.as_str()), v.clone())).collect();
        if let Some((dlq, max)) = &q.redrive {
            let dlq_url = out
                .queues
                .get(dlq)
                .ok_or_else(|| anyhow!("{}: dead-letter queue {dlq} is not a queue of the template", q.logical_id))?;
            let arn = queue_arn(&sqs, dlq_url).await?;
            let policy = serde_json::json!({"deadLetterTargetArn": arn, "maxReceiveCount": max}).to_string();
            attrs.insert(QueueAttributeName::RedrivePolicy, policy);
        }
        let created = sqs
            .create_queue()
            .queue_name(&name)
            .set_attributes(Some(attrs))
            .send()
            .await
            .with_context(|| format!("creating queue {name}"))?;
        let url = created.queue_url().ok_or_else(|| anyhow!("CreateQueue returned no URL for {name}"))?;
        out.queues.insert(q.logical_id.clone(), url.to_owned());
    }
    let events = aws_sdk_eventbridge::Client::new(sdk);
    for bus in &resources.buses {
        let name = format!("{prefix}-{bus}");
        events.create_event_bus().name(&name).send().await.with_context(|| format!("creating event bus {name}"))?;
        out.buses.insert(bus.clone(), name);
    }
    let s3 = crate::audiences::S3Audiences::client(sdk);
    for bucket in &resources.buckets {
        // Bucket names are lower case.
        let name = format!("{prefix}-{bucket}").to_ascii_lowercase();
        s3.create_bucket().bucket(&name).send().await.with_context(|| format!("creating bucket {name}"))?;
        out.buckets.insert(bucket.clone(), name);
    }
    Ok(out)
}

/// The ARN of the queue at `url` (redrive policies; the dev stack's SQS events).
///
/// # Errors
/// When SQS cannot be asked or answers without one.
pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> anyhow::Result<String> {
    let attrs = sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::QueueArn).send().await?;
    attrs
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| anyhow!("no QueueArn for {url}"))
}

fn key_schema(pairs: &[(String, String)]) -> anyhow::Result<Vec<KeySchemaElement>> {
    pairs
        .iter()
        .map(|(name, kind)| {
            Ok(KeySchemaElement::builder().attribute_name(name).key_type(KeyType::from(kind.as_str())).build()?)
        })
        .collect()
}

async fn create_table(ddb: &aws_sdk_dynamodb::Client, name: &str, t: &TableSpec) -> anyhow::Result<()> {
    let attributes = t
        .attributes
        .iter()
        .map(|(n, ty)| {
            Ok(AttributeDefinition::builder()
                .attribute_name(n)
                .attribute_type(ScalarAttributeType::from(ty.as_str()))
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let indexes = t
        .indexes
        .iter()
        .map(|g| {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(&g.name)
                .set_key_schema(Some(key_schema(&g.key_schema)?))
                .projection(Projection::builder().projection_type(ProjectionType::from(g.projection.as_str())).build())
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let stream = t
        .stream_view
        .as_deref()
        .map(|view| {
            StreamSpecification::builder().stream_enabled(true).stream_view_type(StreamViewType::from(view)).build()
        })
        .transpose()?;
    ddb.create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(&t.key_schema)?))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .set_stream_specification(stream)
        .send()
        .await?;
    if let Some(attr) = &t.ttl_attribute {
        ddb.update_time_to_live()
            .table_name(name)
            .time_to_live_specification(TimeToLiveSpecification::builder().attribute_name(attr).enabled(true).build()?)
            .send()
            .await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: &str = include_str!("../../../template.yaml");

    #[test]
    fn the_template_declares_the_tables_and_queues_the_design_needs() {
        let r = parse_template(TEMPLATE).unwrap();
        let tables: Vec<&str> = r.tables.iter().map(|t| t.logical_id.as_str()).collect();
        assert_eq!(tables, ["ContactsTable", "MessagesTable", "TemplatesTable"]);
        let queues: Vec<&str> = r.queues.iter().map(|q| q.logical_id.as_str()).collect();
        for q in [
            "InboundEventsQueue",
            "StatusEventsQueue",
            "SendQueue",
            "InboundEventsDLQ",
            "StatusEventsDLQ",
            "SendDLQ",
            "TemplateEventsQueue",
            "TemplateEventsDLQ",
            "WebhookParkingQueue",
        ] {
            assert!(queues.contains(&q), "{q} missing");
        }
    }

    #[test]
    fn every_work_queue_redrives_to_its_own_dead_letter_queue() {
        let r = parse_template(TEMPLATE).unwrap();
        for (queue, dlq) in [
            ("InboundEventsQueue", "InboundEventsDLQ"),
            ("StatusEventsQueue", "StatusEventsDLQ"),
            ("SendQueue", "SendDLQ"),
        ] {
            let q = r.queues.iter().find(|q| q.logical_id == queue).unwrap();
            assert_eq!(q.redrive, Some((dlq.to_owned(), 5)), "{queue}");
            let visibility: u32 = q.attributes["VisibilityTimeout"].parse().unwrap();
            let consumer = r.functions.iter().find(|f| f.queues.iter().any(|(q, _)| q == queue)).unwrap();
            assert!(
                visibility >= 6 * consumer.timeout,
                "{queue}: visibility {visibility}s < 6 x {}'s {}s timeout",
                consumer.binary,
                consumer.timeout
            );
        }
    }

    #[test]
    fn every_route_of_the_contract_is_served_once_and_every_queue_has_its_consumer() {
        let r = parse_template(TEMPLATE).unwrap();
        let mut routes: Vec<(String, String, String)> = r
            .functions
            .iter()
            .flat_map(|f| f.routes.iter().map(|(m, p)| (p.clone(), m.clone(), f.binary.clone())))
            .collect();
        routes.sort();
        let expected = [
            ("/v1/campaigns", "POST", "messages-api"),
            ("/v1/campaigns/{id}", "GET", "messages-api"),
            ("/v1/campaigns/{id}/cancel", "POST", "messages-api"),
            ("/v1/campaigns/{id}/exports", "POST", "messages-api"),
            ("/v1/campaigns/{id}/exports/{export_id}", "GET", "messages-api"),
            ("/v1/campaigns/{id}/messages", "GET", "messages-api"),
            ("/v1/campaigns/{id}/pause", "POST", "messages-api"),
            ("/v1/campaigns/{id}/resume", "POST", "messages-api"),
            ("/v1/consents/imports/{id}", "GET", "contacts-api"),
            ("/v1/consents:import", "POST", "contacts-api"),
            ("/v1/contacts/{contact}", "DELETE", "contacts-api"),
            ("/v1/contacts/{contact}", "GET", "contacts-api"),
            ("/v1/contacts/{contact}", "PATCH", "contacts-api"),
            ("/v1/contacts/{contact}/consent", "PUT", "contacts-api"),
            ("/v1/contacts/{contact}/consent-evidence", "GET", "contacts-api"),
            ("/v1/contacts/{contact}/consent-history", "GET", "contacts-api"),
            ("/v1/messages", "POST", "messages-api"),
            ("/v1/messages/{id}", "DELETE", "messages-api"),
            ("/v1/messages/{id}", "GET", "messages-api"),
            ("/webhook", "GET", "webhook-intake"),
            ("/webhook", "POST", "webhook-intake"),
        ];
        let expected: Vec<(String, String, String)> =
            expected.iter().map(|(p, m, f)| ((*p).to_owned(), (*m).to_owned(), (*f).to_owned())).collect();
        assert_eq!(routes, expected);

        let consumer = |queue: &str| {
            let f = r.functions.iter().find(|f| f.queues.iter().any(|(q, _)| q == queue));
            f.map(|f| f.binary.as_str())
        };
        assert_eq!(consumer("InboundEventsQueue"), Some("consent-updater"));
        assert_eq!(consumer("StatusEventsQueue"), Some("status-processor"));
        assert_eq!(consumer("SendQueue"), Some("message-sender"));
        assert_eq!(consumer("TemplateEventsQueue"), Some("template-registry"));
        let publisher = r.functions.iter().find(|f| f.binary == "event-publisher").unwrap();
        let outboxes: Vec<&str> = publisher.streams.iter().map(|s| s.table.as_str()).collect();
        assert_eq!(outboxes, ["MessagesTable", "ContactsTable"]);
        for source in &publisher.streams {
            let filter: serde_json::Value = serde_json::from_str(&source.filters[0]).unwrap();
            assert_eq!(filter["eventName"], serde_json::json!(["INSERT"]));
            assert_eq!(filter["dynamodb"]["Keys"]["pk"]["S"][0]["prefix"], "OUT#");
        }
        let tick = r.functions.iter().find(|f| f.binary == "scheduler-tick").unwrap();
        assert_eq!((tick.schedules.as_slice(), tick.timeout), (&["rate(1 minute)".to_owned()][..], 60));
    }

    #[test]
    fn every_bin_of_the_workspace_is_a_function() {
        let r = parse_template(TEMPLATE).unwrap();
        let mut binaries: Vec<&str> = r.functions.iter().map(|f| f.binary.as_str()).collect();
        binaries.sort_unstable();
        assert_eq!(
            binaries,
            [
                "consent-updater",
                "contacts-api",
                "event-publisher",
                "message-sender",
                "messages-api",
                "scheduler-tick",
                "status-processor",
                "template-registry",
                "webhook-intake"
            ]
        );
    }

    #[test]
    fn messages_table_has_the_sparse_due_index_and_ttl() {
        let r = parse_template(TEMPLATE).unwrap();
        let m = r.tables.iter().find(|t| t.logical_id == "MessagesTable").unwrap();
        assert_eq!(m.indexes[0].name, "DueIndex");
        assert_eq!(
            m.indexes[0].key_schema,
            [("due_shard".to_owned(), "HASH".to_owned()), ("due_at".to_owned(), "RANGE".to_owned())]
        );
        assert_eq!(m.ttl_attribute.as_deref(), Some("ttl"));
    }

    #[test]
    fn short_and_long_get_att_forms_are_understood() {
        let t = |yaml: &str| {
            parse_template(&format!("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      RedrivePolicy:\n        deadLetterTargetArn: {yaml}\n        maxReceiveCount: 3\n  D:\n    Type: AWS::SQS::Queue\n")).unwrap()
        };
        for form in ["!GetAtt D.Arn", "!GetAtt [D, Arn]", "{\"Fn::GetAtt\": [D, Arn]}"] {
            let r = t(form);
            let q = r.queues.iter().find(|q| q.logical_id == "Q").unwrap();
            assert_eq!(q.redrive, Some(("D".to_owned(), 3)), "{form}");
        }
    }

    #[test]
    fn env_names_follow_the_logical_ids() {
        assert_eq!(env_name("InboundEventsQueue"), "INBOUND_EVENTS_QUEUE");
        assert_eq!(env_name("InboundEventsDLQ"), "INBOUND_EVENTS_DLQ");
        let p = Provisioned {
            tables: [("ContactsTable".to_owned(), "t-ContactsTable".to_owned())].into(),
            queues: [("SendQueue".to_owned(), "http://q".to_owned())].into(),
            buses: [("PoliteEventBus".to_owned(), "t-PoliteEventBus".to_owned())].into(),
            buckets: [("AudienceBucket".to_owned(), "t-audiencebucket".to_owned())].into(),
        };
        let env = p.env();
        assert_eq!(env["AUDIENCE_BUCKET"], "t-audiencebucket");
        assert_eq!(env["CONTACTS_TABLE"], "t-ContactsTable");
        assert_eq!(env["SEND_QUEUE_URL"], "http://q");
        assert_eq!(env["POLITE_EVENT_BUS"], "t-PoliteEventBus");
    }
}
