//! Pure domain types and rules: no I/O, no clocks, no database. Everything here is
//! deterministic and unit-tested; the desk service feeds it time and stored state.

/// An enum stored and shown as fixed texts: `as_str`, `Display`, `FromStr`, serde, `ALL`.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// Stable text form used in storage and APIs.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(format!("unknown {} `{s}`", stringify!($name))),
                }
            }
        }
    };
}

pub mod archive;
pub mod calendar;
pub mod channel;
pub mod clocks;
pub mod complaint;
pub mod holidays;
pub mod inspection;
pub mod intake;
pub mod knowledge;
pub mod on_call;
pub mod priority;
pub mod report;
pub mod report_form;
pub mod routing;
pub mod sla;
pub mod ticket;

// Registers and knowledge (issue 20): the staff directory and the asset register.
pub mod asset;
pub mod people;
pub mod sheet;

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
