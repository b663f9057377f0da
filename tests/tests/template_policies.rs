//! Least privilege, checked on `template.yaml`: every function has its own role (or shares one
//! named for both), and that role grants exactly what the function's configuration points at —
//! each table, queue and SSM parameter in its environment, each queue it consumes, its own log
//! group — and nothing with a `*` resource but X-Ray (which has no resource-level permissions).

#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests fail loudly")]

use std::collections::{BTreeMap, BTreeSet};

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

// ---------------------------------------------------------------------------------------------
// Narrow ports ⇔ IAM: each function names the ports it uses (its handler's bounds); the
// DynamoDB adapters' code says which item actions each port's implementation calls; the
// function's role grants exactly those on each table — no fewer (AccessDenied in AWS, where
// moto would not notice) and no more.

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The DynamoDB calls an adapter makes, by how its code spells them, and the IAM action each
/// needs (a transaction needs the action of each item in it; a batch write its own action).
const CALLS: &[(&str, &str)] = &[
    (".get_item()", "dynamodb:GetItem"),
    (".query()", "dynamodb:Query"),
    (".scan()", "dynamodb:Scan"),
    (".put_item()", "dynamodb:PutItem"),
    (".update_item()", "dynamodb:UpdateItem"),
    (".delete_item()", "dynamodb:DeleteItem"),
    (".batch_write_item()", "dynamodb:BatchWriteItem"),
    ("Put::builder()", "dynamodb:PutItem"),
    ("Update::builder()", "dynamodb:UpdateItem"),
    ("Delete::builder()", "dynamodb:DeleteItem"),
    ("ConditionCheck::builder()", "dynamodb:ConditionCheckItem"),
];

/// The adapter serving each table a function is configured with (`<NAME>_TABLE`).
const TABLE_ADAPTERS: &[(&str, &str)] =
    &[("ContactsTable", "DynamoContacts"), ("MessagesTable", "DynamoMessages"), ("TemplatesTable", "DynamoTemplates")];

/// An adapter serving every table it is handed (by name, per call).
const ANY_TABLE_ADAPTER: &str = "Outboxes";

/// One function of the adapters' source: whose it is, what it calls.
#[derive(Debug, Default)]
struct Body {
    /// `(type, trait)` of the impl block it is in; `None` for a free function.
    owner: Option<(String, Option<String>)>,
    actions: BTreeSet<&'static str>,
    /// Methods called on `self`/`Self`, and free functions called.
    methods: BTreeSet<String>,
    free: BTreeSet<String>,
}

/// `fn name` in a line, if it defines one.
fn defined_fn(line: &str) -> Option<String> {
    let rest = line.trim_start();
    let rest = ["pub(crate) ", "pub "].iter().fold(rest, |r, p| r.strip_prefix(p).unwrap_or(r));
    let rest = rest.strip_prefix("async ").unwrap_or(rest);
    let rest = rest.strip_prefix("fn ")?;
    let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
    (!name.is_empty()).then_some(name)
}

/// Identifiers directly followed by `(` after `prefix` (or after a non-identifier character
/// when `prefix` is empty).
fn called(code: &str, prefix: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut i = 0;
    while i < bytes.len() {
        let starts = if prefix.is_empty() {
            ident(bytes[i]) && (i == 0 || (!ident(bytes[i - 1]) && bytes[i - 1] != b'.'))
        } else {
            code[i..].starts_with(prefix) && (i == 0 || !ident(bytes[i - 1]))
        };
        if !starts {
            i += 1;
            continue;
        }
        let from = i + prefix.len();
        let end = from + code[from..].bytes().take_while(|b| ident(*b)).count();
        if end > from && bytes.get(end) == Some(&b'(') {
            out.insert(code[from..end].to_owned());
        }
        i = end.max(i + 1);
    }
    out
}

