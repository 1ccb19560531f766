//! The relay's network: a VPC with two public subnets in two zones, an internet gateway and
//! the default route.

use crate::expr::{Expr, Pseudo, Sub};
use crate::resources::ec2::{
    GatewayAttachment, InternetGateway, InternetRoute, RouteTable, Subnet,
    SubnetRouteTableAssociation, Tag, Vpc,
};
use crate::template::{Handle, Options, Template};

/// A `Name` tag of `{stack}-{suffix}`.
fn name_tag(suffix: &str) -> Vec<Tag> {
    vec![Tag {
        key: "Name",
        value: Sub::new()
            .pseudo(Pseudo::StackName)
            .text(format!("-{suffix}"))
            .build(),
    }]
}

/// The VPC and its subnets.
pub(super) struct Network {
    pub(super) vpc: Handle<Vpc>,
    pub(super) subnets: Vec<Expr>,
}

/// Declares it.
pub(super) fn network(t: &mut Template) -> Network {
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
