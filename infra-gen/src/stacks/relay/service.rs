//! What runs: the cluster, the task definition (ARM64, read-only root, non-root user, the key
//! as a secret, JSON logs), the service on the load balancer's target group, and CPU scaling.
//! All but the cluster exist only once an image is named (`HasImage`).

use streamgate_contract::relay::{self as relay, env};

use super::ingress::Ingress;
use super::network::Network;
use super::parameters::Params;
use super::roles::Roles;
use super::{CONTAINER, TARGET_CPU_PERCENT};
use crate::expr::{Expr, Pseudo, Sub};
use crate::resources::autoscaling::{
    PredefinedMetric, ScalableTarget, ScalingPolicy, TargetTracking,
};
use crate::resources::cloudfront::{Distribution, DistributionAttr};
use crate::resources::dynamodb::Table;
use crate::resources::ec2::SecurityGroupAttr;
use crate::resources::ecr::{Repository, RepositoryAttr};
use crate::resources::ecs::{
    AwsLogsOptions, AwsVpcConfiguration, CircuitBreaker, Cluster, ClusterSetting,
    ContainerDefinition, ContainerSecret, DeploymentConfiguration, KeyValue, LogConfiguration,
    NetworkConfiguration, PortMapping, RuntimePlatform, Service, ServiceAttr, ServiceLoadBalancer,
    TaskDefinition,
};
use crate::resources::iam::RoleAttr;
use crate::resources::logs::LogGroup;
use crate::template::{Handle, Options, Template};

/// The cluster (declared before the distribution, where the template has always had it).
pub(super) fn cluster(t: &mut Template) -> Handle<Cluster> {
    t.add_with(
        "Cluster",
        Cluster {
            cluster_settings: vec![ClusterSetting {
                name: "containerInsights",
                value: "disabled",
            }],
        },
        Options::new().skip_checkov(
            "CKV_AWS_65",
            "Container Insights bills per metric; the service's CPU metric (which scaling uses) is free.",
        ),
    )
}

/// What the service part needs from the others.
pub(super) struct Inputs<'a> {
    pub(super) net: &'a Network,
    pub(super) ingress: &'a Ingress,
    pub(super) roles: &'a Roles,
    pub(super) repository: &'a Handle<Repository>,
    pub(super) logs: &'a Handle<LogGroup>,
    pub(super) cluster: &'a Handle<Cluster>,
    pub(super) distribution: &'a Handle<Distribution>,
    pub(super) quotas: &'a Handle<Table>,
}

