//! `AWS::ApplicationAutoScaling::*`: the relay service's task count follows its CPU.

use serde::Serialize;

use crate::expr::Expr;
use crate::template::{NoAttr, Resource};

/// `AWS::ApplicationAutoScaling::ScalableTarget` of an ECS service's desired count.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalableTarget {
    /// Fewest tasks.
    pub min_capacity: Expr,
    /// Most tasks.
    pub max_capacity: Expr,
    /// `service/{cluster}/{service}`.
    pub resource_id: Expr,
    /// `ecs:service:DesiredCount`.
    pub scalable_dimension: &'static str,
    /// `ecs`.
    pub service_namespace: &'static str,
}

impl Resource for ScalableTarget {
    const TYPE: &'static str = "AWS::ApplicationAutoScaling::ScalableTarget";
    type Attr = NoAttr;
}

/// A predefined metric.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredefinedMetric {
    /// `ECSServiceAverageCPUUtilization`.
    pub predefined_metric_type: &'static str,
}

/// Target tracking.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetTracking {
    /// The metric.
    pub predefined_metric_specification: PredefinedMetric,
    /// The value kept.
    pub target_value: f64,
    /// Seconds after a scale-in before the next.
    pub scale_in_cooldown: u32,
    /// Seconds after a scale-out before the next.
    pub scale_out_cooldown: u32,
}

/// `AWS::ApplicationAutoScaling::ScalingPolicy` (target tracking).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalingPolicy {
    /// Its name.
    pub policy_name: Expr,
    /// `TargetTrackingScaling`.
    pub policy_type: &'static str,
    /// The scalable target.
    pub scaling_target_id: Expr,
    /// What it tracks.
    pub target_tracking_scaling_policy_configuration: TargetTracking,
}

impl Resource for ScalingPolicy {
    const TYPE: &'static str = "AWS::ApplicationAutoScaling::ScalingPolicy";
    type Attr = NoAttr;
}
