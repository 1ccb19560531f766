//! What an operator of the chat stack watches: alarms on the signals that need no code
//! (each function's errors and throttles, the asynchronous function's dropped events, the
//! API's integration and execution errors, throttled DynamoDB requests for each operation the
//! contract grants on each table), notifying the optional `AlarmTopicArn`; and a dashboard of
//! the metrics the functions emit (from the contract's list) beside Lambda's and API Gateway's.

use serde_json::json;
use streamgate_contract::invocation::Invocation;
use streamgate_contract::metrics::Emitter;
use streamgate_contract::{Function, Permission};

use super::parameters::Params;
use super::pascal;
use crate::resources::apigateway::WebSocketApi;
use crate::resources::cloudwatch::{Alarm, Dashboard, Dimension, Statistic};
use crate::resources::dynamodb::Table;
use crate::resources::lambda::LambdaFunction;
use crate::stacks::watch::{AlarmTopic, PERIOD, Widgets, alarm_topic, dashboard_name};
use crate::template::{Handle, Template};

/// What is watched.
pub(super) struct Watched<'a> {
    pub(super) functions: &'a [(Function, Handle<LambdaFunction>)],
    pub(super) api: &'a Handle<WebSocketApi>,
    pub(super) connections: &'a Handle<Table>,
    pub(super) quotas: &'a Handle<Table>,
    pub(super) conversations: &'a Handle<Table>,
}

/// The DynamoDB operations the contract grants, per table: `(table logical id, operation)`.
fn table_operations(w: &Watched) -> Vec<(&'static str, &'static str)> {
    let mut ops: Vec<(&'static str, &'static str)> = Vec::new();
    for (f, _) in w.functions {
        for grant in f.spec().permissions {
            let granted: &[(&'static str, &'static str)] = match grant {
                Permission::PutConnection => &[("Connections", "PutItem")],
                Permission::GetConnection => &[("Connections", "GetItem")],
                Permission::DeleteConnection => &[("Connections", "DeleteItem")],
                Permission::UpdateQuota => &[("Quotas", "UpdateItem")],
                Permission::ReadConversations => {
                    &[("Conversations", "GetItem"), ("Conversations", "Query")]
                }
                Permission::WriteConversations => &[
                    ("Conversations", "UpdateItem"),
                    ("Conversations", "TransactWriteItems"),
                ],
                Permission::CancelAnswers => &[("Conversations", "PutItem")],
                Permission::PostToConnection
                | Permission::ReadLlmApiKey
                | Permission::InvokeBedrockModel => continue,
            };
            for op in granted {
                if !ops.contains(op) {
                    ops.push(*op);
                }
            }
        }
    }
    ops
}

/// An alarm at one event or more in five minutes.
fn any(
    topic: &AlarmTopic,
    description: String,
    namespace: &'static str,
    metric: &'static str,
    dimensions: Vec<Dimension>,
) -> Alarm {
    Alarm::at_least(
        description,
        namespace,
        metric,
        dimensions,
        Statistic::Sum,
        1.0,
        (PERIOD, 1, 1),
        &topic.actions,
    )
}