/// Declares the task definition, the service and its scaling.
pub(super) fn service(t: &mut Template, p: &Params, i: &Inputs) -> Handle<Service> {
    let Inputs {
        net,
        ingress,
        roles,
        repository,
        logs,
        cluster,
        distribution,
        quotas,
    } = i;
    let (execution_role, task_role) = (&roles.execution, &roles.task);
    let (service_group, target_group, rule) =
        (&ingress.service_group, &ingress.target_group, &ingress.rule);
    let image = Sub::new()
        .expr(&repository.att(RepositoryAttr::RepositoryUri))
        .text("@")
        .expr(&p.image_digest.r#ref())
        .build();
    let catalog = p.has_catalog_object.if_else(
        Sub::new()
            .text("s3://")
            .expr(&p.catalog_bucket.r#ref())
            .text("/")
            .expr(&p.catalog_key.r#ref())
            .build(),
        Expr::lit(relay::IMAGE_CATALOG),
    );
    let var = |name: &str, value: Expr| KeyValue {
        name: name.to_owned(),
        value,
    };
    let task = t.add_with(
        "TaskDefinition",
        TaskDefinition {
            family: Sub::new().pseudo(Pseudo::StackName).text("-relay").build(),
            cpu: p.cpu.r#ref(),
            memory: p.memory.r#ref(),
            network_mode: "awsvpc",
            requires_compatibilities: vec!["FARGATE"],
            runtime_platform: RuntimePlatform {
                cpu_architecture: "ARM64",
                operating_system_family: "LINUX",
            },
            execution_role_arn: execution_role.att(RoleAttr::Arn),
            task_role_arn: task_role.att(RoleAttr::Arn),
            container_definitions: vec![ContainerDefinition {
                name: CONTAINER,
                image,
                essential: true,
                port_mappings: vec![PortMapping {
                    container_port: relay::PORT,
                    protocol: "tcp",
                }],
                environment: vec![
                    var(env::HOST, Expr::lit("0.0.0.0")),
                    var(env::PORT, Expr::lit(relay::PORT.to_string())),
                    var(env::CATALOG, catalog),
                    var(env::CATALOG_REFRESH_S, Expr::lit("60")),
                    var(
                        env::PING_INTERVAL_S,
                        Expr::lit(relay::PING_INTERVAL.as_secs().to_string()),
                    ),
                    var(
                        env::DRAIN_TIMEOUT_S,
                        Expr::lit(relay::DRAIN_TIMEOUT.as_secs().to_string()),
                    ),
                    var(env::LOG_FORMAT, Expr::lit("json")),
                    // The metrics' `Service` dimension, which the dashboard shows.
                    var(
                        streamgate_contract::config::METRICS_SERVICE,
                        Expr::pseudo(Pseudo::StackName),
                    ),
                    var(streamgate_contract::config::METRICS, p.metrics.r#ref()),
                    var(env::REALTIME_MODEL, p.model.r#ref()),
                    // The voice page is served from the distribution's name (and the custom
                    // domain): the only pages allowed to open sessions.
                    var(
                        env::ALLOWED_ORIGINS,
                        p.has_domain.if_else(
                            Sub::new()
                                .text("https://")
                                .expr(&distribution.att(DistributionAttr::DomainName))
                                .text(",https://")
                                .expr(&p.domain.r#ref())
                                .build(),
                            Sub::new()
                                .text("https://")
                                .expr(&distribution.att(DistributionAttr::DomainName))
                                .build(),
                        ),
                    ),
                    // CloudFront, then the load balancer, append to X-Forwarded-For.
                    var(
                        env::TRUSTED_PROXY_HOPS,
                        Expr::lit(relay::PROXY_HOPS.to_string()),
                    ),
                    // Who may open sessions, and how much voice each user gets a day.
                    var(env::AUTH_ISSUER, p.auth_issuer.r#ref()),
                    var(env::AUTH_AUDIENCE, p.auth_audience.r#ref()),
                    var(env::QUOTA_TABLE, quotas.r#ref()),
                    var(env::DAILY_VOICE_SECONDS, p.daily_voice_seconds.r#ref()),
                ],
                secrets: vec![ContainerSecret {
                    name: env::OPENAI_API_KEY.to_owned(),
                    value_from: p.secret_arn.r#ref(),
                }],
                log_configuration: LogConfiguration {
                    log_driver: "awslogs",
                    options: AwsLogsOptions {
                        group: logs.r#ref(),
                        region: Expr::pseudo(Pseudo::Region),
                        stream_prefix: "relay",
                    },
                },
                stop_timeout: relay::STOP_TIMEOUT.as_secs() as u32,
                readonly_root_filesystem: true,
                privileged: false,
                user: relay::USER,
            }],
        },
        Options::new().when(&p.has_image),
    );
    let service = t.add_with(
        "Service",
        Service {
            cluster: cluster.r#ref(),
            launch_type: "FARGATE",
            task_definition: task.r#ref(),
            desired_count: p.desired.r#ref(),
            deployment_configuration: DeploymentConfiguration {
                deployment_circuit_breaker: CircuitBreaker {
                    enable: true,
                    rollback: true,
                },
                minimum_healthy_percent: 100,
                maximum_percent: 200,
            },
            network_configuration: NetworkConfiguration {
                awsvpc_configuration: AwsVpcConfiguration {
                    assign_public_ip: "ENABLED",
                    security_groups: vec![service_group.att(SecurityGroupAttr::GroupId)],
                    subnets: net.subnets.clone(),
                },
            },
            load_balancers: vec![ServiceLoadBalancer {
                container_name: CONTAINER,
                container_port: relay::PORT,
                target_group_arn: target_group.r#ref(),
            }],
            health_check_grace_period_seconds: 30,
            propagate_tags: "SERVICE",
        },
        Options::new()
            .when(&p.has_image)
            // The target group must be attached to the load balancer before a service uses it.
            .depends_on(rule),
    );
    let scalable = t.add_with(
        "ScalableTarget",
        ScalableTarget {
            min_capacity: p.desired.r#ref(),
            max_capacity: p.max.r#ref(),
            resource_id: Sub::new()
                .text("service/")
                .expr(&cluster.r#ref())
                .text("/")
                .expr(&service.att(ServiceAttr::Name))
                .build(),
            scalable_dimension: "ecs:service:DesiredCount",
            service_namespace: "ecs",
        },
        Options::new().when(&p.has_image),
    );
    t.add_with(
        "CpuScaling",
        ScalingPolicy {
            policy_name: Sub::new().pseudo(Pseudo::StackName).text("-cpu").build(),
            policy_type: "TargetTrackingScaling",
            scaling_target_id: scalable.r#ref(),
            target_tracking_scaling_policy_configuration: TargetTracking {
                predefined_metric_specification: PredefinedMetric {
                    predefined_metric_type: "ECSServiceAverageCPUUtilization",
                },
                target_value: TARGET_CPU_PERCENT,
                scale_in_cooldown: 300,
                scale_out_cooldown: 60,
            },
        },
        Options::new().when(&p.has_image),
    );
    service
}
