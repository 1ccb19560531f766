//! `AWS::ElasticLoadBalancingV2::*`: the relay's Application Load Balancer, its health-checked
//! target group, and a listener that forwards only requests carrying the origin header
//! CloudFront adds (anything else gets 403).

use serde::Serialize;

use crate::expr::Expr;
use crate::template::{NoAttr, Resource};

/// A load balancer or target group attribute.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LbAttribute {
    /// Its key.
    pub key: &'static str,
    /// Its value.
    pub value: String,
}

impl LbAttribute {
    /// `key = value`.
    pub fn new(key: &'static str, value: impl ToString) -> LbAttribute {
        LbAttribute {
            key,
            value: value.to_string(),
        }
    }
}

/// `AWS::ElasticLoadBalancingV2::LoadBalancer` (application, internet-facing).
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LoadBalancer {
    /// `application`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// `internet-facing`.
    pub scheme: &'static str,
    /// One per zone.
    pub subnets: Vec<Expr>,
    /// Its security groups.
    pub security_groups: Vec<Expr>,
    /// Idle timeout, header handling, ...
    pub load_balancer_attributes: Vec<LbAttribute>,
}

attributes!(LoadBalancerAttr {
    DnsName => "DNSName",
    LoadBalancerFullName => "LoadBalancerFullName",
});

impl Resource for LoadBalancer {
    const TYPE: &'static str = "AWS::ElasticLoadBalancingV2::LoadBalancer";
    type Attr = LoadBalancerAttr;
}

/// `AWS::ElasticLoadBalancingV2::TargetGroup` of task IPs.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetGroup {
    /// The container port.
    pub port: u16,
    /// `HTTP`.
    pub protocol: &'static str,
    /// `ip` (Fargate tasks).
    pub target_type: &'static str,
    /// The VPC.
    pub vpc_id: Expr,
    /// The health endpoint.
    pub health_check_path: &'static str,
    /// Seconds between checks.
    pub health_check_interval_seconds: u32,
    /// Seconds a check may take.
    pub health_check_timeout_seconds: u32,
    /// Checks in a row before healthy.
    pub healthy_threshold_count: u32,
    /// Checks in a row before unhealthy.
    pub unhealthy_threshold_count: u32,
    /// Deregistration delay, ...
    pub target_group_attributes: Vec<LbAttribute>,
}

attributes!(TargetGroupAttr { TargetGroupFullName => "TargetGroupFullName" });

impl Resource for TargetGroup {
    const TYPE: &'static str = "AWS::ElasticLoadBalancingV2::TargetGroup";
    type Attr = TargetGroupAttr;
}

/// A fixed answer.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct FixedResponse {
    /// `403`.
    pub status_code: &'static str,
    /// `text/plain`.
    pub content_type: &'static str,
    /// The body.
    pub message_body: &'static str,
}

/// What a listener or rule does.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListenerAction {
    /// `forward` or `fixed-response`.
    #[serde(rename = "Type")]
    pub kind: &'static str,
    /// For `forward`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<Expr>,
    /// For `fixed-response`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fixed_response_config: Option<FixedResponse>,
}

impl ListenerAction {
    /// Forward to a target group.
    pub fn forward(target_group: Expr) -> ListenerAction {
        ListenerAction {
            kind: "forward",
            target_group_arn: Some(target_group),
            fixed_response_config: None,
        }
    }

    /// Answer 403.
    pub fn forbidden() -> ListenerAction {
        ListenerAction {
            kind: "fixed-response",
            target_group_arn: None,
            fixed_response_config: Some(FixedResponse {
                status_code: "403",
                content_type: "text/plain",
                message_body: "Forbidden",
            }),
        }
    }
}

/// `AWS::ElasticLoadBalancingV2::Listener`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Listener {
    /// The load balancer.
    pub load_balancer_arn: Expr,
    /// Its port.
    pub port: u16,
    /// `HTTP`.
    pub protocol: &'static str,
    /// What happens to requests no rule matches.
    pub default_actions: Vec<ListenerAction>,
}

impl Resource for Listener {
    const TYPE: &'static str = "AWS::ElasticLoadBalancingV2::Listener";
    type Attr = NoAttr;
}

/// An HTTP header condition.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HeaderCondition {
    /// The header.
    pub http_header_name: &'static str,
    /// Its accepted values.
    pub values: Vec<Expr>,
}

/// A rule condition.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuleCondition {
    /// `http-header`.
    pub field: &'static str,
    /// The header.
    pub http_header_config: HeaderCondition,
}

/// `AWS::ElasticLoadBalancingV2::ListenerRule`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListenerRule {
    /// The listener.
    pub listener_arn: Expr,
    /// Its priority.
    pub priority: u32,
    /// When it applies.
    pub conditions: Vec<RuleCondition>,
    /// What it does.
    pub actions: Vec<ListenerAction>,
}

impl Resource for ListenerRule {
    const TYPE: &'static str = "AWS::ElasticLoadBalancingV2::ListenerRule";
    type Attr = NoAttr;
}
