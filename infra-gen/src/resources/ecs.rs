//! `AWS::ECS::*`: the cluster, the relay's Fargate task definition (ARM64, read-only root
//! file system, non-root user, secrets from Secrets Manager, logs to CloudWatch) and its
//! service (circuit breaker with rollback, behind a target group).

use serde::Serialize;

use crate::expr::Expr;
use crate::template::{NoAttr, Resource};

/// A cluster setting.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClusterSetting {
    /// `containerInsights`.
    pub name: &'static str,
    /// `enabled` or `disabled`.
    pub value: &'static str,
}

/// `AWS::ECS::Cluster`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Cluster {
    /// Settings.
    pub cluster_settings: Vec<ClusterSetting>,
}

attributes!(ClusterAttr { Arn => "Arn" });

impl Resource for Cluster {
    const TYPE: &'static str = "AWS::ECS::Cluster";
    type Attr = ClusterAttr;
}

/// A plain environment variable of a container.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyValue {
    /// Its name.
    pub name: String,
    /// Its value.
    pub value: Expr,
}

/// An environment variable read from Secrets Manager when the task starts.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSecret {
    /// The variable.
    pub name: String,
    /// The secret's ARN.
    pub value_from: Expr,
}

/// A port the container listens on.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct PortMapping {
    /// The port.
    pub container_port: u16,
    /// Always `tcp`.
    pub protocol: &'static str,
}

/// `awslogs` options.
#[derive(Serialize)]
pub struct AwsLogsOptions {
    /// The log group.
    #[serde(rename = "awslogs-group")]
    pub group: Expr,
    /// Its region.
    #[serde(rename = "awslogs-region")]
    pub region: Expr,
    /// Streams are named `{prefix}/{container}/{task id}`.
    #[serde(rename = "awslogs-stream-prefix")]
    pub stream_prefix: &'static str,
}

/// Where the container's output goes.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfiguration {
    /// Always `awslogs`.
    pub log_driver: &'static str,
    /// Its options.
    pub options: AwsLogsOptions,
}

/// One container of a task.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerDefinition {
    /// Its name.
    pub name: &'static str,
    /// The image (by digest).
    pub image: Expr,
    /// The task stops when it stops.
    pub essential: bool,
    /// Ports.
    pub port_mappings: Vec<PortMapping>,
    /// Plain variables.
    pub environment: Vec<KeyValue>,
    /// Secret variables.
    pub secrets: Vec<ContainerSecret>,
    /// Logs.
    pub log_configuration: LogConfiguration,
    /// Seconds between SIGTERM and SIGKILL (Fargate allows up to 120).
    pub stop_timeout: u32,
    /// The root file system cannot be written.
    pub readonly_root_filesystem: bool,
    /// Never privileged.
    pub privileged: bool,
    /// `uid:gid`; never root.
    pub user: &'static str,
}

/// `RuntimePlatform` of a task.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RuntimePlatform {
    /// `ARM64` (Graviton).
    pub cpu_architecture: &'static str,
    /// `LINUX`.
    pub operating_system_family: &'static str,
}

/// `AWS::ECS::TaskDefinition` for Fargate.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskDefinition {
    /// The family (revisions share it).
    pub family: Expr,
    /// CPU units.
    pub cpu: Expr,
    /// MiB.
    pub memory: Expr,
    /// Always `awsvpc` on Fargate.
    pub network_mode: &'static str,
    /// `FARGATE`.
    pub requires_compatibilities: Vec<&'static str>,
    /// ARM64 Linux.
    pub runtime_platform: RuntimePlatform,
    /// The role ECS uses to pull the image, read the secrets and write logs.
    pub execution_role_arn: Expr,
    /// The role the relay's own calls use.
    pub task_role_arn: Expr,
    /// The containers.
    pub container_definitions: Vec<ContainerDefinition>,
}

impl Resource for TaskDefinition {
    const TYPE: &'static str = "AWS::ECS::TaskDefinition";
    type Attr = NoAttr;
}

/// The circuit breaker of a deployment.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CircuitBreaker {
    /// Stop a deployment whose tasks keep failing.
    pub enable: bool,
    /// And go back to the last one that worked.
    pub rollback: bool,
}

/// How a deployment replaces tasks.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DeploymentConfiguration {
    /// The circuit breaker.
    pub deployment_circuit_breaker: CircuitBreaker,
    /// Percent of the desired count kept running.
    pub minimum_healthy_percent: u32,
    /// Percent of the desired count allowed during a deployment.
    pub maximum_percent: u32,
}

/// The task's network.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AwsVpcConfiguration {
    /// `ENABLED`: a public address (a route out without a NAT gateway).
    pub assign_public_ip: &'static str,
    /// Security groups.
    pub security_groups: Vec<Expr>,
    /// Subnets.
    pub subnets: Vec<Expr>,
}

/// `NetworkConfiguration`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkConfiguration {
    /// The VPC part.
    pub awsvpc_configuration: AwsVpcConfiguration,
}

/// A target group the service registers its tasks in.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ServiceLoadBalancer {
    /// The container.
    pub container_name: &'static str,
    /// Its port.
    pub container_port: u16,
    /// The target group.
    pub target_group_arn: Expr,
}

/// `AWS::ECS::Service` on Fargate.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Service {
    /// The cluster.
    pub cluster: Expr,
    /// `FARGATE`.
    pub launch_type: &'static str,
    /// The task definition.
    pub task_definition: Expr,
    /// Tasks wanted.
    pub desired_count: Expr,
    /// Deployments.
    pub deployment_configuration: DeploymentConfiguration,
    /// Network.
    pub network_configuration: NetworkConfiguration,
    /// Target groups.
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// Seconds a new task has before its health checks count.
    pub health_check_grace_period_seconds: u32,
    /// Tags propagate from the service to its tasks.
    pub propagate_tags: &'static str,
}

attributes!(ServiceAttr { Name => "Name", ServiceArn => "ServiceArn" });

impl Resource for Service {
    const TYPE: &'static str = "AWS::ECS::Service";
    type Attr = ServiceAttr;
}
