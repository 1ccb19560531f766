//! The voice relay's stack (`generated/relay.yaml`): the relay on ECS Fargate (ARM64) behind an
//! Application Load Balancer, with CloudFront in front for https and wss.
//!
//! A first deploy creates the repository and the network with no `ImageDigest`: the task
//! definition, service and scaling exist only once an image is named (`HasImage`), so the
//! service is never created without an image to run. `just deploy-relay` deploys, pushes, then
//! deploys again with the digest.
//!
//! Who may reach what: CloudFront reaches the load balancer on port 80 and adds an origin
//! header (the stack's own id) that the listener requires, answering 403 to anything else;
//! only the load balancer's group reaches the tasks, on the relay port; the tasks reach out on
//! 443 only (OpenAI, ECR, S3, CloudWatch Logs).

use streamgate_contract::relay::{self as relay, env};

use crate::expr::{CondExpr, Expr, Pseudo, Sub};
use crate::resources::*;
use crate::stack::LOG_RETENTION;
use crate::template::{
    Cond, ConditionRef, DataPolicy, Handle, Options, ParamRef, Parameter, Template,
};

/// Where the relay template lives, relative to the workspace root.
pub const RELAY_TEMPLATE_PATH: &str = "generated/relay.yaml";

/// The container's name in the task definition.
pub const CONTAINER: &str = "relay";

/// The header CloudFront adds and the listener requires.
pub const ORIGIN_HEADER: &str = "X-Streamgate-Origin";

/// Average CPU the scaling keeps the tasks at.
pub const TARGET_CPU_PERCENT: f64 = 60.0;

struct Params {
    image_digest: ParamRef,
    cpu: ParamRef,
    memory: ParamRef,
    desired: ParamRef,
    max: ParamRef,
    secret_arn: ParamRef,
    catalog_bucket: ParamRef,
    catalog_key: ParamRef,
    model: ParamRef,
    certificate: ParamRef,
    domain: ParamRef,
    has_image: ConditionRef,
    has_catalog_object: ConditionRef,
    has_domain: ConditionRef,
}

fn parameters(t: &mut Template) -> Params {
    let image_digest = t.parameter(
        "ImageDigest",
        Parameter::string("Digest of the relay image in this stack's repository (sha256:...). Empty on the first deploy, which creates the repository; the service starts once it is set.")
            .default("")
            .pattern("^(sha256:[a-f0-9]{64})?$", "empty, or sha256: and 64 hex digits"),
    );
    let cpu = t.parameter(
        "TaskCpu",
        Parameter::string("CPU units per task (1024 = 1 vCPU).")
            .default("512")
            .allowed(&["256", "512", "1024", "2048"]),
    );
    let memory = t.parameter(
        "TaskMemory",
        Parameter::string("Memory per task in MiB; must suit TaskCpu (256: 512-2048; 512: 1024-4096; 1024: 2048-8192; 2048: 4096-16384).")
            .default("1024")
            .allowed(&["512", "1024", "2048", "3072", "4096", "8192", "16384"]),
    );
    let desired = t.parameter(
        "DesiredCount",
        Parameter::number("Tasks running at least.", 1, 10).default("1"),
    );
    let max = t.parameter(
        "MaxCount",
        Parameter::number("Tasks running at most when the CPU is busy.", 1, 20).default("4"),
    );
    let secret_arn = t.parameter(
        "OpenAiKeySecretArn",
        Parameter::string("ARN of the Secrets Manager secret holding the OpenAI API key (`just secret NAME` stores one).")
            .pattern(
                "^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$",
                "a Secrets Manager secret ARN",
            ),
    );
    let catalog_bucket = t.parameter(
        "CatalogBucket",
        Parameter::string("S3 bucket of the restaurant catalog; empty: the catalog in the image.")
            .default("")
            .pattern(
                "^([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])?$",
                "an S3 bucket name, or empty",
            ),
    );
    let catalog_key = t.parameter(
        "CatalogKey",
        Parameter::string("Key of the catalog object in CatalogBucket.")
            .default("catalog.json")
            .pattern("^[^*?]{1,1024}$", "an object key without wildcards"),
    );
    let model = t.parameter(
        "RealtimeModel",
        Parameter::string("OpenAI Realtime model.").default("gpt-realtime"),
    );
    let certificate = t.parameter(
        "CertificateArn",
        Parameter::string("ACM certificate (in us-east-1) for DomainName; empty: the distribution's own cloudfront.net name.")
            .default("")
            .pattern("^(arn:aws[a-z-]*:acm:us-east-1:[0-9]{12}:certificate/.+)?$", "an ACM certificate ARN in us-east-1, or empty"),
    );
    let domain = t.parameter(
        "DomainName",
        Parameter::string(
            "Custom domain for the page and socket (with CertificateArn); empty: none.",
        )
        .default("")
        .pattern("^([a-z0-9.-]+)?$", "a domain name, or empty"),
    );
    let has_image = t.condition(
        "HasImage",
        CondExpr::Not(Box::new(CondExpr::Equals(
            image_digest.r#ref(),
            Expr::lit(""),
        ))),
    );
    let has_catalog_object = t.condition(
        "HasCatalogObject",
        CondExpr::Not(Box::new(CondExpr::Equals(
            catalog_bucket.r#ref(),
            Expr::lit(""),
        ))),
    );
    let has_domain = t.condition(
        "HasDomain",
        CondExpr::Not(Box::new(CondExpr::Equals(
            certificate.r#ref(),
            Expr::lit(""),
        ))),
    );
    Params {
        image_digest,
        cpu,
        memory,
        desired,
        max,
        secret_arn,
        catalog_bucket,
        catalog_key,
        model,
        certificate,
        domain,
        has_image,
        has_catalog_object,
        has_domain,
    }
}

