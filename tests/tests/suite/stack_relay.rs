//! The committed relay stack (`generated/relay.yaml`): fresh, sound, least privilege, the
//! tasks reachable only from the load balancer, the service created only with an image, the
//! timers in step with the relay process, and clean under cfn-lint and checkov.

use serde_json::{Value, json};
use streamgate_contract::relay;
use streamgate_tests::{assert_cfn_lint_clean, assert_checkov_clean, workspace_root};

fn committed() -> Value {
    let path = workspace_root().join(infra_gen::stacks::relay::RELAY_TEMPLATE_PATH);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (run `just synth`)", path.display()));
    yaml_serde::from_str(&text).expect("valid YAML")
}

fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a String, &'a Value)> {
    t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == ty)
        .collect()
}

/// Every statement of a role's inline policies, unwrapping `Fn::If` (condition, statement).
fn statements(role: &Value) -> Vec<(Option<String>, Value)> {
    let mut out = Vec::new();
    for policy in role["Properties"]["Policies"].as_array().unwrap() {
        for s in policy["PolicyDocument"]["Statement"].as_array().unwrap() {
            match s.get("Fn::If") {
                Some(branches) => {
                    out.push((branches[0].as_str().map(str::to_owned), branches[1].clone()))
                }
                None => out.push((None, s.clone())),
            }
        }
    }
    out
}

