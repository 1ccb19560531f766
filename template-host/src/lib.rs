//! The template host (`streamgate-server --template`): a CloudFormation template's WebSocket
//! API read into the emulator's model, its functions' `bootstrap`s run as processes under the
//! Lambda Runtime API, the tables and secrets they use.
//!
//! * [`template`]: the template reader (pure: text in, an API and its functions out).
//! * [`runtime`]: the Lambda Runtime API, the process pool, the functions' output.
//! * [`tables`]: the template's tables, created in DynamoDB Local.
//! * [`host`]: all of it put together behind the emulator ([`host::TemplateHost`]).

pub mod host;
pub mod runtime;
pub mod tables;
pub mod template;

pub use host::{TemplateHost, TemplateOptions};
