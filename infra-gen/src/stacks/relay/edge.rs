//! The edge: CloudFront in front of the load balancer, so the page is served over https and
//! the socket over wss (caching off, every viewer header forwarded, the origin header added).

use super::ORIGIN_HEADER;
use super::ingress::Ingress;
use super::parameters::Params;
use crate::expr::{Pseudo, Sub};
use crate::resources::cloudfront::{
    ALL_VIEWER, CACHING_DISABLED, CacheBehavior, CustomOrigin, Distribution, DistributionConfig,
    Origin, OriginHeader, ViewerCertificate,
};
use crate::resources::elbv2::LoadBalancerAttr;
use crate::template::{Cond, Handle, Options, Template};

/// Declares the distribution over `ingress`'s load balancer.
pub(super) fn distribution(
    t: &mut Template,
    p: &Params,
    ingress: &Ingress,
) -> Handle<Distribution> {
    let (load_balancer, origin_secret) = (&ingress.load_balancer, ingress.origin_secret.clone());
    t.add_with(
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
    )
}
