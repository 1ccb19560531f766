//! What both stacks share to be watched: the optional alarm topic, and dashboards whose
//! streamgate widgets come from the contract's list of metrics (one widget per metric the
//! stack's code emits, so no widget names a metric nothing emits).

use serde_json::{Value, json};
use streamgate_contract::metrics::{Emitter, Kind, Metric, NAMESPACE, SERVICE_DIMENSION};

use crate::expr::{CondExpr, Expr, Pseudo, Sub};
use crate::template::{ParamRef, Parameter, Template};

/// The alarms' actions: the `AlarmTopicArn` parameter's topic, or none.
pub(crate) struct AlarmTopic {
    /// What `AlarmActions` and `OKActions` hold.
    pub(crate) actions: Expr,
}

/// Declares `AlarmTopicArn` (empty by default: the stack deploys without a topic).
pub(crate) fn alarm_topic(t: &mut Template) -> AlarmTopic {
    let topic = t.parameter(
        "AlarmTopicArn",
        Parameter::string(
            "An SNS topic the alarms notify (empty: the alarms only show in CloudWatch).",
        )
        .default("")
        .pattern(
            "^(arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_.-]+)?$",
            "an SNS topic ARN, or empty",
        ),
    );
    let has_topic = t.condition(
        "HasAlarmTopic",
        CondExpr::Not(Box::new(CondExpr::Equals(topic.r#ref(), Expr::lit("")))),
    );
    AlarmTopic {
        actions: has_topic.if_else(topic.r#ref(), Expr::no_value()),
    }
}

/// Declares `EmitMetrics` (`on` by default): `off` writes no EMF lines, so CloudWatch bills no
/// custom metric (the alarms on AWS's own metrics stay; the streamgate widgets go empty).
pub(crate) fn metrics_parameter(t: &mut Template) -> ParamRef {
    t.parameter(
        "EmitMetrics",
        Parameter::string(
            "on: the code's metrics reach CloudWatch as EMF log lines (each metric and dimension value is a billed custom metric); off: none.",
        )
        .default("on")
        .allowed(&["on", "off"]),
    )
}

/// Five minutes, in seconds: the period of every alarm and widget.
pub(crate) const PERIOD: u32 = 300;

/// A dashboard's widgets laid out two to a row.
pub(crate) struct Widgets {
    widgets: Vec<Value>,
}

/// How wide a widget is (of the dashboard's 24 columns).
const WIDTH: usize = 12;
/// How tall.
const HEIGHT: usize = 6;

impl Widgets {
    /// No widget yet.
    pub(crate) fn new() -> Widgets {
        Widgets {
            widgets: Vec::new(),
        }
    }

    /// A time-series widget of `metrics` (CloudWatch's metric arrays, strings that need a
    /// stack value written `@@Name@@`: `Region`, `StackName`, or a reference given to
    /// [`Widgets::body`]).
    pub(crate) fn add(&mut self, title: &str, stat: &str, metrics: Vec<Value>) {
        let i = self.widgets.len();
        self.widgets.push(json!({
            "type": "metric",
            "x": (i % 2) * WIDTH,
            "y": (i / 2) * HEIGHT,
            "width": WIDTH,
            "height": HEIGHT,
            "properties": {
                "title": title,
                "region": "@@Region@@",
                "view": "timeSeries",
                "stat": stat,
                "period": PERIOD,
                "metrics": metrics,
            },
        }));
    }

    /// One widget per metric `emitter` emits: its stack-wide figure (the `Service`
    /// dimension alone), summed for counters, p50/p90/p99 for histograms.
    pub(crate) fn streamgate(&mut self, emitter: Emitter) {
        for metric in Metric::of(emitter) {
            let line = |stat: &str| json!([NAMESPACE, metric.name(), SERVICE_DIMENSION, "@@StackName@@", {"stat": stat, "label": stat}]);
            match metric.kind() {
                Kind::Counter => self.add(metric.help(), "Sum", vec![line("Sum")]),
                Kind::Histogram => self.add(
                    metric.help(),
                    "p90",
                    vec![line("p50"), line("p90"), line("p99")],
                ),
            }
        }
    }

    /// The `DashboardBody`: the widgets as JSON, in an `Fn::Sub` that writes each
    /// `@@Name@@` as the region, the stack's name, or the reference `refs` names.
    ///
    /// # Panics
    /// On a `@@Name@@` that is none of those: a bug in the generator, caught by its tests.
    pub(crate) fn body(self, refs: &[(&str, Expr)]) -> Expr {
        let text = json!({"widgets": self.widgets}).to_string();
        let mut sub = Sub::new();
        for (i, piece) in text.split("@@").enumerate() {
            if i % 2 == 0 {
                sub = sub.text(piece);
                continue;
            }
            sub = match piece {
                "Region" => sub.pseudo(Pseudo::Region),
                "StackName" => sub.pseudo(Pseudo::StackName),
                name => match refs.iter().find(|(n, _)| *n == name) {
                    Some((_, e)) => sub.expr(e),
                    None => panic!("the dashboard names @@{name}@@, which is not given"),
                },
            };
        }
        sub.build()
    }
}

/// `<stack name>-<region>`: a dashboard's name (unique in the account).
pub(crate) fn dashboard_name() -> Expr {
    Sub::new()
        .pseudo(Pseudo::StackName)
        .text("-")
        .pseudo(Pseudo::Region)
        .build()
}

/// The metric names a generated dashboard shows in `namespace`, read back from its template
/// (`Fn::Sub` placeholders replaced by sample values): what the tests compare with the
/// contract's list.
pub fn dashboard_metrics(template: &Value, namespace: &str) -> Vec<String> {
    let mut names = Vec::new();
    for resource in template["Resources"].as_object().into_iter().flatten() {
        if resource.1["Type"] != "AWS::CloudWatch::Dashboard" {
            continue;
        }
        let body = resource.1["Properties"]["DashboardBody"]["Fn::Sub"]
            .as_str()
            .unwrap_or_default();
        let mut plain = String::new();
        let mut rest = body;
        while let Some(start) = rest.find("${") {
            plain.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .map_or(rest.len(), |e| start + e + 1);
            plain.push_str("sample");
            rest = &rest[end..];
        }
        plain.push_str(rest);
        let Ok(body) = serde_json::from_str::<Value>(&plain) else {
            names.push(format!("<unreadable body: {plain}>"));
            continue;
        };
        for widget in body["widgets"].as_array().into_iter().flatten() {
            for m in widget["properties"]["metrics"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if m[0] == namespace
                    && let Some(n) = m[1].as_str()
                {
                    names.push(n.to_owned());
                }
            }
        }
    }
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(emitters: &[Emitter]) -> Vec<String> {
        let mut names: Vec<String> = emitters
            .iter()
            .flat_map(|e| Metric::of(*e))
            .map(|m| m.name().to_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn each_dashboard_shows_exactly_the_metrics_its_code_emits() {
        let chat = crate::stacks::chat::build().to_json();
        assert_eq!(
            dashboard_metrics(&chat, NAMESPACE),
            names(&[Emitter::Chat, Emitter::Identity])
        );
        let relay = crate::stacks::relay::build().to_json();
        assert_eq!(
            dashboard_metrics(&relay, NAMESPACE),
            names(&[Emitter::Relay, Emitter::Identity])
        );
        // And the AWS metrics they show beside them.
        assert!(dashboard_metrics(&chat, "AWS/Lambda").contains(&"AsyncEventsDropped".to_owned()));
        assert!(dashboard_metrics(&relay, "AWS/ECS").contains(&"CPUUtilization".to_owned()));
    }

    #[test]
    fn every_alarm_notifies_the_optional_topic_only() {
        for template in [
            crate::stacks::chat::build().to_json(),
            crate::stacks::relay::build().to_json(),
        ] {
            assert_eq!(template["Parameters"]["AlarmTopicArn"]["Default"], "");
            let alarms: Vec<&Value> = template["Resources"]
                .as_object()
                .unwrap()
                .values()
                .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
                .collect();
            assert!(alarms.len() >= 4);
            for alarm in alarms {
                let expected = json!([{"Fn::If": ["HasAlarmTopic", {"Ref": "AlarmTopicArn"}, {"Ref": "AWS::NoValue"}]}]);
                assert_eq!(alarm["Properties"]["AlarmActions"], expected, "{alarm}");
                assert_eq!(alarm["Properties"]["OKActions"], expected);
                assert_eq!(alarm["Properties"]["TreatMissingData"], "notBreaching");
            }
        }
    }

    #[test]
    fn every_function_and_the_relay_follow_emit_metrics() {
        use streamgate_contract::config::{METRICS, METRICS_SERVICE};
        let chat = crate::stacks::chat::build().to_json();
        let functions: Vec<&Value> = chat["Resources"]
            .as_object()
            .unwrap()
            .values()
            .filter(|r| r["Type"] == "AWS::Lambda::Function")
            .collect();
        assert_eq!(functions.len(), streamgate_contract::Function::ALL.len());
        for f in functions {
            let vars = &f["Properties"]["Environment"]["Variables"];
            assert_eq!(vars[METRICS], json!({"Ref": "EmitMetrics"}));
            // The model's function also gets the stack's SystemPrompt.
            if vars
                .get(streamgate_contract::config::LLM_PROVIDER)
                .is_some()
            {
                assert_eq!(
                    vars[streamgate_contract::config::SYSTEM_PROMPT],
                    json!({"Ref": "SystemPrompt"})
                );
            }
            assert_eq!(vars[METRICS_SERVICE], json!({"Ref": "AWS::StackName"}));
        }
        let relay = crate::stacks::relay::build().to_json();
        let env = &relay["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]["Environment"];
        let value = |name: &str| {
            env.as_array()
                .unwrap()
                .iter()
                .find(|v| v["Name"] == name)
                .map(|v| v["Value"].clone())
        };
        assert_eq!(value(METRICS), Some(json!({"Ref": "EmitMetrics"})));
        assert_eq!(
            value(METRICS_SERVICE),
            Some(json!({"Ref": "AWS::StackName"}))
        );
    }

    #[test]
    fn a_body_reference_that_is_not_given_is_a_generator_bug() {
        let mut w = Widgets::new();
        w.add(
            "x",
            "Sum",
            vec![json!(["AWS/Lambda", "Errors", "FunctionName", "@@Nope@@"])],
        );
        let outcome = std::panic::catch_unwind(|| w.body(&[]));
        assert!(outcome.is_err());
    }
}
