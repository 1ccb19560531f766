//! The route table: which route keys exist, which function serves each, and how each function
//! is deployed.
//!
//! Adding a route is one edit to `route_table!`'s invocation below plus the arms the compiler
//! then asks for (`Route::function`, `Route::kind`, and every `match` over `Route` in the
//! handlers, generator and local server).

/// How API Gateway reaches a route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RouteKind {
    /// Runs during the WebSocket handshake; its status decides the upgrade.
    Connect,
    /// Runs once after the socket closed (best effort).
    Disconnect,
    /// Selected when the frame's `action` equals the route key.
    Action,
    /// Selected when no action route matches, or the frame is not JSON.
    Default,
}

macro_rules! route_table {
    ($($(#[$doc:meta])* $variant:ident => $key:literal),+ $(,)?) => {
        /// A route of the chat API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Route {
            $($(#[$doc])* $variant),+
        }

        impl Route {
            /// Every route, in declaration order.
            pub const ALL: &'static [Route] = &[$(Route::$variant),+];

            /// The API Gateway route key.
            pub const fn key(self) -> &'static str {
                match self {
                    $(Route::$variant => $key),+
                }
            }
        }
    };
}

route_table! {
    /// `$connect`: the handshake.
    Connect => "$connect",
    /// `$disconnect`: the socket closed.
    Disconnect => "$disconnect",
    /// `message`: stream an LLM answer to the caller.
    Message => "message",
    /// `history`: a page of one of the caller's conversations.
    History => "history",
    /// `conversations`: a page of the caller's conversations.
    Conversations => "conversations",
    /// `cancel`: stop one of the caller's answers.
    Cancel => "cancel",
    /// `$default`: anything else.
    Default => "$default",
}

impl Route {
    /// The route whose key is `key`, if any.
    pub fn from_key(key: &str) -> Option<Route> {
        Route::ALL.iter().copied().find(|r| r.key() == key)
    }

    /// The function that serves this route.
    pub const fn function(self) -> Function {
        match self {
            Route::Connect => Function::Connect,
            Route::Disconnect => Function::Disconnect,
            Route::Message => Function::Message,
            Route::History | Route::Conversations | Route::Cancel => Function::Conversations,
            Route::Default => Function::Default,
        }
    }

    /// How API Gateway selects this route.
    pub const fn kind(self) -> RouteKind {
        match self {
            Route::Connect => RouteKind::Connect,
            Route::Disconnect => RouteKind::Disconnect,
            Route::Message | Route::History | Route::Conversations | Route::Cancel => {
                RouteKind::Action
            }
            Route::Default => RouteKind::Default,
        }
    }

    /// The values of the `action` field that select a route: the keys of action routes.
    pub fn actions() -> impl Iterator<Item = &'static str> {
        Route::ALL
            .iter()
            .filter(|r| r.kind() == RouteKind::Action)
            .map(|r| r.key())
    }
}

/// What a function may touch. The generator turns each into an IAM statement; the handler
/// tests check that a handler uses nothing beyond its function's list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    /// Write a connection record.
    PutConnection,
    /// Read a connection record.
    GetConnection,
    /// Delete a connection record.
    DeleteConnection,
    /// `POST @connections/{id}`: send a frame to a client.
    PostToConnection,
    /// Read the secret that holds the LLM provider's API key.
    ReadLlmApiKey,
    /// Update a user's quota items (one conditional `UpdateItem` per change).
    UpdateQuota,
    /// Read conversations and their turns, and stop requests (`GetItem`, `Query`).
    ReadConversations,
    /// Start, claim and store turns of conversations (one `TransactWriteItems` of a
    /// conditional `PutItem` and `UpdateItem`, or one conditional `UpdateItem`).
    WriteConversations,
    /// Leave a stop request for an answer (`PutItem`).
    CancelAnswers,
    /// Stream answers of the configured Bedrock model (`bedrock:InvokeModelWithResponseStream`
    /// on exactly its ARNs; granted only when the stack's provider is Bedrock).
    InvokeBedrockModel,
}

/// How a function is built and deployed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FunctionSpec {
    /// The cargo binary that serves the function (its packaged artifact folder has this name).
    pub binary: &'static str,
    /// Lambda memory size in MB.
    pub memory_mb: u32,
    /// Lambda timeout in seconds.
    pub timeout_seconds: u32,
    /// Everything the function may touch.
    pub permissions: &'static [Permission],
    /// Whether the function talks to the LLM provider (and so gets its settings).
    pub uses_llm: bool,
}

