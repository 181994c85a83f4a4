//! TEMPORARY stand-in (24×7 only) until the real calendar module lands.
use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
/// Error.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum CalendarError {
    /// x
    #[error("bad")]
    Bad,
}
/// Calendar.
#[derive(Debug, Clone, PartialEq)]
pub struct Calendar { tz: Tz }
impl Calendar {
    /// tz
    pub fn time_zone(&self) -> Tz { self.tz }
    /// add
    pub fn add(&self, start: DateTime<Utc>, budget: Duration) -> DateTime<Utc> { start + budget }
}
/// Config.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Default)]
pub struct CalendarConfig {}
impl CalendarConfig {
    /// build
    pub fn build(&self) -> Result<Calendar, CalendarError> { Ok(Calendar { tz: chrono_tz::Asia::Shanghai }) }
}
