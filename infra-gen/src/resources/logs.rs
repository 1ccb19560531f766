//! `AWS::Logs::LogGroup`: retention is one of the allowed values.

use serde::{Serialize, Serializer};

use crate::template::Resource;

/// Log retention: only the values CloudWatch Logs accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retention {
    /// 1 day.
    Days1,
    /// 3 days.
    Days3,
    /// 5 days.
    Days5,
    /// 1 week.
    Days7,
    /// 2 weeks.
    Days14,
    /// 1 month.
    Days30,
    /// 2 months.
    Days60,
    /// 3 months.
    Days90,
    /// 6 months.
    Days180,
    /// 1 year.
    Days365,
    /// 2 years.
    Days731,
}

impl Retention {
    /// The number of days.
    pub const fn days(self) -> u32 {
        match self {
            Retention::Days1 => 1,
            Retention::Days3 => 3,
            Retention::Days5 => 5,
            Retention::Days7 => 7,
            Retention::Days14 => 14,
            Retention::Days30 => 30,
            Retention::Days60 => 60,
            Retention::Days90 => 90,
            Retention::Days180 => 180,
            Retention::Days365 => 365,
            Retention::Days731 => 731,
        }
    }
}

impl Serialize for Retention {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.days())
    }
}

/// `AWS::Logs::LogGroup`.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogGroup {
    /// How long events are kept.
    pub retention_in_days: Retention,
}

attributes!(LogGroupAttr { Arn => "Arn" });

impl Resource for LogGroup {
    const TYPE: &'static str = "AWS::Logs::LogGroup";
    type Attr = LogGroupAttr;
}
