//! Small HTTP helpers: responses, query strings, path segments.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The body of every response the server makes.
pub(crate) type Body = Full<Bytes>;

/// A response with a status, a content type and a body.
pub(crate) fn respond(
    status: StatusCode,
    content_type: &str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON response.
pub(crate) fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    respond(status, "application/json", body.to_string())
}

/// API Gateway's `{"message": ...}` refusal with `status`'s reason phrase.
pub(crate) fn refusal(status: StatusCode) -> Response<Body> {
    json_response(
        status,
        serde_json::json!({"message": status.canonical_reason().unwrap_or("Refused")}),
    )
}

/// The pairs of a query string, decoded (`+` is a space), in order, repeats kept.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect()
}

/// A percent-decoded path segment; `None` when it does not decode to UTF-8.
pub fn decode_segment(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// A request body, at most `limit` bytes (`None` when larger or broken).
pub(crate) async fn read_body(
    req: http::Request<hyper::body::Incoming>,
    limit: usize,
) -> Option<Bytes> {
    use http_body_util::BodyExt;
    http_body_util::Limited::new(req.into_body(), limit)
        .collect()
        .await
        .ok()
        .map(|b| b.to_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_segments_are_decoded() {
        assert_eq!(
            query_pairs("a=1&b=x%20y&a=2&c&d=e+f"),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x y".into()),
                ("a".into(), "2".into()),
                ("c".into(), "".into()),
                ("d".into(), "e f".into()),
            ]
        );
        assert_eq!(
            decode_segment("R1kmxc2VNjMCFIA%3D").as_deref(),
            Some("R1kmxc2VNjMCFIA=")
        );
        assert_eq!(decode_segment("%FF"), None, "not UTF-8");
    }
}
