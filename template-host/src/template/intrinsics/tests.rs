//! The resolver on a template that uses each intrinsic.

use super::*;
use crate::template::document::parse;

const TEMPLATE: &str = r#"
Parameters:
  Stage: {Type: String, Default: dev}
  Secret: {Type: String, Default: ''}
  Mode: {Type: String, AllowedValues: [a, b], Default: a}
Conditions:
  HasSecret: !Not [!Equals [!Ref Secret, '']]
  Both: !And [!Condition HasSecret, !Equals [!Ref Mode, b]]
Mappings:
  Sizes: {us-east-1: {Memory: 256}}
Resources:
  Fn:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: !Sub '${AWS::StackName}-fn'
  Table:
    Type: AWS::DynamoDB::Table
Outputs: {}
"#;

fn resolver<'a>(t: &'a Value, given: &[(&str, &str)]) -> Result<Resolver<'a>, Vec<String>> {
    let given = given
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Resolver::new(t, &given, Pseudo::default(), "abc123")
}

#[test]
fn refs_subs_joins_selects_and_conditions() {
    let t = parse(TEMPLATE).unwrap();
    let r = resolver(&t, &[("Secret", "arn:x")]).unwrap();
    let v = |yaml: &str| r.resolve(&parse(yaml).unwrap()["V"]).unwrap();
    assert_eq!(v("V: !Ref Stage"), json!("dev"));
    assert_eq!(v("V: !Ref Fn"), json!("local-fn"));
    assert_eq!(v("V: !Ref Table"), json!("local-Table"));
    assert_eq!(
        v("V: !Sub 'arn:${AWS::Partition}:x:${AWS::Region}:${Fn.Arn}/${!Literal}'"),
        json!(
            "arn:aws:x:us-east-1:arn:aws:lambda:us-east-1:123456789012:function:local-fn/${Literal}"
        )
    );
    assert_eq!(
        v("V: !Sub ['${A}-${Stage}', {A: !Ref Mode}]"),
        json!("a-dev")
    );
    assert_eq!(v("V: !Join ['/', [a, !Ref Stage]]"), json!("a/dev"));
    assert_eq!(v("V: !Select [1, !Split [',', 'x,y,z']]"), json!("y"));
    assert_eq!(v("V: !If [HasSecret, yes, no]"), json!("yes"));
    assert_eq!(v("V: !If [Both, yes, no]"), json!("no"));
    assert_eq!(
        v("V: !FindInMap [Sizes, !Ref AWS::Region, Memory]"),
        json!(256)
    );
    assert_eq!(
        v("V: {A: !If [Both, x, !Ref AWS::NoValue], B: [1, !Ref AWS::NoValue]}"),
        json!({"B": [1]})
    );
    assert!(r.resolve(&parse("V: !Ref Nope").unwrap()["V"]).is_err());
    assert!(
        r.resolve(&parse("V: !ImportValue X").unwrap()["V"])
            .unwrap_err()
            .contains("not emulated")
    );
}

#[test]
fn a_name_that_refers_back_to_itself_is_an_error_not_a_stack_overflow() {
    // Found by `just fuzz` (template target): each of these recursed without end.
    for text in [
        "Resources:\n  F:\n    Type: AWS::Lambda::Function\n    Properties:\n      FunctionName: !Ref F\nOutputs:\n  O:\n    Value: !Ref F\n",
        "Resources:\n  T:\n    Type: AWS::DynamoDB::Table\n    Properties:\n      TableName: !GetAtt T.Arn\nOutputs:\n  O:\n    Value: !GetAtt T.Arn\n",
        "Resources:\n  A:\n    Type: AWS::Lambda::Function\n    Properties:\n      FunctionName: !Sub '${B}-a'\n  B:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: !Ref A\nOutputs:\n  O:\n    Value: !Ref A\n",
    ] {
        let t = crate::template::document::parse(text).unwrap();
        let r = resolver(&t, &[]).unwrap();
        let e = r.resolve(&t["Outputs"]["O"]["Value"]).unwrap_err();
        assert!(e.contains("circular reference"), "{e}");
    }
    // A name that refers to another resource, without a cycle, still resolves.
    let t = crate::template::document::parse(
            "Resources:\n  A:\n    Type: AWS::Lambda::Function\n    Properties:\n      FunctionName: !Sub '${B}-a'\n  B:\n    Type: AWS::Logs::LogGroup\n    Properties:\n      LogGroupName: logs\n",
        )
        .unwrap();
    let r = resolver(&t, &[]).unwrap();
    assert_eq!(
        r.resolve(&serde_json::json!({"Ref": "A"})).unwrap(),
        "logs-a"
    );
    assert_eq!(
        r.resolve(&serde_json::json!({"Ref": "A"})).unwrap(),
        "logs-a",
        "the chain unwinds"
    );
}

#[test]
fn parameters_are_checked() {
    let t = parse(TEMPLATE).unwrap();
    let problems = resolver(&t, &[("Mode", "c"), ("Unknown", "1")])
        .err()
        .unwrap();
    assert!(
        problems.iter().any(|p| p.contains("Mode=\"c\"")),
        "{problems:?}"
    );
    assert!(
        problems.iter().any(|p| p.contains("Unknown")),
        "{problems:?}"
    );
    let t = parse("Parameters:\n  Key: {Type: String}\n").unwrap();
    let problems = resolver(&t, &[]).err().unwrap();
    assert!(
        problems[0].contains("--parameter Key=VALUE"),
        "{problems:?}"
    );
}
