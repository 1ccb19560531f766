//! The generated stacks: [`chat`] (the chat API, from the route contract) and [`relay`] (the
//! voice relay on ECS Fargate, built from parts).

pub mod chat;
pub mod relay;
pub mod watch;
