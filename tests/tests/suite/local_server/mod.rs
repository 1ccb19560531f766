//! The local server reproduces API Gateway's WebSocket behaviour: one test (at least) per
//! point of the parity list in `tests/PARITY.md` (1 to 18), named `pN_...`, each run on both
//! hosts (the table below). One module per part of the list; `support.rs` is what they share.

mod asynchronous;
mod connection;
mod events;
mod identity;
mod management;
mod routing;
mod support;

use streamgate_tests::local::Host;

/// Each parity test on every host: the handlers in this process, and real function
/// processes under the Lambda Runtime API, served from a CloudFormation template and from a
/// SAM template.
macro_rules! on_both_hosts {
    ($($module:ident :: $name:ident),+ $(,)?) => {
        mod in_process {
            $(#[tokio::test]
            async fn $name() {
                super::$module::$name(super::Host::InProcess).await
            })+
        }
        mod runtime_api {
            $(#[tokio::test]
            async fn $name() {
                super::$module::$name(super::Host::RuntimeApi).await
            })+
        }
        mod sam_stack {
            $(#[tokio::test]
            async fn $name() {
                super::$module::$name(super::Host::SamTemplate).await
            })+
        }
    };
}

on_both_hosts!(
    events::p1_connect_status_decides_the_upgrade,
    events::p2_works_without_a_connect_route,
    events::p3_subprotocol_from_connect_reaches_the_101,
    events::p4_connect_events_carry_headers_and_query_maps_only_with_a_query,
    events::p5_only_message_events_carry_message_id_and_body_and_no_headers,
    routing::p8_route_selection_is_exact_with_stringified_values,
    routing::p9_non_json_goes_to_default_and_without_default_the_forbidden_frame,
    routing::p10_crash_and_timeout_frames_while_the_handler_keeps_posting,
    routing::p11_return_values_are_discarded_on_one_way_routes_and_sent_on_two_way,
    connection::p12_binary_frames_close_1003_and_oversize_closes_1009,
    connection::p13_idle_and_lifetime_closes,
    connection::p14_disconnect_runs_exactly_once_with_code_and_reason,
    management::p15_post_get_delete_on_connections,
    management::p16_management_errors_are_typed,
    identity::p17_authorizer_context_reaches_later_events,
    identity::p18_connection_ids_are_realistic_and_unique,
    connection::graceful_shutdown_closes_with_1001_and_runs_disconnect_for_each,
    connection::the_root_url_and_the_stage_url_both_serve_the_api,
);
