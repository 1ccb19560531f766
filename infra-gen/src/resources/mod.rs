//! Typed properties of exactly the CloudFormation resource types the stack uses.
//!
//! Values that CloudFormation or the validators would only reject at deploy time, or not at
//! all, are made impossible here: the API's `ProtocolType` is always `WEBSOCKET`, a stage
//! cannot be built without a deployment, a log group's retention is one of the allowed
//! values, IAM actions are an enum with no wildcard, and a table's attribute definitions are
//! derived from its key.

//! One module per AWS service; the names do not repeat the contract's (`ApiRoute`, not
//! `Route`), so the stack can use both without renaming on import.

macro_rules! attributes {
    ($name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        /// `Fn::GetAtt` attributes.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $(#[doc = $text] $variant),+
        }

        impl $crate::template::Attribute for $name {
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }
    };
}

pub mod apigateway;
pub mod autoscaling;
pub mod cloudformation;
pub mod cloudfront;
pub mod cloudwatch;
pub mod cognito;
pub mod dynamodb;
pub mod ec2;
pub mod ecr;
pub mod ecs;
pub mod elbv2;
pub mod iam;
pub mod lambda;
pub mod logs;

use crate::template::{Attribute, Resource};

/// Every resource type the generator can emit, with its `Fn::GetAtt` attributes.
pub fn registry() -> Vec<(&'static str, Vec<&'static str>)> {
    fn entry<R: Resource>() -> (&'static str, Vec<&'static str>) {
        (R::TYPE, R::Attr::ALL.iter().map(|a| a.name()).collect())
    }
    vec![
        entry::<apigateway::WebSocketApi>(),
        entry::<apigateway::ApiRoute>(),
        entry::<apigateway::Integration>(),
        entry::<apigateway::Deployment>(),
        entry::<apigateway::Stage>(),
        entry::<apigateway::Authorizer>(),
        entry::<cognito::UserPool>(),
        entry::<cognito::UserPoolClient>(),
        entry::<lambda::LambdaFunction>(),
        entry::<lambda::LambdaPermission>(),
        entry::<lambda::EventInvokeConfig>(),
        entry::<iam::Role>(),
        entry::<dynamodb::Table>(),
        entry::<logs::LogGroup>(),
        entry::<apigateway::ApiGatewayAccount>(),
        entry::<cloudformation::WaitConditionHandle>(),
        entry::<ec2::Vpc>(),
        entry::<ec2::InternetGateway>(),
        entry::<ec2::GatewayAttachment>(),
        entry::<ec2::Subnet>(),
        entry::<ec2::RouteTable>(),
        entry::<ec2::InternetRoute>(),
        entry::<ec2::SubnetRouteTableAssociation>(),
        entry::<ec2::SecurityGroup>(),
        entry::<ec2::GroupIngress>(),
        entry::<ecr::Repository>(),
        entry::<ecs::Cluster>(),
        entry::<ecs::TaskDefinition>(),
        entry::<ecs::Service>(),
        entry::<elbv2::LoadBalancer>(),
        entry::<elbv2::TargetGroup>(),
        entry::<elbv2::Listener>(),
        entry::<elbv2::ListenerRule>(),
        entry::<cloudfront::Distribution>(),
        entry::<autoscaling::ScalableTarget>(),
        entry::<autoscaling::ScalingPolicy>(),
        entry::<cloudwatch::Alarm>(),
        entry::<cloudwatch::Dashboard>(),
    ]
}