macro_rules! function_table {
    ($($(#[$doc:meta])* $variant:ident => $name:literal),+ $(,)?) => {
        /// A Lambda function of the chat API.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Function {
            $($(#[$doc])* $variant),+
        }

        impl Function {
            /// Every function, in declaration order.
            pub const ALL: &'static [Function] = &[$(Function::$variant),+];

            /// Short lower-case name (`connect`, `message`, ...).
            pub const fn name(self) -> &'static str {
                match self {
                    $(Function::$variant => $name),+
                }
            }
        }
    };
}

function_table! {
    /// Writes the connection record.
    Connect => "connect",
    /// Deletes the connection record.
    Disconnect => "disconnect",
    /// Streams an LLM answer.
    Message => "message",
    /// Answers `history` and `conversations`, and records `cancel`.
    Conversations => "conversations",
    /// Answers unknown actions.
    Default => "default",
    /// Checks the token on `$connect` (the API's REQUEST authorizer; no route of its own).
    Authorize => "authorize",
}

impl Function {
    /// How this function is built and deployed.
    pub const fn spec(self) -> FunctionSpec {
        use Permission::*;
        match self {
            Function::Connect => FunctionSpec {
                binary: "streamgate-connect",
                memory_mb: 128,
                timeout_seconds: 10,
                permissions: &[PutConnection, UpdateQuota],
                uses_llm: false,
            },
            Function::Disconnect => FunctionSpec {
                binary: "streamgate-disconnect",
                memory_mb: 128,
                timeout_seconds: 10,
                permissions: &[DeleteConnection, UpdateQuota],
                uses_llm: false,
            },
            Function::Message => FunctionSpec {
                binary: "streamgate-message",
                memory_mb: 256,
                // Invoked asynchronously (`Route::invocation`): an answer may stream this long.
                timeout_seconds: 300,
                permissions: &[
                    DeleteConnection,
                    PostToConnection,
                    ReadLlmApiKey,
                    UpdateQuota,
                    ReadConversations,
                    WriteConversations,
                    InvokeBedrockModel,
                ],
                uses_llm: true,
            },
            Function::Conversations => FunctionSpec {
                binary: "streamgate-conversations",
                memory_mb: 128,
                timeout_seconds: 10,
                permissions: &[
                    DeleteConnection,
                    PostToConnection,
                    ReadConversations,
                    CancelAnswers,
                ],
                uses_llm: false,
            },
            Function::Default => FunctionSpec {
                binary: "streamgate-default",
                memory_mb: 128,
                timeout_seconds: 10,
                permissions: &[DeleteConnection, PostToConnection],
                uses_llm: false,
            },
            Function::Authorize => FunctionSpec {
                binary: "streamgate-authorizer",
                memory_mb: 128,
                timeout_seconds: 10,
                // Only its logs: it reads the issuer's public keys over HTTPS, nothing of AWS.
                permissions: &[],
                uses_llm: false,
            },
        }
    }

    /// Whether this is the `$connect` authorizer (which serves no route).
    pub const fn is_authorizer(self) -> bool {
        matches!(self, Function::Authorize)
    }

    /// The routes this function serves.
    pub fn routes(self) -> impl Iterator<Item = Route> {
        Route::ALL
            .iter()
            .copied()
            .filter(move |r| r.function() == self)
    }

    /// The function served by the binary named `binary`, if any.
    pub fn from_binary(binary: &str) -> Option<Function> {
        Function::ALL
            .iter()
            .copied()
            .find(|f| f.spec().binary == binary)
    }

    /// Whether this function may do `permission`.
    pub fn may(self, permission: Permission) -> bool {
        self.spec().permissions.contains(&permission)
    }
}

/// Settings of the API as a whole.
pub mod api {
    /// API Gateway's route selection expression for the chat API.
    pub const ROUTE_SELECTION_EXPRESSION: &str = "$request.body.action";
    /// The JSON field that [`ROUTE_SELECTION_EXPRESSION`] reads.
    pub const ACTION_FIELD: &str = "action";
    /// Default route throttling of the stage: steady-state requests per second.
    pub const THROTTLE_RATE_LIMIT: f64 = 100.0;
    /// Default route throttling of the stage: burst.
    pub const THROTTLE_BURST_LIMIT: u32 = 200;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn route_keys_are_unique_and_round_trip() {
        let keys: HashSet<_> = Route::ALL.iter().map(|r| r.key()).collect();
        assert_eq!(keys.len(), Route::ALL.len());
        for r in Route::ALL {
            assert_eq!(Route::from_key(r.key()), Some(*r));
        }
        assert_eq!(Route::from_key("nope"), None);
    }

    #[test]
    fn every_route_has_one_function_and_every_function_but_the_authorizer_a_route() {
        for f in Function::ALL {
            assert_eq!(
                f.routes().count() >= 1,
                !f.is_authorizer(),
                "function {}",
                f.name()
            );
        }
        // `Route::function` is total (an exhaustive match), so each route has exactly one.
        for r in Route::ALL {
            assert!(Function::ALL.contains(&r.function()));
        }
    }

    #[test]
    fn special_routes_are_unique() {
        for kind in [
            RouteKind::Connect,
            RouteKind::Disconnect,
            RouteKind::Default,
        ] {
            assert!(Route::ALL.iter().filter(|r| r.kind() == kind).count() <= 1);
        }
        for r in Route::ALL {
            let special = r.key().starts_with('$');
            assert_eq!(special, r.kind() != RouteKind::Action, "{}", r.key());
        }
    }

    #[test]
    fn binaries_are_unique_and_settings_within_lambda_limits() {
        let bins: HashSet<_> = Function::ALL.iter().map(|f| f.spec().binary).collect();
        assert_eq!(bins.len(), Function::ALL.len());
        for f in Function::ALL {
            let s = f.spec();
            assert!((128..=10240).contains(&s.memory_mb), "{}", f.name());
            assert!((1..=900).contains(&s.timeout_seconds), "{}", f.name());
            assert_eq!(Function::from_binary(s.binary), Some(*f));
            assert_eq!(s.uses_llm, f.may(Permission::ReadLlmApiKey));
        }
    }
}
