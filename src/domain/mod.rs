//! Pure domain types and rules: no I/O, no clocks, no database. Everything here is
//! deterministic and unit-tested; the desk service feeds it time and stored state.

pub mod calendar;
pub mod clocks;
pub mod intake;
pub mod priority;
pub mod report;
pub mod routing;
pub mod sla;
pub mod ticket;

use serde::{Deserialize, Serialize};

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}", self.0)
            }
        }
    };
}

id_type!(
    /// Database id of a ticket (the human-facing handle is [`ticket::TicketNumber`]).
    TicketId
);
id_type!(
    /// Database id of a person who reports faults.
    ReporterId
);
id_type!(
    /// Database id of an engineer.
    EngineerId
);