/// Every function in the adapters' source files, by name.
fn adapter_bodies() -> Vec<(String, Body)> {
    let mut out: Vec<(String, Body)> = Vec::new();
    let dir = format!("{ROOT}/shared/adapters/src");
    for entry in std::fs::read_dir(&dir).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut owner: Option<(String, Option<String>)> = None;
        for line in source.lines() {
            let code = line.split("//").next().unwrap_or("");
            if let Some(head) = line.strip_prefix("impl") {
                let head = head.trim_start_matches(|c| c != ' ').trim().trim_end_matches('{').trim();
                owner = Some(match head.split_once(" for ") {
                    Some((tr, ty)) => (ty.trim().to_owned(), Some(tr.trim().to_owned())),
                    None => (head.to_owned(), None),
                });
                continue;
            }
            if line == "}" {
                owner = None;
                continue;
            }
            if let Some(name) = defined_fn(code).filter(|_| !line.starts_with("        ")) {
                let owner = if line.starts_with("    ") { owner.clone() } else { None };
                out.push((name, Body { owner, ..Body::default() }));
            }
            let Some((_, body)) = out.last_mut() else { continue };
            body.actions.extend(CALLS.iter().filter(|(c, _)| code.contains(c)).map(|(_, a)| *a));
            body.methods.extend(called(code, "self."));
            body.methods.extend(called(code, "Self::"));
            body.free.extend(called(code, ""));
        }
    }
    out
}

/// The actions `adapter`'s implementation of `port` calls, through every helper it uses.
fn port_actions(bodies: &[(String, Body)], adapter: &str, port: &str) -> BTreeSet<&'static str> {
    let in_impl = |b: &Body| b.owner.as_ref().is_some_and(|(ty, tr)| ty == adapter && tr.as_deref() == Some(port));
    let mut todo: Vec<usize> = (0..bodies.len()).filter(|&i| in_impl(&bodies[i].1)).collect();
    let mut seen: BTreeSet<usize> = todo.iter().copied().collect();
    let mut actions = BTreeSet::new();
    while let Some(i) = todo.pop() {
        let body = &bodies[i].1;
        actions.extend(body.actions.iter().copied());
        for (j, (name, other)) in bodies.iter().enumerate() {
            let method = other.owner.as_ref().is_some_and(|(ty, _)| ty == adapter) && body.methods.contains(name);
            let free = other.owner.is_none() && body.free.contains(name);
            if (method || free) && seen.insert(j) {
                todo.push(j);
            }
        }
    }
    actions
}

/// The port traits (`shared/domain/src/ports.rs`), each umbrella trait with the narrow ones it
/// stands for.
fn ports() -> Vec<(String, Vec<String>)> {
    let source = std::fs::read_to_string(format!("{ROOT}/shared/domain/src/ports.rs")).unwrap();
    source
        .lines()
        .filter_map(|l| l.strip_prefix("pub trait "))
        .map(|rest| {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric()).collect();
            let supers = rest[name.len()..]
                .strip_prefix(':')
                .map(|s| {
                    s.trim_end_matches('{').trim_end_matches("{}").split('+').map(|t| t.trim().to_owned()).collect()
                })
                .unwrap_or_default();
            (name, supers)
        })
        .collect()
}

/// The narrow ports a function's code names (its handler's bounds).
fn named_ports(binary: &str, ports: &[(String, Vec<String>)]) -> BTreeSet<String> {
    let mut code = String::new();
    for entry in std::fs::read_dir(format!("{ROOT}/functions/{binary}/src")).unwrap() {
        let source = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        for line in source.lines().filter(|l| !l.trim_start().starts_with("//")) {
            code.push_str(line);
            code.push('\n');
        }
    }
    let words: BTreeSet<&str> = code.split(|c: char| !(c.is_alphanumeric() || c == '_')).collect();
    let mut named = BTreeSet::new();
    for (port, supers) in ports {
        if words.contains(port.as_str()) {
            named.insert(port.clone());
            named.extend(supers.iter().cloned());
        }
    }
    named
}

/// The item actions granted on each table, and needed on it, per role.
#[derive(Debug, Default)]
struct TableAccess {
    granted: BTreeMap<String, BTreeSet<String>>,
    needed: BTreeMap<String, BTreeSet<String>>,
    /// Who needs what, for the failure message.
    why: BTreeMap<String, BTreeSet<String>>,
}

const ITEM_ACTIONS: &[&str] = &[
    "dynamodb:GetItem",
    "dynamodb:Query",
    "dynamodb:Scan",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:ConditionCheckItem",
];

