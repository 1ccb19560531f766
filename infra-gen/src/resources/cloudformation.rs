//! `AWS::CloudFormation::WaitConditionHandle`: a resource with no effect and no cost, used
//! as a join point: its metadata may reference a resource that exists only under a
//! condition (through `Fn::If`), and other resources depend on it unconditionally.

use serde::Serialize;

use crate::template::{NoAttr, Resource};

/// `AWS::CloudFormation::WaitConditionHandle`.
#[derive(Serialize)]
pub struct WaitConditionHandle {}

impl Resource for WaitConditionHandle {
    const TYPE: &'static str = "AWS::CloudFormation::WaitConditionHandle";
    type Attr = NoAttr;
}
