//! `AWS::CloudWatch::*`: alarms on one metric, and dashboards.
//!
//! An alarm's actions go to an optional SNS topic: `AlarmActions` holds one `Fn::If` that is
//! `AWS::NoValue` without a topic, so a stack without one still deploys (the alarms then only
//! show in the console). Missing data is not breaching: a quiet stack is not an alarm.

use serde::Serialize;

use crate::expr::Expr;
use crate::template::{NoAttr, Resource};

/// How the datapoints of a period are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Statistic {
    /// Their sum (counts).
    Sum,
    /// Their average (utilisation).
    Average,
    /// The largest.
    Maximum,
}

/// A dimension of the metric.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dimension {
    /// Its name.
    pub name: &'static str,
    /// Its value.
    pub value: Expr,
}

/// `AWS::CloudWatch::Alarm` on one metric, at or above a threshold.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Alarm {
    /// What it means, and what to look at.
    pub alarm_description: String,
    /// The metric's namespace (`AWS/Lambda`, ...).
    pub namespace: &'static str,
    /// The metric.
    pub metric_name: &'static str,
    /// Its dimensions.
    pub dimensions: Vec<Dimension>,
    /// How a period's datapoints combine.
    pub statistic: Statistic,
    /// Seconds per period.
    pub period: u32,
    /// Periods looked at.
    pub evaluation_periods: u32,
    /// Of which this many must breach.
    pub datapoints_to_alarm: u32,
    /// The threshold.
    pub threshold: f64,
    /// Always at or above.
    pub comparison_operator: &'static str,
    /// Always `notBreaching`.
    pub treat_missing_data: &'static str,
    /// The topic, or nothing.
    pub alarm_actions: Vec<Expr>,
    /// The topic again, when the alarm clears.
    #[serde(rename = "OKActions")]
    pub ok_actions: Vec<Expr>,
}

impl Alarm {
    /// An alarm when `statistic` of `metric` over `period` seconds reaches `threshold` in
    /// `breaching` of the last `periods` periods; `actions` is the optional topic.
    #[allow(clippy::too_many_arguments)]
    pub fn at_least(
        description: impl Into<String>,
        namespace: &'static str,
        metric: &'static str,
        dimensions: Vec<Dimension>,
        statistic: Statistic,
        threshold: f64,
        (period, periods, breaching): (u32, u32, u32),
        actions: &Expr,
    ) -> Alarm {
        Alarm {
            alarm_description: description.into(),
            namespace,
            metric_name: metric,
            dimensions,
            statistic,
            period,
            evaluation_periods: periods,
            datapoints_to_alarm: breaching,
            threshold,
            comparison_operator: "GreaterThanOrEqualToThreshold",
            treat_missing_data: "notBreaching",
            alarm_actions: vec![actions.clone()],
            ok_actions: vec![actions.clone()],
        }
    }
}

impl Resource for Alarm {
    const TYPE: &'static str = "AWS::CloudWatch::Alarm";
    type Attr = NoAttr;
}

/// `AWS::CloudWatch::Dashboard`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Dashboard {
    /// Its name (unique in the account: the stack's name and region).
    pub dashboard_name: Expr,
    /// The widgets, as the JSON string CloudWatch takes.
    pub dashboard_body: Expr,
}

impl Resource for Dashboard {
    const TYPE: &'static str = "AWS::CloudWatch::Dashboard";
    type Attr = NoAttr;
}
