//! The one recorder behind the `metrics` facade: every counter and histogram of the
//! contract's list, keyed by metric and labels, readable by both sinks. Counters keep their
//! total (Prometheus) and what EMF has already reported; histograms keep Prometheus buckets and
//! the values EMF has not reported yet, at most [`PENDING_VALUES`] of them, so memory stays
//! bounded whatever the traffic. A name outside the contract's list is not recorded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use streamgate_sync::Locked;

use metrics::{Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata};
use metrics::{Recorder, SharedString};
use streamgate_contract::metrics::{Kind, Metric};

/// Values a histogram holds for EMF between two flushes (CloudWatch takes at most 100 values
/// per metric in one EMF object).
pub const PENDING_VALUES: usize = 100;

/// Series a registry holds at most (each metric's label values are bounded sets, so this is
/// reached only by lines from elsewhere, such as a template's functions' EMF lines).
pub const MAX_SERIES: usize = 1024;

/// Label pairs, sorted by key.
pub(crate) type Labels = Vec<(String, String)>;

/// A counter's state.
#[derive(Default)]
pub(crate) struct CounterSlot {
    pub(crate) total: AtomicU64,
    pub(crate) reported: AtomicU64,
}

impl CounterFn for CounterSlot {
    fn increment(&self, value: u64) {
        self.total.fetch_add(value, Ordering::Relaxed);
    }

    fn absolute(&self, value: u64) {
        self.total.fetch_max(value, Ordering::Relaxed);
    }
}

/// A histogram's state.
pub(crate) struct HistogramSlot {
    pub(crate) state: Mutex<HistogramState>,
}

/// Buckets, sum and count for Prometheus; values not yet reported for EMF.
pub(crate) struct HistogramState {
    pub(crate) bounds: &'static [f64],
    /// Cumulative count per bound (`le`), then `+Inf` last.
    pub(crate) buckets: Vec<u64>,
    pub(crate) sum: f64,
    pub(crate) count: u64,
    pub(crate) pending: Vec<f64>,
    /// Values recorded while `pending` was full (reported as a property).
    pub(crate) unreported: u64,
}

impl HistogramFn for HistogramSlot {
    fn record(&self, value: f64) {
        if !value.is_finite() {
            return;
        }
        let mut s = self.state.locked();
        for (i, bound) in s.bounds.iter().enumerate() {
            if value <= *bound {
                s.buckets[i] += 1;
            }
        }
        let last = s.buckets.len() - 1;
        s.buckets[last] += 1;
        s.sum += value;
        s.count += 1;
        if s.pending.len() < PENDING_VALUES {
            s.pending.push(value);
        } else {
            s.unreported += 1;
        }
    }
}

/// One recorded series.
#[derive(Clone)]
pub(crate) enum Slot {
    Counter(Arc<CounterSlot>),
    Histogram(Arc<HistogramSlot>),
}

/// The recorder. Install it once per process with [`Registry::install`]; read it with
/// [`Registry::prometheus`] or [`Registry::emf_lines`].
#[derive(Default)]
pub struct Registry {
    series: Mutex<HashMap<(Metric, Labels), Slot>>,
}

impl Registry {
    /// A registry with nothing recorded.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Makes a registry the process' recorder and returns it (the one already installed when
    /// one is: every host in a process shares it).
    pub fn install() -> &'static Registry {
        static INSTALLED: std::sync::OnceLock<&'static Registry> = std::sync::OnceLock::new();
        INSTALLED.get_or_init(|| {
            let registry: &'static Registry = Box::leak(Box::new(Registry::new()));
            // Fails only when another recorder was installed first, which nothing here does.
            let _ = metrics::set_global_recorder(registry);
            registry
        })
    }

    /// The series of `key`, made on first use; `None` for a name outside the contract's list
    /// or of the other kind.
    pub(crate) fn slot(&self, key: &Key, kind: Kind) -> Option<Slot> {
        let metric = Metric::from_name(key.name()).filter(|m| m.kind() == kind)?;
        let mut labels: Labels = key
            .labels()
            .map(|l| (l.key().to_owned(), l.value().to_owned()))
            .collect();
        labels.sort();
        let mut series = self.series.locked();
        if series.len() >= MAX_SERIES && !series.contains_key(&(metric, labels.clone())) {
            return None;
        }
        let slot = series
            .entry((metric, labels))
            .or_insert_with(|| match kind {
                Kind::Counter => Slot::Counter(Arc::default()),
                Kind::Histogram => Slot::Histogram(Arc::new(HistogramSlot {
                    state: Mutex::new(HistogramState {
                        bounds: metric.buckets(),
                        buckets: vec![0; metric.buckets().len() + 1],
                        sum: 0.0,
                        count: 0,
                        pending: Vec::new(),
                        unreported: 0,
                    }),
                })),
            });
        Some(slot.clone())
    }

    /// Every series, sorted by the contract's order then labels.
    pub(crate) fn snapshot(&self) -> Vec<(Metric, Labels, Slot)> {
        let order = |m: &Metric| Metric::ALL.iter().position(|x| x == m);
        let mut all: Vec<(Metric, Labels, Slot)> = self
            .series
            .locked()
            .iter()
            .map(|((m, l), s)| (*m, l.clone(), s.clone()))
            .collect();
        all.sort_by(|a, b| order(&a.0).cmp(&order(&b.0)).then_with(|| a.1.cmp(&b.1)));
        all
    }

    /// Whether some histogram holds as many values as one EMF flush can report.
    pub fn wants_flush(&self) -> bool {
        self.series.locked().values().any(|s| match s {
            Slot::Histogram(h) => h.state.locked().pending.len() >= PENDING_VALUES,
            Slot::Counter(_) => false,
        })
    }
}

impl Recorder for Registry {
    fn describe_counter(&self, _: KeyName, _: Option<metrics::Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<metrics::Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<metrics::Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        match self.slot(key, Kind::Counter) {
            Some(Slot::Counter(c)) => Counter::from_arc(c),
            _ => Counter::noop(),
        }
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        match self.slot(key, Kind::Histogram) {
            Some(Slot::Histogram(h)) => Histogram::from_arc(h),
            _ => Histogram::noop(),
        }
    }
}
