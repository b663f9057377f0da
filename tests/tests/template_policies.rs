//! Least privilege, checked on `template.yaml`: every function has its own role (or shares one
//! named for both), and that role grants exactly what the function's configuration points at —
//! each table, queue and SSM parameter in its environment, each queue it consumes, its own log
//! group — and nothing with a `*` resource but X-Ray (which has no resource-level permissions).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::BTreeSet;

use serde_norway::Value;

const TEMPLATE: &str = include_str!("../../template.yaml");

/// The branch an `!If [cond, then, else]` takes when its condition holds (the other branch is
/// `AWS::NoValue` everywhere in the policies).
fn unwrap_if(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) if t.tag == "If" => t.value.as_sequence().and_then(|s| s.get(1)).unwrap_or(v),
        _ => v,
    }
}

fn text(v: &Value) -> String {
    serde_norway::to_string(v).unwrap()
}

/// `!Ref X` / `!GetAtt X.Arn` → `X`.
fn target(v: &Value) -> Option<String> {
    match unwrap_if(v) {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(str::to_owned),
        Value::Tagged(t) if t.tag == "GetAtt" => {
            t.value.as_str().and_then(|s| s.split_once('.')).map(|(id, _)| id.to_owned())
        }
        _ => None,
    }
}

#[derive(Debug)]
struct Statement {
    actions: Vec<String>,
    resources: String,
}

impl Statement {
    fn allows(&self, prefix: &str) -> bool {
        self.actions.iter().any(|a| a.starts_with(prefix))
    }
    fn on(&self, logical_id: &str) -> bool {
        self.resources.contains(&format!("GetAtt {logical_id}.Arn"))
            || self.resources.contains(&format!("${{{logical_id}.Arn}}"))
    }
}

fn statements(role: &Value) -> Vec<Statement> {
    let mut out = Vec::new();
    for policy in role["Properties"]["Policies"].as_sequence().unwrap() {
        let policy = unwrap_if(policy);
        for s in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
            let s = unwrap_if(s);
            assert_eq!(s["Effect"], "Allow", "{}", text(s));
            let actions = match &s["Action"] {
                Value::String(a) => vec![a.clone()],
                Value::Sequence(seq) => seq.iter().map(|a| a.as_str().unwrap().to_owned()).collect(),
                other => panic!("Action {}", text(other)),
            };
            out.push(Statement { actions, resources: text(&s["Resource"]) });
        }
    }
    out
}

/// The grants the function's event sources need: its queues (receive, delete), its streams
/// (read) with their on-failure queues (send); each added to what it may be granted.
fn consumed_grants(
    id: &str,
    props: &Value,
    grants: &[Statement],
    queues: &mut BTreeSet<String>,
    streams: &mut BTreeSet<String>,
) {
    for event in props["Events"].as_mapping().unwrap().values() {
        if event["Type"] == "SQS" {
            let queue = target(&event["Properties"]["Queue"]).unwrap();
            for action in ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"] {
                let ok = grants.iter().any(|s| s.actions.iter().any(|a| a == action) && s.on(&queue));
                assert!(ok, "{id}: the event source needs {action} on {queue}");
            }
            queues.insert(queue);
        }
        if event["Type"] == "DynamoDB" {
            // A stream: read it; the batches it gives up on go to the on-failure queue.
            let table = target(&event["Properties"]["Stream"]).unwrap();
            let stream = format!("GetAtt {table}.StreamArn");
            for action in ["dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:DescribeStream"] {
                let ok = grants.iter().any(|s| s.actions.iter().any(|a| a == action) && s.resources.contains(&stream));
                assert!(ok, "{id}: the stream event source needs {action} on {table}'s stream");
            }
            let failed = target(&event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"])
                .unwrap_or_else(|| panic!("{id}: a stream event source needs an on-failure destination"));
            let sends = grants.iter().any(|s| s.actions.iter().any(|a| a == "sqs:SendMessage") && s.on(&failed));
            assert!(sends, "{id}: cannot send failed batches to {failed}");
            queues.insert(failed);
            streams.insert(table);
        }
    }
}

