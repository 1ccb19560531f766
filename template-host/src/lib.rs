//! The template host (`streamgate-server --template`): a CloudFormation template's WebSocket
//! API read into the emulator's model, its functions' `bootstrap`s run as processes under the
//! Lambda Runtime API, the tables and secrets they use.
//!
//! * [`template`]: the template reader (pure: text in, an API and its functions out).
//! * [`runtime`]: Lambda: the Runtime API, the process pool, the managed runtimes, the
//!   functions' code and output.
//! * [`tables`]: the template's tables, created in DynamoDB Local.
//! * [`doctor`]: what serving a template takes on this machine, and fetching it.
//! * [`host`]: all of it put together behind the emulator ([`host::TemplateHost`]), and the
//!   API Gateway side: the routes' integrations and the authorizer.

pub mod cli;
pub mod doctor;
pub mod host;
pub mod runtime;
pub mod tables;
pub mod template;

pub use host::{StartError, TemplateHost, TemplateOptions};
