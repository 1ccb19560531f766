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

mod apigateway;
mod autoscaling;
mod cloudformation;
mod cloudfront;
mod dynamodb;
mod ec2;
mod ecr;
mod ecs;
mod elbv2;
mod iam;
mod lambda;
mod logs;

pub use apigateway::*;
pub use autoscaling::*;
pub use cloudformation::*;
pub use cloudfront::*;
pub use dynamodb::*;
pub use ec2::*;
pub use ecr::*;
pub use ecs::*;
pub use elbv2::*;
pub use iam::*;
pub use lambda::*;
pub use logs::*;

use crate::template::{Attribute, Resource};

/// Every resource type the generator can emit, with its `Fn::GetAtt` attributes.
pub fn registry() -> Vec<(&'static str, Vec<&'static str>)> {
    fn entry<R: Resource>() -> (&'static str, Vec<&'static str>) {
        (R::TYPE, R::Attr::ALL.iter().map(|a| a.name()).collect())
    }
    vec![
        entry::<WebSocketApi>(),
        entry::<ApiRoute>(),
        entry::<Integration>(),
        entry::<Deployment>(),
        entry::<Stage>(),
        entry::<LambdaFunction>(),
        entry::<LambdaPermission>(),
        entry::<EventInvokeConfig>(),
        entry::<Role>(),
        entry::<Table>(),
        entry::<LogGroup>(),
        entry::<ApiGatewayAccount>(),
        entry::<WaitConditionHandle>(),
        entry::<Vpc>(),
        entry::<InternetGateway>(),
        entry::<GatewayAttachment>(),
        entry::<Subnet>(),
        entry::<RouteTable>(),
        entry::<InternetRoute>(),
        entry::<SubnetRouteTableAssociation>(),
        entry::<SecurityGroup>(),
        entry::<GroupIngress>(),
        entry::<Repository>(),
        entry::<Cluster>(),
        entry::<TaskDefinition>(),
        entry::<Service>(),
        entry::<LoadBalancer>(),
        entry::<TargetGroup>(),
        entry::<Listener>(),
        entry::<ListenerRule>(),
        entry::<Distribution>(),
        entry::<ScalableTarget>(),
        entry::<ScalingPolicy>(),
    ]
}