#[test]
fn every_function_is_granted_exactly_the_resources_its_configuration_names() {
    let doc: Value = serde_norway::from_str(TEMPLATE).unwrap();
    let resources = doc["Resources"].as_mapping().unwrap();
    let kind = |id: &str| resources.get(id).and_then(|r| r["Type"].as_str()).unwrap_or("").to_owned();
    let mut checked = 0;
    for (id, function) in resources {
        if function["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        let id = id.as_str().unwrap();
        let binary = function["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let props = &function["Properties"];
        let role_id = target(&props["Role"]).unwrap_or_else(|| panic!("{id} has no Role: !GetAtt <role>.Arn"));
        assert_eq!(kind(&role_id), "AWS::IAM::Role", "{id}");
        let grants = statements(&resources[role_id.as_str()]);

        // Nothing on `*` but X-Ray's writes.
        for s in &grants {
            if s.resources.trim() == "'*'" {
                assert!(s.actions.iter().all(|a| a.starts_with("xray:")), "{id}: {s:?} on *");
            }
        }

        // Its environment → its grants.
        let mut tables = BTreeSet::new();
        let mut queues = BTreeSet::new();
        let mut params = BTreeSet::new();
        let mut buses = BTreeSet::new();
        let mut streams = BTreeSet::new();
        for (key, value) in props["Environment"]["Variables"].as_mapping().unwrap() {
            let key = key.as_str().unwrap();
            let Some(target) = target(value) else { continue };
            if key.ends_with("_TABLE") {
                assert!(grants.iter().any(|s| s.allows("dynamodb:") && s.on(&target)), "{id}: no grant on {target}");
                tables.insert(target);
            } else if key.ends_with("_QUEUE_URL") {
                let sends = grants.iter().any(|s| s.actions.iter().any(|a| a == "sqs:SendMessage") && s.on(&target));
                assert!(sends, "{id}: cannot send to {target}");
                queues.insert(target);
            } else if key.ends_with("_EVENT_BUS") {
                let puts = grants.iter().any(|s| s.actions == ["events:PutEvents"] && s.on(&target));
                assert!(puts, "{id}: cannot put events on {target}");
                buses.insert(target);
            } else if key.ends_with("_PARAM") {
                let reads = grants
                    .iter()
                    .any(|s| s.allows("ssm:GetParameters") && s.resources.contains(&format!("${{{target}}}")));
                assert!(reads, "{id}: cannot read the SSM parameter {target}");
                params.insert(target);
            }
        }
        // What it consumes: queues and streams.
        consumed_grants(id, props, &grants, &mut queues, &mut streams);
        // Its log group: named after the fixed function name, with retention, created first.
        let name = format!("${{AWS::StackName}}-{binary}");
        assert!(text(&props["FunctionName"]).contains(&name), "{id}: FunctionName must be {name}");
        let log_group = function["DependsOn"].as_str().unwrap_or_else(|| panic!("{id} must depend on its log group"));
        let group = &resources[log_group];
        assert_eq!(group["Type"], "AWS::Logs::LogGroup");
        assert!(text(&group["Properties"]["LogGroupName"]).contains(&format!("/aws/lambda/{name}")), "{id}");
        assert!(!group["Properties"]["RetentionInDays"].is_null(), "{id}: {log_group} keeps logs forever");
        assert!(
            grants
                .iter()
                .any(|s| s.allows("logs:PutLogEvents") && s.resources.contains(&format!("/aws/lambda/{name}:*"))),
            "{id}: cannot write its logs"
        );

        // And nothing else: every table, queue and parameter granted is one the role's
        // functions are configured with (the shared scheduler role is checked per function,
        // its two functions having the same configuration).
        for s in &grants {
            for (table, _) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table") {
                let table = table.as_str().unwrap();
                if s.allows("dynamodb:") && s.on(table) {
                    assert!(tables.contains(table), "{id}: granted {table} it is not configured with");
                }
            }
            for (queue, _) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::SQS::Queue") {
                let queue = queue.as_str().unwrap();
                if s.allows("sqs:") && s.on(queue) {
                    assert!(queues.contains(queue), "{id}: granted {queue} it neither sends to nor consumes");
                }
            }
            if s.allows("events:") {
                let on_buses = buses.iter().any(|b| s.on(b));
                assert!(on_buses && s.actions == ["events:PutEvents"], "{id}: {s:?} is more than PutEvents on its bus");
            }
            for (table, _) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table") {
                let table = table.as_str().unwrap();
                if s.resources.contains(&format!("GetAtt {table}.StreamArn")) {
                    assert!(streams.contains(table), "{id}: reads {table}'s stream without consuming it");
                }
            }
            if s.allows("ssm:") {
                let granted: BTreeSet<String> = s
                    .resources
                    .split("parameter${")
                    .skip(1)
                    .filter_map(|rest| rest.split_once('}').map(|(p, _)| p.to_owned()))
                    .collect();
                assert!(granted.is_subset(&params), "{id}: reads {granted:?}, configured with {params:?}");
            }
        }
        checked += 1;
    }
    assert_eq!(checked, 9, "every function checked");
}

#[test]
fn the_checks_above_catch_a_missing_grant_and_a_star() {
    // A role that forgot the queue its function consumes, and one granting DynamoDB on `*`.
    let missing = statements(&serde_norway::from_str::<Value>(
        "Properties:\n  Policies:\n    - PolicyName: p\n      PolicyDocument:\n        Statement:\n          - {Effect: Allow, Action: sqs:SendMessage, Resource: !GetAtt SendQueue.Arn}\n",
    )
    .unwrap());
    assert!(!missing.iter().any(|s| s.actions.iter().any(|a| a == "sqs:ReceiveMessage") && s.on("SendQueue")));
    assert!(missing[0].on("SendQueue") && !missing[0].on("Send"));
    let star = statements(&serde_norway::from_str::<Value>(
        "Properties:\n  Policies:\n    - PolicyName: p\n      PolicyDocument:\n        Statement:\n          - {Effect: Allow, Action: [dynamodb:GetItem], Resource: '*'}\n",
    )
    .unwrap());
    assert_eq!(star[0].resources.trim(), "'*'");
}

#[test]
fn only_the_event_publisher_puts_events_and_only_on_polite_s_bus() {
    let doc: Value = serde_norway::from_str(TEMPLATE).unwrap();
    let resources = doc["Resources"].as_mapping().unwrap();
    let mut putters = Vec::new();
    for (id, resource) in resources {
        if resource["Type"] != "AWS::IAM::Role" {
            continue;
        }
        for s in statements(resource) {
            if s.allows("events:PutEvents") {
                assert!(s.on("PoliteEventBus") && !s.resources.contains('*'), "{}: {s:?}", id.as_str().unwrap());
                putters.push(id.as_str().unwrap().to_owned());
            }
        }
    }
    assert_eq!(putters, ["EventPublisherRole"]);
}
