//! How requests reach the tasks: CloudFront -> the load balancer (port 80, only requests with
//! the origin header CloudFront adds) -> the tasks (the relay port) -> HTTPS out. Security
//! groups, the load balancer, its target group, listener and rule.

use streamgate_contract::relay;

use super::ORIGIN_HEADER;
use super::network::Network;
use crate::expr::{Expr, Pseudo};
use crate::resources::ec2::{GroupIngress, Peer, Rule, SecurityGroup, SecurityGroupAttr};
use crate::resources::elbv2::{
    HeaderCondition, LbAttribute, Listener, ListenerAction, ListenerRule, LoadBalancer,
    RuleCondition, TargetGroup,
};
use crate::template::{Handle, Options, Template};

/// What the other parts use.
pub(super) struct Ingress {
    /// The tasks' security group.
    pub(super) service_group: Handle<SecurityGroup>,
    /// The load balancer CloudFront reaches.
    pub(super) load_balancer: Handle<LoadBalancer>,
    /// Where the listener's rule forwards.
    pub(super) target_group: Handle<TargetGroup>,
    /// The rule that forwards requests carrying the origin header.
    pub(super) rule: Handle<ListenerRule>,
    /// The origin header's value (part of the stack's id), which CloudFront sends.
    pub(super) origin_secret: Expr,
}

/// Declares it in `net`.
pub(super) fn ingress(t: &mut Template, net: &Network) -> Ingress {
    // Security groups: CloudFront → load balancer (80) → tasks (relay port) → 443 out.
    let lb_group_id = "LoadBalancerSecurityGroup";
    let service_group = t.add(
        "ServiceSecurityGroup",
        SecurityGroup {
            group_description: "Relay tasks: the load balancer in, HTTPS out".into(),
            vpc_id: net.vpc.r#ref(),
            security_group_ingress: Vec::new(),
            security_group_egress: vec![Rule::egress(
                "HTTPS to OpenAI, ECR, S3 and CloudWatch Logs",
                443,
                Peer::Cidr("0.0.0.0/0"),
            )],
        },
    );
    let lb_group = t.add_with(
        lb_group_id,
        SecurityGroup {
            group_description: "Relay load balancer: HTTP from CloudFront, out to the tasks only"
                .into(),
            vpc_id: net.vpc.r#ref(),
            security_group_ingress: vec![Rule::ingress(
                "HTTP from CloudFront (the listener refuses requests without the origin header)",
                80,
                Peer::Cidr("0.0.0.0/0"),
            )],
            security_group_egress: vec![Rule::egress(
                "The relay port on the tasks",
                relay::PORT,
                Peer::Group(service_group.att(SecurityGroupAttr::GroupId)),
            )],
        },
        Options::new().skip_checkov(
            "CKV_AWS_260",
            "CloudFront's edge addresses reach port 80; the listener answers 403 without the origin header only CloudFront sends.",
        ),
    );
    t.add(
        "ServiceIngressFromLoadBalancer",
        GroupIngress {
            group_id: service_group.att(SecurityGroupAttr::GroupId),
            rule: Rule::ingress(
                "The relay port, from the load balancer only",
                relay::PORT,
                Peer::Group(lb_group.att(SecurityGroupAttr::GroupId)),
            ),
        },
    );

    let load_balancer = t.add_with(
        "LoadBalancer",
        LoadBalancer {
            kind: "application",
            scheme: "internet-facing",
            subnets: net.subnets.clone(),
            security_groups: vec![lb_group.att(SecurityGroupAttr::GroupId)],
            load_balancer_attributes: vec![
                LbAttribute::new(
                    "idle_timeout.timeout_seconds",
                    relay::LOAD_BALANCER_IDLE_TIMEOUT.as_secs(),
                ),
                LbAttribute::new("routing.http.drop_invalid_header_fields.enabled", true),
            ],
        },
        Options::new()
            .skip_checkov(
                "CKV_AWS_91",
                "Access logs need a bucket with a per-region policy; CloudFront and the task logs record the sessions.",
            ),
    );
    let target_group = t.add(
        "TargetGroup",
        TargetGroup {
            port: relay::PORT,
            protocol: "HTTP",
            target_type: "ip",
            vpc_id: net.vpc.r#ref(),
            health_check_path: relay::HEALTH_PATH,
            health_check_interval_seconds: 10,
            health_check_timeout_seconds: 5,
            healthy_threshold_count: 2,
            unhealthy_threshold_count: 2,
            target_group_attributes: vec![LbAttribute::new(
                "deregistration_delay.timeout_seconds",
                relay::STOP_TIMEOUT.as_secs(),
            )],
        },
    );
    let listener = t.add_with(
        "Listener",
        Listener {
            load_balancer_arn: load_balancer.r#ref(),
            port: 80,
            protocol: "HTTP",
            default_actions: vec![ListenerAction::forbidden()],
        },
        Options::new()
            .skip_checkov(
                "CKV_AWS_2",
                "TLS ends at CloudFront (https and wss); CloudFront reaches this listener over HTTP with the origin header.",
            )
            .skip_checkov(
                "CKV_AWS_103",
                "No TLS on this listener (CloudFront ends it), so no TLS version to set.",
            ),
    );
    let origin_secret = Expr::split_part(Expr::pseudo(Pseudo::StackId), "/", 2);
    let rule = t.add(
        "ListenerRuleFromCloudFront",
        ListenerRule {
            listener_arn: listener.r#ref(),
            priority: 1,
            conditions: vec![RuleCondition {
                field: "http-header",
                http_header_config: HeaderCondition {
                    http_header_name: ORIGIN_HEADER,
                    values: vec![origin_secret.clone()],
                },
            }],
            actions: vec![ListenerAction::forward(target_group.r#ref())],
        },
    );
    Ingress {
        service_group,
        load_balancer,
        target_group,
        rule,
        origin_secret,
    }
}