fn actions(s: &Value) -> Vec<String> {
    s["Action"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_committed_relay_template_is_what_the_generator_produces_now() {
    let path = workspace_root().join(infra_gen::stacks::relay::RELAY_TEMPLATE_PATH);
    let committed = std::fs::read_to_string(&path).expect("generated/relay.yaml exists");
    assert!(
        committed == infra_gen::render(&infra_gen::stacks::relay::build()),
        "{} is stale: run `just synth` and commit the result",
        path.display()
    );
}

#[test]
fn every_reference_resolves_no_cycle_and_iam_is_narrow() {
    let t = committed();
    assert_eq!(infra_gen::check::check_all(&t), vec![]);
    let graph = infra_gen::check::dependency_graph(&t);
    assert!(graph.len() >= 20, "the graph covers the stack");
}

#[test]
fn the_task_role_reads_only_the_catalog_object_and_updates_only_the_voice_quotas() {
    let t = committed();
    let role = &t["Resources"]["TaskRole"];
    assert_eq!(
        role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"],
        json!(["ecs-tasks.amazonaws.com"])
    );
    let all = statements(role);
    assert_eq!(all.len(), 2, "{all:?}");
    let (condition, quotas) = &all[1];
    assert_eq!(condition.as_deref(), None);
    assert_eq!(actions(quotas), ["dynamodb:UpdateItem"]);
    assert_eq!(
        quotas["Resource"],
        json!([{"Fn::GetAtt": ["VoiceQuotasTable", "Arn"]}])
    );
    // The relay checks the same tokens as the chat API, and charges the voice it relays.
    let env: Vec<&str> = t["Resources"]["TaskDefinition"]["Properties"]["ContainerDefinitions"][0]
        ["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    for name in [
        streamgate_contract::relay::env::AUTH_ISSUER,
        streamgate_contract::relay::env::AUTH_AUDIENCE,
        streamgate_contract::relay::env::QUOTA_TABLE,
        streamgate_contract::relay::env::DAILY_VOICE_SECONDS,
    ] {
        assert!(env.contains(&name), "{name} in {env:?}");
    }
    assert!(
        t["Parameters"]["AuthIssuer"].get("Default").is_none(),
        "an issuer must be named"
    );
    let (condition, s) = &all[0];
    assert_eq!(condition.as_deref(), Some("HasCatalogObject"));
    assert_eq!(actions(s), ["s3:GetObject"]);
    assert_eq!(
        s["Resource"],
        json!([{"Fn::Sub": "arn:${AWS::Partition}:s3:::${CatalogBucket}/${CatalogKey}"}])
    );
    assert!(role["Properties"].get("ManagedPolicyArns").is_none());
}

#[test]
fn the_execution_role_pulls_this_image_reads_this_secret_and_writes_this_log_group() {
    let t = committed();
    let role = &t["Resources"]["ExecutionRole"];
    assert!(role["Properties"].get("ManagedPolicyArns").is_none());
    let mut seen = Vec::new();
    for (condition, s) in statements(role) {
        assert_eq!(condition, None);
        let resource = s["Resource"].clone();
        let acts = actions(&s);
        match acts.as_slice() {
            [only] if only == "ecr:GetAuthorizationToken" => {
                assert_eq!(
                    resource,
                    json!(["*"]),
                    "the login has no resource of its own"
                )
            }
            _ if acts.iter().all(|a| a.starts_with("ecr:")) => {
                assert_eq!(resource, json!([{"Fn::GetAtt": ["Repository", "Arn"]}]))
            }
            [only] if only == "secretsmanager:GetSecretValue" => {
                assert_eq!(resource, json!([{"Ref": "OpenAiKeySecretArn"}]))
            }
            _ => {
                assert_eq!(acts, ["logs:CreateLogStream", "logs:PutLogEvents"]);
                assert_eq!(resource, json!([{"Fn::GetAtt": ["RelayLogs", "Arn"]}]));
            }
        }
        seen.extend(acts);
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "ecr:BatchCheckLayerAvailability",
            "ecr:BatchGetImage",
            "ecr:GetAuthorizationToken",
            "ecr:GetDownloadUrlForLayer",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "secretsmanager:GetSecretValue",
        ]
    );
}

#[test]
fn the_tasks_accept_traffic_only_from_the_load_balancer_on_the_relay_port() {
    let t = committed();
    let service_group = &t["Resources"]["ServiceSecurityGroup"]["Properties"];
    assert!(
        service_group.get("SecurityGroupIngress").is_none(),
        "no inline ingress"
    );
    assert_eq!(
        service_group["SecurityGroupEgress"],
        json!([{"CidrIp": "0.0.0.0/0", "Description": "HTTPS to OpenAI, ECR, S3 and CloudWatch Logs", "FromPort": 443, "IpProtocol": "tcp", "ToPort": 443}])
    );
    let to_tasks: Vec<&Value> = of_type(&t, "AWS::EC2::SecurityGroupIngress")
        .into_iter()
        .map(|(_, r)| &r["Properties"])
        .filter(|p| p["GroupId"]["Fn::GetAtt"][0] == "ServiceSecurityGroup")
        .collect();
    assert_eq!(to_tasks.len(), 1);
    let rule = to_tasks[0];
    assert_eq!(
        rule["SourceSecurityGroupId"],
        json!({"Fn::GetAtt": ["LoadBalancerSecurityGroup", "GroupId"]})
    );
    assert!(rule.get("CidrIp").is_none());
    assert_eq!(rule["FromPort"], relay::PORT);
    assert_eq!(rule["ToPort"], relay::PORT);
    // The load balancer sends only to the tasks, and forwards only CloudFront's requests.
    let lb_group = &t["Resources"]["LoadBalancerSecurityGroup"]["Properties"];
    assert_eq!(
        lb_group["SecurityGroupEgress"][0]["DestinationSecurityGroupId"],
        json!({"Fn::GetAtt": ["ServiceSecurityGroup", "GroupId"]})
    );
    assert_eq!(lb_group["SecurityGroupEgress"].as_array().unwrap().len(), 1);
    let listener = &t["Resources"]["Listener"]["Properties"];
    assert_eq!(listener["DefaultActions"][0]["Type"], "fixed-response");
    assert_eq!(
        listener["DefaultActions"][0]["FixedResponseConfig"]["StatusCode"],
        "403"
    );
    let rule = &t["Resources"]["ListenerRuleFromCloudFront"]["Properties"];
    let header = &rule["Conditions"][0]["HttpHeaderConfig"];
    let origin = &t["Resources"]["Distribution"]["Properties"]["DistributionConfig"]["Origins"][0];
    assert_eq!(
        header["HttpHeaderName"],
        origin["OriginCustomHeaders"][0]["HeaderName"]
    );
    assert_eq!(
        header["Values"][0],
        origin["OriginCustomHeaders"][0]["HeaderValue"]
    );
}

#[test]
fn the_service_exists_only_with_an_image_and_runs_it_as_the_relay_expects() {
    let t = committed();
    for id in ["TaskDefinition", "Service", "ScalableTarget", "CpuScaling"] {
        assert_eq!(t["Resources"][id]["Condition"], "HasImage", "{id}");
    }
    for id in [
        "Repository",
        "Cluster",
        "LoadBalancer",
        "Distribution",
        "Vpc",
    ] {
        assert!(
            t["Resources"][id].get("Condition").is_none(),
            "{id} exists from the first deploy"
        );
    }
    let task = &t["Resources"]["TaskDefinition"]["Properties"];
    assert_eq!(task["RuntimePlatform"]["CpuArchitecture"], "ARM64");
    assert_eq!(task["RequiresCompatibilities"], json!(["FARGATE"]));
    let c = &task["ContainerDefinitions"][0];
    assert_eq!(
        c["Image"],
        json!({"Fn::Sub": "${Repository.RepositoryUri}@${ImageDigest}"}),
        "the image by digest"
    );
    assert_eq!(c["ReadonlyRootFilesystem"], true);
    assert_eq!(c["User"], relay::USER);
    assert_ne!(c["User"].as_str().unwrap().split(':').next(), Some("0"));
    assert_eq!(c["StopTimeout"], relay::STOP_TIMEOUT.as_secs());
    assert_eq!(c["PortMappings"][0]["ContainerPort"], relay::PORT);
    assert_eq!(
        c["Secrets"],
        json!([{"Name": "OPENAI_API_KEY", "ValueFrom": {"Ref": "OpenAiKeySecretArn"}}])
    );
    let env: std::collections::BTreeMap<&str, &Value> = c["Environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["Name"].as_str().unwrap(), &v["Value"]))
        .collect();
    assert!(
        !env.contains_key("OPENAI_API_KEY"),
        "the key is a secret, never plain"
    );
    let secs = |v: &Value| v.as_str().unwrap().parse::<u64>().unwrap();
    assert!(secs(env[relay::env::DRAIN_TIMEOUT_S]) < relay::STOP_TIMEOUT.as_secs());
    let idle = t["Resources"]["LoadBalancer"]["Properties"]["LoadBalancerAttributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["Key"] == "idle_timeout.timeout_seconds")
        .unwrap()["Value"]
        .as_str()
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert!(
        secs(env[relay::env::PING_INTERVAL_S]) < idle,
        "pings keep sessions under the idle timeout"
    );
    assert_eq!(env[relay::env::HOST], "0.0.0.0");
    // Only the pages the stack serves may open sessions (the relay refuses other origins),
    // and the client address per-client caps count is the viewer CloudFront saw.
    assert_eq!(
        env[relay::env::ALLOWED_ORIGINS],
        &json!({"Fn::If": ["HasDomain",
            {"Fn::Sub": "https://${Distribution.DomainName},https://${DomainName}"},
            {"Fn::Sub": "https://${Distribution.DomainName}"}]})
    );
    assert_eq!(env[relay::env::TRUSTED_PROXY_HOPS], "2");
    assert_eq!(
        env[relay::env::CATALOG],
        &json!({"Fn::If": ["HasCatalogObject", {"Fn::Sub": "s3://${CatalogBucket}/${CatalogKey}"}, relay::IMAGE_CATALOG]})
    );
    assert_eq!(
        task["ContainerDefinitions"][0]["LogConfiguration"]["Options"]["awslogs-group"],
        json!({"Ref": "RelayLogs"})
    );
    let logs = &t["Resources"]["RelayLogs"]["Properties"];
    assert!(logs["RetentionInDays"].as_u64().is_some());

    let service = &t["Resources"]["Service"]["Properties"];
    assert_eq!(
        service["DeploymentConfiguration"]["DeploymentCircuitBreaker"],
        json!({"Enable": true, "Rollback": true})
    );
    assert_eq!(service["LoadBalancers"][0]["ContainerPort"], relay::PORT);
    let group = &t["Resources"]["TargetGroup"]["Properties"];
    assert_eq!(group["HealthCheckPath"], relay::HEALTH_PATH);
    assert_eq!(group["TargetType"], "ip");
    let scaling = &t["Resources"]["CpuScaling"]["Properties"];
    assert_eq!(scaling["PolicyType"], "TargetTrackingScaling");
}

#[test]
fn cloudfront_serves_https_and_wss_without_caching_and_the_outputs_name_them() {
    let t = committed();
    let config = &t["Resources"]["Distribution"]["Properties"]["DistributionConfig"];
    let behavior = &config["DefaultCacheBehavior"];
    assert_eq!(
        behavior["CachePolicyId"],
        infra_gen::resources::cloudfront::CACHING_DISABLED
    );
    assert_eq!(
        behavior["OriginRequestPolicyId"],
        infra_gen::resources::cloudfront::ALL_VIEWER
    );
    assert_eq!(behavior["ViewerProtocolPolicy"], "redirect-to-https");
    assert_eq!(
        config["Origins"][0]["DomainName"],
        json!({"Fn::GetAtt": ["LoadBalancer", "DNSName"]})
    );
    let socket = t["Outputs"]["WebSocketUrl"]["Value"].to_string();
    assert!(
        socket.contains("wss://${Distribution.DomainName}/realtime"),
        "{socket}"
    );
    let page = t["Outputs"]["VoicePageUrl"]["Value"].to_string();
    assert!(
        page.contains("https://${Distribution.DomainName}/"),
        "{page}"
    );
}

#[test]
fn cfn_lint_finds_nothing_in_the_relay_template() {
    assert_cfn_lint_clean(&workspace_root().join(infra_gen::stacks::relay::RELAY_TEMPLATE_PATH));
}

#[test]
fn checkov_fails_no_check_on_the_relay_template() {
    assert_checkov_clean(&workspace_root().join(infra_gen::stacks::relay::RELAY_TEMPLATE_PATH));
}
