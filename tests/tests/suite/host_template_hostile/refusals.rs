//! What is refused at start-up, and where DynamoDB Local listens.

use super::*;

/// What `TemplateHost::start` says of a template.
async fn problems(template: &Value, tune: impl FnOnce(&mut TemplateOptions)) -> String {
    let dir = scratch_dir(&format!(
        "hostile-read-{}",
        streamgate_emulator::ids::new_api_id()
    ));
    let path = dir.join("template.json");
    std::fs::write(&path, template.to_string()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let mut options = TemplateOptions::new(&path);
    tune(&mut options);
    match TemplateHost::start(options, &listener).await {
        Ok(_) => panic!("the template was accepted"),
        Err(p) => p.join("\n"),
    }
}

fn base_template(dir: &Path) -> Value {
    let function = bootstrap(dir, "", "", r#"{"statusCode": 200}"#);
    let config = GatewayConfig {
        routes: connect_only(),
        ..GatewayConfig::default()
    };
    template_for(&config, &function, &dir.display().to_string(), false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_lambda_would_refuse_are_refused_at_start_up() {
    let dir = scratch_dir("hostile-read");
    let t = base_template(&dir);

    let mut bad = t.clone();
    bad["Resources"]["Function0"]["Properties"]["Timeout"] = json!("soon");
    assert!(problems(&bad, |_| {}).await.contains("Timeout \"soon\""));

    let mut bad = t.clone();
    bad["Resources"]["Function0"]["Properties"]["Environment"]["Variables"]["NUL"] =
        json!("a\u{0}b");
    assert!(problems(&bad, |_| {}).await.contains("NUL"));
    let mut bad = t.clone();
    bad["Resources"]["Function0"]["Properties"]["Environment"]["Variables"]["BIG"] =
        json!("x".repeat(1 << 20));
    assert!(problems(&bad, |_| {}).await.contains("Lambda allows 4096"));

    // A logical id that would name a folder outside the scratch one.
    let mut bad = t.clone();
    let f = bad["Resources"]["Function0"].take();
    bad["Resources"]
        .as_object_mut()
        .unwrap()
        .remove("Function0");
    bad["Resources"]["../../escape"] = f;
    assert!(problems(&bad, |_| {}).await.contains("is not a logical id"));

    // Names that double at each of 40 levels, and !Subs nested 40 deep that double: refused
    // quickly, not built.
    let mut bad = t.clone();
    let resources = bad["Resources"].as_object_mut().unwrap();
    for i in 0..40 {
        resources.insert(
            format!("Name{i}"),
            json!({"Type": "AWS::DynamoDB::Table", "Properties": {
                "TableName": {"Fn::Sub": format!("${{Name{}}}${{Name{}}}", i + 1, i + 1)},
                "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}]
            }}),
        );
    }
    resources.insert("Name40".into(), json!({"Type": "AWS::SNS::Topic"}));
    let said = problems(&bad, |o| {
        o.dynamodb_endpoint = Some("http://127.0.0.1:9".into())
    })
    .await;
    assert!(said.contains("more than 1048576 bytes"), "{said}");
    let mut nested = json!("x");
    for _ in 0..40 {
        nested = json!({"Fn::Sub": ["${a}${a}", {"a": nested}]});
    }
    let mut bad = t.clone();
    bad["Resources"]["Function0"]["Properties"]["Environment"]["Variables"]["DEEP"] = nested;
    let said = problems(&bad, |_| {}).await;
    assert!(said.contains("more than 1048576 bytes"), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zip_that_unzips_past_lambdas_limit_is_refused() {
    let dir = scratch_dir("hostile-zip");
    let mut t = base_template(&dir);
    let zip_path = dir.join("big.zip");
    {
        let file = std::fs::File::create(&zip_path).unwrap();
        let mut zip = zip::ZipWriter::new(file);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        zip.start_file("bootstrap", options).unwrap();
        let block = vec![0u8; 1 << 20];
        use std::io::Write;
        for _ in 0..251 {
            zip.write_all(&block).unwrap();
        }
        zip.finish().unwrap();
    }
    t["Resources"]["Function0"]["Properties"]["Code"] = json!(zip_path.display().to_string());
    let said = problems(&t, |_| {}).await;
    assert!(said.contains("Lambda's limit"), "{said}");
}

/// The addresses the kernel shows a listening socket on `port` bound to.
fn listening_on(port: u16) -> Vec<String> {
    let hex_port = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|t| std::fs::read_to_string(t).ok())
        .flat_map(|text| {
            text.lines()
                .skip(1)
                .filter_map(|l| {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    (f.get(3) == Some(&"0A") && f.get(1)?.ends_with(&hex_port))
                        .then(|| f[1].split(':').next().unwrap().to_owned())
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamodb_local_listens_on_loopback_only() {
    let dir = scratch_dir("hostile-dynamodb");
    let mut t = base_template(&dir);
    with_table(&mut t);
    let path = dir.join("template.json");
    std::fs::write(&path, t.to_string()).unwrap();
    let config = GatewayConfig {
        routes: connect_only(),
        ..GatewayConfig::default()
    };
    let served = serve(&path, config, |o| {
        o.dynamodb_local_dir = Some(streamgate_tests::dynamodb_local::jar_dir());
    })
    .await;
    let endpoint = served
        .server
        .dynamodb_endpoint
        .clone()
        .expect("DynamoDB Local runs");
    let port: u16 = endpoint.rsplit(':').next().unwrap().parse().unwrap();
    let addresses = listening_on(port);
    // 127.0.0.1, as the kernel prints it in either table (IPv4, or IPv4-mapped IPv6).
    assert!(
        !addresses.is_empty()
            && addresses
                .iter()
                .all(|a| a == "0100007F" || a == "0000000000000000FFFF00000100007F"),
        "DynamoDB Local listens on {addresses:?}"
    );
    served.server.gateway.shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(10), served.task).await;
}
