//! What an operator of the relay stack watches: alarms on the load balancer's unhealthy
//! targets and target 5xx answers, and on the service's CPU and memory (those exist with the
//! service, once an image is named), notifying the optional `AlarmTopicArn`; and a dashboard
//! of the metrics the relay emits (from the contract's list) beside the load balancer's and
//! the service's.

use serde_json::json;
use streamgate_contract::metrics::Emitter;

use super::ingress::Ingress;
use super::parameters::Params;
use crate::expr::Expr;
use crate::resources::cloudwatch::{Alarm, Dashboard, Dimension, Statistic};
use crate::resources::ecs::{Cluster, Service, ServiceAttr};
use crate::resources::elbv2::{LoadBalancerAttr, TargetGroupAttr};
use crate::stacks::watch::{PERIOD, Widgets, alarm_topic, dashboard_name};
use crate::template::{Handle, Options, Template};

/// Average CPU or memory at which the service alarms (three periods in a row).
pub const UTILISATION_ALARM_PERCENT: f64 = 85.0;

/// The alarms and the dashboard.
pub(super) fn watch(
    t: &mut Template,
    p: &Params,
    ingress: &Ingress,
    cluster: &Handle<Cluster>,
    service: &Handle<Service>,
) {
    let topic = alarm_topic(t);
    let load_balancer = ingress
        .load_balancer
        .att(LoadBalancerAttr::LoadBalancerFullName);
    let target_group = ingress
        .target_group
        .att(TargetGroupAttr::TargetGroupFullName);
    let alb_dims = || {
        vec![
            Dimension {
                name: "LoadBalancer",
                value: load_balancer.clone(),
            },
            Dimension {
                name: "TargetGroup",
                value: target_group.clone(),
            },
        ]
    };
    t.add(
        "UnhealthyTargetsAlarm",
        Alarm::at_least(
            "A relay task fails the load balancer's health check (/healthz) for two minutes.",
            "AWS/ApplicationELB",
            "UnHealthyHostCount",
            alb_dims(),
            Statistic::Maximum,
            1.0,
            (60, 2, 2),
            &topic.actions,
        ),
    );
    t.add(
        "Target5xxAlarm",
        Alarm::at_least(
            "The relay answered 5xx (refused handshakes when full, or failures) five times or more in five minutes.",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            alb_dims(),
            Statistic::Sum,
            5.0,
            (PERIOD, 1, 1),
            &topic.actions,
        ),
    );
    let service_dims = || {
        vec![
            Dimension {
                name: "ClusterName",
                value: cluster.r#ref(),
            },
            Dimension {
                name: "ServiceName",
                value: service.att(ServiceAttr::Name),
            },
        ]
    };
    for (id, metric, what) in [
        ("CpuAlarm", "CPUUtilization", "CPU"),
        ("MemoryAlarm", "MemoryUtilization", "memory"),
    ] {
        t.add_with(
            id,
            Alarm::at_least(
                format!("The relay's tasks averaged {UTILISATION_ALARM_PERCENT}% {what} or more for fifteen minutes (scaling is at its maximum, or a task is stuck)."),
                "AWS/ECS",
                metric,
                service_dims(),
                Statistic::Average,
                UTILISATION_ALARM_PERCENT,
                (PERIOD, 3, 3),
                &topic.actions,
            ),
            Options::new().when(&p.has_image),
        );
    }

    let mut widgets = Widgets::new();
    widgets.streamgate(Emitter::Relay);
    widgets.streamgate(Emitter::Identity);
    let alb = |metric: &str, stat: &str| json!(["AWS/ApplicationELB", metric, "LoadBalancer", "@@LoadBalancer@@", "TargetGroup", "@@TargetGroup@@", {"stat": stat}]);
    widgets.add(
        "Load balancer: targets",
        "Maximum",
        vec![
            alb("HealthyHostCount", "Minimum"),
            alb("UnHealthyHostCount", "Maximum"),
        ],
    );
    widgets.add(
        "Load balancer: target answers",
        "Sum",
        vec![
            alb("HTTPCode_Target_5XX_Count", "Sum"),
            alb("HTTPCode_Target_4XX_Count", "Sum"),
        ],
    );
    let ecs = |metric: &str| {
        json!([
            "AWS/ECS",
            metric,
            "ClusterName",
            "@@Cluster@@",
            "ServiceName",
            "@@ServiceName@@"
        ])
    };
    widgets.add(
        "Service: CPU and memory (%)",
        "Average",
        vec![ecs("CPUUtilization"), ecs("MemoryUtilization")],
    );
    let refs: Vec<(&str, Expr)> = vec![
        ("LoadBalancer", load_balancer.clone()),
        ("TargetGroup", target_group.clone()),
        ("Cluster", cluster.r#ref()),
        ("ServiceName", service.att(ServiceAttr::Name)),
    ];
    t.add_with(
        "Dashboard",
        Dashboard {
            dashboard_name: dashboard_name(),
            dashboard_body: widgets.body(&refs),
        },
        // It shows the service, which exists once an image is named.
        Options::new().when(&p.has_image),
    );
}
