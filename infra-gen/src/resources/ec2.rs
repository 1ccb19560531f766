//! `AWS::EC2::*`: the relay's network (a VPC with public subnets) and its security groups.
//! Every security group rule carries a description, and a rule names either a CIDR block or a
//! source group, never both.

use serde::Serialize;

use crate::expr::Expr;
use crate::template::{NoAttr, Resource};

/// A tag.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    /// Its key.
    pub key: &'static str,
    /// Its value.
    pub value: Expr,
}

/// `AWS::EC2::VPC`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Vpc {
    /// `10.40.0.0/16`, say.
    pub cidr_block: &'static str,
    /// Always true: tasks resolve AWS endpoints.
    pub enable_dns_support: bool,
    /// Always true.
    pub enable_dns_hostnames: bool,
    /// Tags (a `Name`).
    pub tags: Vec<Tag>,
}

attributes!(VpcAttr { VpcId => "VpcId", CidrBlock => "CidrBlock" });

impl Resource for Vpc {
    const TYPE: &'static str = "AWS::EC2::VPC";
    type Attr = VpcAttr;
}

/// `AWS::EC2::InternetGateway`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InternetGateway {
    /// Tags.
    pub tags: Vec<Tag>,
}

attributes!(InternetGatewayAttr { InternetGatewayId => "InternetGatewayId" });

impl Resource for InternetGateway {
    const TYPE: &'static str = "AWS::EC2::InternetGateway";
    type Attr = InternetGatewayAttr;
}

/// `AWS::EC2::VPCGatewayAttachment`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GatewayAttachment {
    /// The VPC.
    pub vpc_id: Expr,
    /// The internet gateway.
    pub internet_gateway_id: Expr,
}

impl Resource for GatewayAttachment {
    const TYPE: &'static str = "AWS::EC2::VPCGatewayAttachment";
    type Attr = NoAttr;
}

/// `AWS::EC2::Subnet`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subnet {
    /// The VPC.
    pub vpc_id: Expr,
    /// Its block.
    pub cidr_block: &'static str,
    /// Its zone.
    pub availability_zone: Expr,
    /// Instances get no public address by default (the service asks for one per task).
    pub map_public_ip_on_launch: bool,
    /// Tags.
    pub tags: Vec<Tag>,
}

attributes!(SubnetAttr { SubnetId => "SubnetId" });

impl Resource for Subnet {
    const TYPE: &'static str = "AWS::EC2::Subnet";
    type Attr = SubnetAttr;
}

/// `AWS::EC2::RouteTable`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct RouteTable {
    /// The VPC.
    pub vpc_id: Expr,
    /// Tags.
    pub tags: Vec<Tag>,
}

attributes!(RouteTableAttr { RouteTableId => "RouteTableId" });

impl Resource for RouteTable {
    const TYPE: &'static str = "AWS::EC2::RouteTable";
    type Attr = RouteTableAttr;
}

/// `AWS::EC2::Route` to an internet gateway.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InternetRoute {
    /// The table.
    pub route_table_id: Expr,
    /// `0.0.0.0/0`.
    pub destination_cidr_block: &'static str,
    /// The gateway.
    pub gateway_id: Expr,
}

impl Resource for InternetRoute {
    const TYPE: &'static str = "AWS::EC2::Route";
    type Attr = NoAttr;
}

/// `AWS::EC2::SubnetRouteTableAssociation`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SubnetRouteTableAssociation {
    /// The subnet.
    pub subnet_id: Expr,
    /// The table.
    pub route_table_id: Expr,
}

impl Resource for SubnetRouteTableAssociation {
    const TYPE: &'static str = "AWS::EC2::SubnetRouteTableAssociation";
    type Attr = NoAttr;
}

/// Where a rule's traffic comes from or goes to.
pub enum Peer {
    /// An address block.
    Cidr(&'static str),
    /// Members of a security group.
    Group(Expr),
}

/// One rule of a security group.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Rule {
    /// What it is for.
    pub description: String,
    /// Always `tcp`.
    pub ip_protocol: &'static str,
    /// The first port.
    pub from_port: u16,
    /// The last port.
    pub to_port: u16,
    #[serde(rename = "CidrIp", skip_serializing_if = "Option::is_none")]
    cidr_ip: Option<&'static str>,
    #[serde(
        rename = "SourceSecurityGroupId",
        skip_serializing_if = "Option::is_none"
    )]
    source_group: Option<Expr>,
    #[serde(
        rename = "DestinationSecurityGroupId",
        skip_serializing_if = "Option::is_none"
    )]
    destination_group: Option<Expr>,
}

impl Rule {
    /// TCP on `port` from `peer` (an ingress rule).
    pub fn ingress(description: &str, port: u16, peer: Peer) -> Rule {
        let (cidr_ip, source_group) = match peer {
            Peer::Cidr(c) => (Some(c), None),
            Peer::Group(g) => (None, Some(g)),
        };
        Rule {
            description: description.to_owned(),
            ip_protocol: "tcp",
            from_port: port,
            to_port: port,
            cidr_ip,
            source_group,
            destination_group: None,
        }
    }

    /// TCP on `port` to `peer` (an egress rule).
    pub fn egress(description: &str, port: u16, peer: Peer) -> Rule {
        let (cidr_ip, destination_group) = match peer {
            Peer::Cidr(c) => (Some(c), None),
            Peer::Group(g) => (None, Some(g)),
        };
        Rule {
            description: description.to_owned(),
            ip_protocol: "tcp",
            from_port: port,
            to_port: port,
            cidr_ip,
            source_group: None,
            destination_group,
        }
    }
}

/// `AWS::EC2::SecurityGroup`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecurityGroup {
    /// What it guards.
    pub group_description: String,
    /// The VPC.
    pub vpc_id: Expr,
    /// Inbound rules written inline (rules naming another group are separate resources, which
    /// keeps two groups that name each other free of cycles).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_group_ingress: Vec<Rule>,
    /// Outbound rules, at least one: they replace the default allow-all rule.
    pub security_group_egress: Vec<Rule>,
}

attributes!(SecurityGroupAttr { GroupId => "GroupId", VpcId => "VpcId" });

impl Resource for SecurityGroup {
    const TYPE: &'static str = "AWS::EC2::SecurityGroup";
    type Attr = SecurityGroupAttr;
}

/// `AWS::EC2::SecurityGroupIngress`: one rule added to a group.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GroupIngress {
    /// The group the rule is added to.
    pub group_id: Expr,
    /// The rule.
    #[serde(flatten)]
    pub rule: Rule,
}

impl Resource for GroupIngress {
    const TYPE: &'static str = "AWS::EC2::SecurityGroupIngress";
    type Attr = NoAttr;
}
