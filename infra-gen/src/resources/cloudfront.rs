//! `AWS::CloudFront::Distribution` in front of the relay's load balancer: https and wss on the
//! distribution's own name (or a custom domain with its ACM certificate), caching off, every
//! viewer header forwarded (WebSockets need `Sec-WebSocket-Key` and `-Version`).

use serde::Serialize;

use crate::expr::Expr;
use crate::template::{Cond, Resource};

/// AWS's managed cache policy `CachingDisabled`.
pub const CACHING_DISABLED: &str = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad";
/// AWS's managed origin request policy `AllViewer` (every viewer header, cookie and query).
pub const ALL_VIEWER: &str = "216adef6-5c7f-47e4-b989-5492eafa07d3";

/// A header CloudFront adds to requests to the origin.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct OriginHeader {
    /// Its name.
    pub header_name: &'static str,
    /// Its value.
    pub header_value: Expr,
}

/// A custom (HTTP) origin.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomOrigin {
    /// `http-only` or `https-only`.
    #[serde(rename = "OriginProtocolPolicy")]
    pub protocol_policy: &'static str,
    /// Port 80.
    #[serde(rename = "HTTPPort")]
    pub http_port: u16,
    /// Seconds CloudFront waits for the origin's first byte.
    pub origin_read_timeout: u32,
    /// Seconds an idle origin connection is kept.
    pub origin_keepalive_timeout: u32,
}

/// An origin.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Origin {
    /// Its id.
    pub id: &'static str,
    /// Its host name.
    pub domain_name: Expr,
    /// HTTP settings.
    pub custom_origin_config: CustomOrigin,
    /// Headers added.
    pub origin_custom_headers: Vec<OriginHeader>,
}

/// The default cache behaviour.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CacheBehavior {
    /// The origin.
    pub target_origin_id: &'static str,
    /// `redirect-to-https`.
    pub viewer_protocol_policy: &'static str,
    /// Methods.
    pub allowed_methods: Vec<&'static str>,
    /// Managed cache policy id.
    pub cache_policy_id: &'static str,
    /// Managed origin request policy id.
    pub origin_request_policy_id: &'static str,
    /// Compression (off: nothing is cached).
    pub compress: bool,
}

/// The certificate viewers see.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ViewerCertificate {
    /// The distribution's own `*.cloudfront.net` certificate.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_front_default_certificate: Option<bool>,
    /// An ACM certificate (us-east-1) for a custom domain.
    #[serde(skip_serializing_if = "Option::is_none", rename = "AcmCertificateArn")]
    pub acm_certificate_arn: Option<Expr>,
    /// `sni-only` with ACM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ssl_support_method: Option<&'static str>,
    /// `TLSv1.2_2021` with ACM.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_protocol_version: Option<&'static str>,
}

impl ViewerCertificate {
    /// The distribution's own certificate.
    pub fn default_certificate() -> ViewerCertificate {
        ViewerCertificate {
            cloud_front_default_certificate: Some(true),
            acm_certificate_arn: None,
            ssl_support_method: None,
            minimum_protocol_version: None,
        }
    }

    /// An ACM certificate, SNI, TLS 1.2 at least.
    pub fn acm(arn: Expr) -> ViewerCertificate {
        ViewerCertificate {
            cloud_front_default_certificate: None,
            acm_certificate_arn: Some(arn),
            ssl_support_method: Some("sni-only"),
            minimum_protocol_version: Some("TLSv1.2_2021"),
        }
    }
}

/// A distribution's configuration.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DistributionConfig {
    /// Always true.
    pub enabled: bool,
    /// What it is.
    pub comment: Expr,
    /// Custom domain names (present only with a certificate).
    pub aliases: Cond<Vec<Expr>>,
    /// `PriceClass_100`: North America and Europe edges, the cheapest.
    pub price_class: &'static str,
    /// `http2`.
    pub http_version: &'static str,
    /// The origins.
    pub origins: Vec<Origin>,
    /// The default behaviour.
    pub default_cache_behavior: CacheBehavior,
    /// The certificate.
    pub viewer_certificate: Cond<ViewerCertificate>,
}

/// `AWS::CloudFront::Distribution`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Distribution {
    /// Its configuration.
    pub distribution_config: DistributionConfig,
}

attributes!(DistributionAttr { DomainName => "DomainName", Id => "Id" });

impl Resource for Distribution {
    const TYPE: &'static str = "AWS::CloudFront::Distribution";
    type Attr = DistributionAttr;
}