fn table_access() -> BTreeMap<String, TableAccess> {
    let doc: Value = serde_norway::from_str(TEMPLATE).unwrap();
    let resources = doc["Resources"].as_mapping().unwrap();
    let bodies = adapter_bodies();
    let ports = ports();
    let mut roles: BTreeMap<String, TableAccess> = BTreeMap::new();
    for (_, function) in resources.iter().filter(|(_, r)| r["Type"] == "AWS::Serverless::Function") {
        let props = &function["Properties"];
        let role_id = target(&props["Role"]).unwrap();
        let binary = function["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let access = roles.entry(role_id.clone()).or_default();
        let tables: Vec<String> = props["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str().is_some_and(|k| k.ends_with("_TABLE")))
            .filter_map(|(_, v)| target(v))
            .collect();
        for s in statements(&resources[role_id.as_str()]) {
            for table in tables.iter().filter(|t| s.resources.contains(&format!("GetAtt {t}.Arn"))) {
                let items = s.actions.iter().filter(|a| ITEM_ACTIONS.contains(&a.as_str())).cloned();
                access.granted.entry(table.clone()).or_default().extend(items);
            }
        }
        for port in named_ports(binary, &ports) {
            for table in &tables {
                let adapter = TABLE_ADAPTERS.iter().find(|(t, _)| t == table).map(|(_, a)| *a).unwrap();
                for adapter in [adapter, ANY_TABLE_ADAPTER] {
                    let actions = port_actions(&bodies, adapter, &port);
                    for action in actions {
                        access.needed.entry(table.clone()).or_default().insert(action.to_owned());
                        access.why.entry(format!("{table} {action}")).or_default().insert(format!("{binary}: {port}"));
                    }
                }
            }
        }
    }
    roles
}

#[test]
fn each_role_grants_on_each_table_exactly_what_its_functions_narrow_ports_call() {
    let roles = table_access();
    assert!(roles.len() >= 8, "{roles:?}");
    let mut wrong = Vec::new();
    for (role, access) in &roles {
        let tables: BTreeSet<&String> = access.granted.keys().chain(access.needed.keys()).collect();
        for table in tables {
            let granted = access.granted.get(table).cloned().unwrap_or_default();
            let needed = access.needed.get(table).cloned().unwrap_or_default();
            for missing in needed.difference(&granted) {
                wrong.push(format!(
                    "{role}: {missing} on {table} is needed by {:?}",
                    access.why[&format!("{table} {missing}")]
                ));
            }
            for extra in granted.difference(&needed) {
                wrong.push(format!("{role}: {extra} on {table} is granted but no port it uses calls it"));
            }
        }
    }
    assert_eq!(wrong, Vec::<String>::new());
}

#[test]
fn the_port_analysis_reads_the_adapters_calls() {
    let bodies = adapter_bodies();
    let set = |a: &[&'static str]| a.iter().copied().collect::<BTreeSet<_>>();
    // Reading a person: a strongly consistent get and the identity/ledger queries, no write.
    assert_eq!(port_actions(&bodies, "DynamoContacts", "ContactReader"), set(&["dynamodb:GetItem", "dynamodb:Query"]));
    // A status mark finds the person (an identity's link: get, query) and updates them.
    assert_eq!(
        port_actions(&bodies, "DynamoContacts", "DeliveryMarks"),
        set(&["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"])
    );
    // The due index: a query and a set-aside update.
    assert_eq!(port_actions(&bodies, "DynamoMessages", "DueIndex"), set(&["dynamodb:Query", "dynamodb:UpdateItem"]));
    assert!(port_actions(&bodies, "DynamoMessages", "NoSuchPort").is_empty());
    let ports = ports();
    let store = ports.iter().find(|(p, _)| p == "ContactStore").unwrap();
    assert!(store.1.contains(&"ContactEraser".to_owned()), "{store:?}");
    assert_eq!(
        named_ports("status-processor", &ports),
        ["DeliveryMarks", "EventQueue", "MessageReader", "StatusLedger"].iter().map(|s| (*s).to_owned()).collect()
    );
    assert_eq!(called("self.read(id).await; outbox::put(a, b); x.get(", "self."), set2(&["read"]));
    assert_eq!(called("self.read(id).await; outbox::put(a, b); x.get(", ""), set2(&["put"]));
}

fn set2(a: &[&str]) -> BTreeSet<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}