/// The alarms and the dashboard.
pub(super) fn watch(t: &mut Template, p: &Params, w: &Watched) {
    let topic = alarm_topic(t);
    let api_dims = || {
        vec![
            Dimension {
                name: "ApiId",
                value: w.api.r#ref(),
            },
            Dimension {
                name: "Stage",
                value: p.stage.r#ref(),
            },
        ]
    };
    for (f, handle) in w.functions {
        let stem = pascal(f.name());
        let dims = || {
            vec![Dimension {
                name: "FunctionName",
                value: handle.r#ref(),
            }]
        };
        t.add(
            &format!("{stem}FunctionErrorsAlarm"),
            any(
                &topic,
                format!("The {} function failed (an invocation error or timeout); its log group has the lines.", f.name()),
                "AWS/Lambda",
                "Errors",
                dims(),
            ),
        );
        t.add(
            &format!("{stem}FunctionThrottlesAlarm"),
            any(
                &topic,
                format!(
                    "The {} function was throttled: the account's concurrency is used up.",
                    f.name()
                ),
                "AWS/Lambda",
                "Throttles",
                dims(),
            ),
        );
        if f.routes()
            .any(|r| r.invocation() == Invocation::Asynchronous)
        {
            t.add(
                &format!("{stem}FunctionAsyncEventsDroppedAlarm"),
                any(
                    &topic,
                    format!("Events for the {} function were dropped (failed with retries off, or too old): those messages got no answer.", f.name()),
                    "AWS/Lambda",
                    "AsyncEventsDropped",
                    dims(),
                ),
            );
        }
    }
    t.add(
        "ApiIntegrationErrorAlarm",
        any(
            &topic,
            "API Gateway could not invoke a route's function (or it answered an error).".into(),
            "AWS/ApiGateway",
            "IntegrationError",
            api_dims(),
        ),
    );
    t.add(
        "ApiExecutionErrorAlarm",
        any(
            &topic,
            "API Gateway failed to handle a request (execution errors).".into(),
            "AWS/ApiGateway",
            "ExecutionError",
            api_dims(),
        ),
    );
    for (table, op) in table_operations(w) {
        let handle = match table {
            "Connections" => w.connections,
            "Quotas" => w.quotas,
            _ => w.conversations,
        };
        t.add(
            &format!("{table}Table{op}ThrottlesAlarm"),
            any(
                &topic,
                format!(
                    "DynamoDB throttled {op} requests on the {} table.",
                    table.to_lowercase()
                ),
                "AWS/DynamoDB",
                "ThrottledRequests",
                vec![
                    Dimension {
                        name: "TableName",
                        value: handle.r#ref(),
                    },
                    Dimension {
                        name: "Operation",
                        value: op.into(),
                    },
                ],
            ),
        );
    }

    let mut widgets = Widgets::new();
    widgets.streamgate(Emitter::Chat);
    widgets.streamgate(Emitter::Identity);
    let mut refs = Vec::new();
    let per_function = |metric: &str, stat: &str| {
        w.functions
            .iter()
            .map(|(f, h)| {
                json!(["AWS/Lambda", metric, "FunctionName", format!("@@{}@@", h.id()), {"label": f.name(), "stat": stat}])
            })
            .collect::<Vec<_>>()
    };
    for (_, h) in w.functions {
        refs.push((h.id().to_owned(), h.r#ref()));
    }
    widgets.add("Function errors", "Sum", per_function("Errors", "Sum"));
    widgets.add(
        "Function throttles",
        "Sum",
        per_function("Throttles", "Sum"),
    );
    widgets.add(
        "Function duration (p99)",
        "p99",
        per_function("Duration", "p99"),
    );
    widgets.add(
        "Asynchronous events dropped",
        "Sum",
        per_function("AsyncEventsDropped", "Sum"),
    );
    let api = |metric: &str| {
        json!([
            "AWS/ApiGateway",
            metric,
            "ApiId",
            format!("@@{}@@", w.api.id()),
            "Stage",
            format!("@@{}@@", p.stage.id())
        ])
    };
    refs.push((w.api.id().to_owned(), w.api.r#ref()));
    refs.push((p.stage.id().to_owned(), p.stage.r#ref()));
    widgets.add(
        "API Gateway: connections and messages",
        "Sum",
        vec![api("ConnectCount"), api("MessageCount")],
    );
    widgets.add(
        "API Gateway: errors",
        "Sum",
        vec![
            api("IntegrationError"),
            api("ExecutionError"),
            api("ClientError"),
        ],
    );
    let refs: Vec<(&str, crate::expr::Expr)> =
        refs.iter().map(|(n, e)| (n.as_str(), e.clone())).collect();
    t.add(
        "Dashboard",
        Dashboard {
            dashboard_name: dashboard_name(),
            dashboard_body: widgets.body(&refs),
        },
    );
}
