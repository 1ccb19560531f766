//! The scripted integration the local-server tests use: it records the events it gets and
//! answers each as its script says (a status, a header, a body, a crash, a panic, a delay, a
//! post back to the caller).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use streamgate_contract::Route;
use streamgate_core::event::{WsEvent, WsResponse, status, status_with_body};
use streamgate_emulator::api::ApiRoute;
use streamgate_emulator::{Integration, IntegrationError, Registry};

/// What a scripted integration does for one invocation.
#[derive(Debug, Clone)]
pub enum Behaviour {
    /// Answer 200 with no body.
    Ok,
    /// Answer this status.
    Status(u16),
    /// Answer 200 with this header.
    Header(&'static str, String),
    /// Answer 200 with this body.
    Body(String),
    /// Fail (a crashed function).
    Crash,
    /// Panic.
    Panic,
    /// Wait, then answer 200.
    Sleep(Duration),
    /// Wait, then answer 200 with this body.
    SleepThenBody(Duration, String),
    /// Wait, then post this text to the caller through the registry, then answer 200.
    SleepThenPost(Duration, String),
}

type Script = dyn Fn(Route, &WsEvent) -> Behaviour + Send + Sync;

/// An integration that records every event (as JSON) and behaves as its script says.
pub struct Recorder {
    events: Mutex<Vec<(Route, Value)>>,
    script: Box<Script>,
    registry: Mutex<Option<Arc<Registry>>>,
}

impl Recorder {
    /// A recorder that behaves as `script` says.
    pub fn new(
        script: impl Fn(Route, &WsEvent) -> Behaviour + Send + Sync + 'static,
    ) -> Arc<Recorder> {
        Arc::new(Recorder {
            events: Mutex::new(Vec::new()),
            script: Box::new(script),
            registry: Mutex::new(None),
        })
    }

    /// A recorder that answers 200 to everything.
    pub fn ok() -> Arc<Recorder> {
        Recorder::new(|_, _| Behaviour::Ok)
    }

    /// Where the recorder posts `SleepThenPost` frames: the serving gateway's registry.
    pub fn registry_slot(&self) -> std::sync::MutexGuard<'_, Option<Arc<Registry>>> {
        self.registry.lock().unwrap()
    }

    /// Every event received, in order.
    pub fn events(&self) -> Vec<(Route, Value)> {
        self.events.lock().unwrap().clone()
    }

    /// The events of one route.
    pub fn events_of(&self, route: Route) -> Vec<Value> {
        self.events()
            .into_iter()
            .filter(|(r, _)| *r == route)
            .map(|(_, e)| e)
            .collect()
    }

    /// Waits until `route` has had `n` events (or panics after 5 s).
    pub async fn wait_for(&self, route: Route, n: usize) -> Vec<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let events = self.events_of(route);
            if events.len() >= n {
                return events;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} {route:?} events within 5 s, saw {}",
                n,
                events.len()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

#[async_trait]
impl Integration for Recorder {
    async fn invoke(&self, route: &ApiRoute, event: Value) -> Result<WsResponse, IntegrationError> {
        let route = Route::from_key(&route.key).expect("recorded APIs use the contract's routes");
        self.events.lock().unwrap().push((route, event.clone()));
        let event: WsEvent = serde_json::from_value(event)
            .map_err(|e| IntegrationError::Malformed(e.to_string()))?;
        match (self.script)(route, &event) {
            Behaviour::Ok => Ok(status(200)),
            Behaviour::Status(s) => Ok(status(s)),
            Behaviour::Header(name, value) => {
                let mut r = status(200);
                r.headers.insert(name, value.parse().unwrap());
                Ok(r)
            }
            Behaviour::Body(b) => Ok(status_with_body(200, b)),
            Behaviour::Crash => Err(IntegrationError::Failed("injected crash".into())),
            Behaviour::Panic => panic!("injected panic"),
            Behaviour::Sleep(d) => {
                tokio::time::sleep(d).await;
                Ok(status(200))
            }
            Behaviour::SleepThenBody(d, body) => {
                tokio::time::sleep(d).await;
                Ok(status_with_body(200, body))
            }
            Behaviour::SleepThenPost(d, text) => {
                tokio::time::sleep(d).await;
                let registry = self.registry.lock().unwrap().clone().expect("registry");
                let id = event.request_context.connection_id.clone().unwrap();
                registry
                    .post(&id, text)
                    .expect("the connection is still open");
                Ok(status(200))
            }
        }
    }
}