fn name_tag(suffix: &str) -> Vec<Tag> {
    vec![Tag {
        key: "Name",
        value: Sub::new()
            .pseudo(Pseudo::StackName)
            .text(format!("-{suffix}"))
            .build(),
    }]
}

struct Network {
    vpc: Handle<Vpc>,
    subnets: Vec<Expr>,
}

fn network(t: &mut Template) -> Network {
    let vpc = t.add_with(
        "Vpc",
        Vpc {
            cidr_block: "10.40.0.0/16",
            enable_dns_support: true,
            enable_dns_hostnames: true,
            tags: name_tag("vpc"),
        },
        Options::new(),
    );
    let gateway = t.add(
        "InternetGateway",
        InternetGateway {
            tags: name_tag("igw"),
        },
    );
    let attachment = t.add(
        "InternetGatewayAttachment",
        GatewayAttachment {
            vpc_id: vpc.r#ref(),
            internet_gateway_id: gateway.r#ref(),
        },
    );
    let routes = t.add(
        "PublicRouteTable",
        RouteTable {
            vpc_id: vpc.r#ref(),
            tags: name_tag("public"),
        },
    );
    t.add_with(
        "PublicDefaultRoute",
        InternetRoute {
            route_table_id: routes.r#ref(),
            destination_cidr_block: "0.0.0.0/0",
            gateway_id: gateway.r#ref(),
        },
        Options::new().depends_on(&attachment),
    );
    let mut subnets = Vec::new();
    for (i, (letter, cidr)) in [("A", "10.40.0.0/20"), ("B", "10.40.16.0/20")]
        .into_iter()
        .enumerate()
    {
        let subnet = t.add(
            &format!("PublicSubnet{letter}"),
            Subnet {
                vpc_id: vpc.r#ref(),
                cidr_block: cidr,
                availability_zone: Expr::availability_zone(i as u8),
                map_public_ip_on_launch: false,
                tags: name_tag(&format!("public-{}", letter.to_lowercase())),
            },
        );
        t.add(
            &format!("PublicSubnet{letter}Routes"),
            SubnetRouteTableAssociation {
                subnet_id: subnet.r#ref(),
                route_table_id: routes.r#ref(),
            },
        );
        subnets.push(subnet.r#ref());
    }
    Network { vpc, subnets }
}

fn log_group(t: &mut Template) -> Handle<LogGroup> {
    t.add_with(
        "RelayLogs",
        LogGroup {
            retention_in_days: LOG_RETENTION,
        },
        Options::new().data_policy(DataPolicy::Delete).skip_checkov(
            "CKV_AWS_158",
            "Logs hold no secrets; CloudWatch Logs encrypts them at rest with a service key.",
        ),
    )
}

fn repository_arn_statement(repo: &Handle<Repository>) -> Statement {
    Statement::allow(
        "PullRelayImage",
        &[
            Action::BatchCheckLayerAvailability,
            Action::BatchGetImage,
            Action::GetDownloadUrlForLayer,
        ],
        vec![repo.att(RepositoryAttr::Arn)],
    )
}

/// The whole relay stack.
pub fn build() -> Template {
    let mut t = Template::new(
        "streamgate voice relay: the AI waiter on ECS Fargate (ARM64) behind an Application Load Balancer and CloudFront (https and wss). Generated by infra-gen; do not edit.",
    );
    let p = parameters(&mut t);
    let net = network(&mut t);

    let repository = t.add_with(
        "Repository",
        Repository::keeping(10),
        Options::new().skip_checkov(
            "CKV_AWS_136",
            "ECR encrypts images at rest with AES-256; a customer key adds cost and nothing the image (no secrets) needs.",
        ),
    );
    let logs = log_group(&mut t);

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

    // Roles: the execution role pulls this image, reads this secret, writes this log group;
    // the task role reads only the catalog object (when there is one).
    let execution_role = t.add(
        "ExecutionRole",
        Role::for_service(
            "ecs-tasks.amazonaws.com",
            "ECS pulls the relay image, reads the OpenAI key and writes the relay's logs",
            vec![Policy {
                policy_name: "relay-execution".into(),
                policy_document: PolicyDocument::new(vec![
                    Cond::Always(Statement::allow(
                        "RegistryLogin",
                        &[Action::GetAuthorizationToken],
                        vec![Expr::lit("*")],
                    )),
                    Cond::Always(repository_arn_statement(&repository)),
                    Cond::Always(Statement::allow(
                        "ReadOpenAiKey",
                        &[Action::GetSecretValue],
                        vec![p.secret_arn.r#ref()],
                    )),
                    Cond::Always(Statement::allow(
                        "WriteLogs",
                        &[Action::CreateLogStream, Action::PutLogEvents],
                        vec![logs.att(LogGroupAttr::Arn)],
                    )),
                ]),
            }],
        ),
    );
    let catalog_object_arn = Sub::new()
        .text("arn:")
        .pseudo(Pseudo::Partition)
        .text(":s3:::")
        .expr(&p.catalog_bucket.r#ref())
        .text("/")
        .expr(&p.catalog_key.r#ref())
        .build();
    let task_role = t.add(
        "TaskRole",
        Role::for_service(
            "ecs-tasks.amazonaws.com",
            "The relay reads its catalog object, and nothing else",
            vec![Policy {
                policy_name: "relay-task".into(),
                policy_document: PolicyDocument::new(vec![Cond::When(
                    p.has_catalog_object.clone(),
                    Statement::allow(
                        "ReadCatalog",
                        &[Action::GetObject],
                        vec![catalog_object_arn],
                    ),
                )]),
            }],
        ),
    );

    let cluster = t.add_with(
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
    );
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
    let distribution = t.add_with(
        "Distribution",
        Distribution {
            distribution_config: DistributionConfig {
                enabled: true,
                comment: Sub::new()
                    .pseudo(Pseudo::StackName)
                    .text(" voice relay")
                    .build(),
                aliases: Cond::When(p.has_domain.clone(), vec![p.domain.r#ref()]),
                price_class: "PriceClass_100",
                http_version: "http2",
                origins: vec![Origin {
                    id: "relay",
                    domain_name: load_balancer.att(LoadBalancerAttr::DnsName),
                    custom_origin_config: CustomOrigin {
                        protocol_policy: "http-only",
                        http_port: 80,
                        origin_read_timeout: 60,
                        origin_keepalive_timeout: 60,
                    },
                    origin_custom_headers: vec![OriginHeader {
                        header_name: ORIGIN_HEADER,
                        header_value: origin_secret,
                    }],
                }],
                default_cache_behavior: CacheBehavior {
                    target_origin_id: "relay",
                    viewer_protocol_policy: "redirect-to-https",
                    allowed_methods: vec!["GET", "HEAD", "OPTIONS"],
                    cache_policy_id: CACHING_DISABLED,
                    origin_request_policy_id: ALL_VIEWER,
                    compress: false,
                },
                viewer_certificate: Cond::Either(
                    p.has_domain.clone(),
                    ViewerCertificate::acm(p.certificate.r#ref()),
                    ViewerCertificate::default_certificate(),
                ),
            },
        },
        Options::new()
            .skip_checkov(
                "CKV_AWS_68",
                "A WAF web ACL costs more than this demo stack; the relay refuses unknown restaurants and bad frames itself.",
            )
            .skip_checkov(
                "CKV_AWS_86",
                "Standard logs need a bucket with ACLs; the relay's own JSON logs record every session.",
            )
            .skip_checkov(
                "CKV_AWS_174",
                "TLS 1.2 is set with a custom domain's certificate; the cloudfront.net certificate's policy is CloudFront's own.",
            ),
    );

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
            .depends_on(&rule),
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

    let url = |scheme: &str, path: &str| {
        p.has_domain.if_else(
            Sub::new()
                .text(format!("{scheme}://"))
                .expr(&p.domain.r#ref())
                .text(path)
                .build(),
            Sub::new()
                .text(format!("{scheme}://"))
                .expr(&distribution.att(DistributionAttr::DomainName))
                .text(path)
                .build(),
        )
    };
    t.output("VoicePageUrl", "The voice waiter's page", url("https", "/"));
    t.output(
        "WebSocketUrl",
        "The voice socket (add ?restaurantId=...)",
        url("wss", relay::SOCKET_PATH),
    );
    t.output(
        "RepositoryUri",
        "Where `just deploy-relay` pushes the image",
        repository.att(RepositoryAttr::RepositoryUri),
    );
    t.output("ClusterName", "The ECS cluster", cluster.r#ref());
    t
}
