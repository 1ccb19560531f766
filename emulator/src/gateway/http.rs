//! Small HTTP helpers: responses, query strings, path segments.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

/// The body of every response the server makes.
pub type Body = Full<Bytes>;

/// A response with a status, a content type and a body.
pub fn respond(status: StatusCode, content_type: &str, body: impl Into<Bytes>) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

/// A JSON response.
pub fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    respond(status, "application/json", body.to_string())
}

/// API Gateway's `{"message": ...}` refusal with `status`'s reason phrase.
pub fn refusal(status: StatusCode) -> Response<Body> {
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

/// Why a request body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Larger than the limit (announced or sent).
    TooLarge,
    /// Not all of it arrived in time (a slow or stalled client).
    TimedOut,
    /// The connection broke while it was sent.
    Broken,
}

/// A request's announced `Content-Length`, if it has a readable one.
pub(crate) fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// A request body, at most `limit` bytes, all of it within `timeout`: a client announcing
/// 10 MB and sending 10 bytes is answered when the time is up, not held forever.
/// `announced` is the request's `Content-Length` ([`content_length`]).
pub(crate) async fn read_body(
    body: hyper::body::Incoming,
    announced: Option<u64>,
    limit: usize,
    timeout: std::time::Duration,
) -> Result<Bytes, BodyError> {
    use http_body_util::BodyExt;
    if announced.is_some_and(|n| n > limit as u64) {
        return Err(BodyError::TooLarge);
    }
    let collect = http_body_util::Limited::new(body, limit).collect();
    match tokio::time::timeout(timeout, collect).await {
        Err(_) => Err(BodyError::TimedOut),
        Ok(Ok(body)) => Ok(body.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(BodyError::TooLarge),
        Ok(Err(_)) => Err(BodyError::Broken),
    }
}

/// The client's address: the peer's, or with `trusted_hops` proxies in front (a load
/// balancer: 1; CloudFront then a load balancer: 2), the `X-Forwarded-For` entry that many
/// places from the right, which the outermost trusted proxy wrote. Entries to its left are
/// the client's own to write and are never used. Falls back to the peer when the header is
/// shorter than it should be.
pub fn client_address(
    peer: std::net::IpAddr,
    forwarded_for: Option<&[u8]>,
    trusted_hops: usize,
) -> String {
    if trusted_hops == 0 {
        return peer.to_string();
    }
    let entries: Vec<&str> = forwarded_for
        .and_then(|v| std::str::from_utf8(v).ok())
        .map(|v| v.split(',').map(str::trim).collect())
        .unwrap_or_default();
    entries
        .len()
        .checked_sub(trusted_hops)
        .and_then(|i| entries.get(i))
        .and_then(|e| e.parse::<std::net::IpAddr>().ok())
        .map_or_else(|| peer.to_string(), |ip| ip.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_address_comes_from_the_trusted_proxies_only() {
        let peer: std::net::IpAddr = "10.0.1.7".parse().unwrap();
        let xff = Some(&b"6.6.6.6, 203.0.113.9, 130.176.1.1"[..]);
        assert_eq!(
            client_address(peer, xff, 0),
            "10.0.1.7",
            "no proxy: the peer"
        );
        assert_eq!(client_address(peer, xff, 1), "130.176.1.1");
        assert_eq!(
            client_address(peer, xff, 2),
            "203.0.113.9",
            "CloudFront then the load balancer: the viewer CloudFront saw, not what the client wrote"
        );
        assert_eq!(
            client_address(peer, Some(b"203.0.113.9"), 2),
            "10.0.1.7",
            "too short"
        );
        assert_eq!(client_address(peer, None, 1), "10.0.1.7");
        assert_eq!(client_address(peer, Some(b"not-an-ip"), 1), "10.0.1.7");
    }

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
