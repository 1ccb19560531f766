//! A CloudFormation template as JSON: YAML or JSON text, with YAML's short intrinsic forms
//! (`!Ref X`, `!GetAtt A.B`, `!Sub ...`) turned into their long forms (`{"Ref": "X"}`,
//! `{"Fn::GetAtt": ["A", "B"]}`, `{"Fn::Sub": ...}`).

use serde_json::{Map, Value, json};

/// Parses template text (JSON or YAML, long or short intrinsic forms).
pub fn parse(text: &str) -> Result<Value, String> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"));
    }
    let yaml: yaml_serde::Value =
        yaml_serde::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    to_json(yaml)
}

fn to_json(yaml: yaml_serde::Value) -> Result<Value, String> {
    use yaml_serde::Value as Y;
    Ok(match yaml {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .map(to_json)
                .collect::<Result<Vec<_>, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("a mapping key that is not a string: {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(tagged.value)?;
            short_form(name, value)?
        }
    })
}

/// `!Name value` as its long form.
fn short_form(name: &str, value: Value) -> Result<Value, String> {
    let long = match name {
        "Ref" => "Ref",
        "Condition" => "Condition",
        "GetAtt" => {
            // `!GetAtt Resource.Attribute` (the attribute may itself hold dots).
            let value = match value {
                Value::String(s) => match s.split_once('.') {
                    Some((resource, attribute)) => json!([resource, attribute]),
                    None => return Err(format!("!GetAtt {s}: expected Resource.Attribute")),
                },
                other => other,
            };
            return Ok(json!({"Fn::GetAtt": value}));
        }
        "Sub" | "Join" | "If" | "Select" | "Split" | "Equals" | "Not" | "And" | "Or"
        | "FindInMap" | "Base64" | "GetAZs" | "ImportValue" | "Cidr" | "Length"
        | "ToJsonString" => {
            return Ok(json!({ format!("Fn::{name}"): value }));
        }
        other => return Err(format!("unknown tag !{other}")),
    };
    Ok(json!({ long: value }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_become_long_forms() {
        let v = parse(
            "A: !Ref X\nB: !GetAtt Fn.Arn\nC: !Sub 'x-${AWS::Region}'\nD: !If [Cond, !Ref Y, !Ref AWS::NoValue]\nE: !Join ['', [a, !Select [0, [b]]]]\n",
        )
        .unwrap();
        assert_eq!(v["A"], json!({"Ref": "X"}));
        assert_eq!(v["B"], json!({"Fn::GetAtt": ["Fn", "Arn"]}));
        assert_eq!(v["C"], json!({"Fn::Sub": "x-${AWS::Region}"}));
        assert_eq!(
            v["D"],
            json!({"Fn::If": ["Cond", {"Ref": "Y"}, {"Ref": "AWS::NoValue"}]})
        );
        assert_eq!(
            v["E"],
            json!({"Fn::Join": ["", ["a", {"Fn::Select": [0, ["b"]]}]]})
        );
    }

    #[test]
    fn json_templates_parse_as_they_are() {
        let v = parse(r#"{"Resources": {"T": {"Type": "AWS::DynamoDB::Table"}}}"#).unwrap();
        assert_eq!(v["Resources"]["T"]["Type"], "AWS::DynamoDB::Table");
        assert!(parse("{ nope").is_err());
        assert!(parse("A: !Bogus x").unwrap_err().contains("!Bogus"));
    }
}
