//! Engineer groups, tiers and the dispatch rule: category → group → on-duty first line,
//! least loaded first.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::EngineerId;

/// Support tier: who a job is offered to, and how far it has been escalated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Service desk and on-site engineers.
    FirstLine,
    /// Technical experts (second line).
    Expert,
    /// Managers / IT-centre director (third line); see every ticket.
    Manager,
}

impl Tier {
    /// Stable text form used in storage and APIs.
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::FirstLine => "first_line",
            Tier::Expert => "expert",
            Tier::Manager => "manager",
        }
    }

    /// The next tier up, if any.
    pub fn above(self) -> Option<Tier> {
        match self {
            Tier::FirstLine => Some(Tier::Expert),
            Tier::Expert => Some(Tier::Manager),
            Tier::Manager => None,
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Tier {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [Tier::FirstLine, Tier::Expert, Tier::Manager]
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown tier `{s}` (expected first_line, expert or manager)"))
    }
}

/// WeCom's rule for a member's UserID (成员 UserID): 1–64 characters, each an ASCII
/// letter, digit, `_`, `-`, `.` or `@`. WeCom refuses any other as a recipient.
pub fn is_wecom_user_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.' | b'@'))
}

/// An engineer as the rules need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Engineer {
    /// Database id.
    pub id: EngineerId,
    /// Unique login handle, e.g. `zhang.wei`.
    pub handle: String,
    /// Display name.
    pub name: String,
    /// The group they belong to.
    pub group: String,
    /// Their tier.
    pub tier: Tier,
    /// Whether jobs may be offered to them now.
    pub on_duty: bool,
    /// Linked Telegram user id.
    pub telegram_id: Option<String>,
    /// Linked Discord user id.
    pub discord_id: Option<String>,
    /// Linked web chat identity.
    pub web_id: Option<String>,
    /// WeCom UserID (WeCom's directory names its members: set in the record, no `/link`).
    pub wecom_id: Option<String>,
}

/// A group of engineers and the fault categories it handles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Group {
    /// Stable id, e.g. `printer`.
    pub id: String,
    /// Display name (zh-CN).
    pub name: String,
    /// Display name (English).
    pub name_en: String,
    /// Categories routed to this group.
    pub categories: Vec<String>,
}

/// Which group handles which category.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Routing {
    groups: Vec<Group>,
}

/// A configuration mistake in the routing table.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// No groups at all.
    #[error("no engineer groups are configured")]
    Empty,
    /// Two groups share an id.
    #[error("group `{0}` is defined twice")]
    DuplicateGroup(String),
    /// A category appears under two groups.
    #[error("category `{category}` is routed to both `{first}` and `{second}`")]
    DuplicateCategory {
        /// The category.
        category: String,
        /// The first group naming it.
        first: String,
        /// The second group naming it.
        second: String,
    },
    /// An id that would not survive URLs and chat callback data.
    #[error("`{0}` is not a valid id: use 1–32 lowercase letters, digits, - or _")]
    BadId(String),
}

fn valid_id(id: &str) -> bool {
    (1..=32).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

impl Routing {
    /// Checks the table: unique group ids, each category in exactly one group.
    pub fn new(groups: Vec<Group>) -> Result<Routing, RoutingError> {
        if groups.is_empty() {
            return Err(RoutingError::Empty);
        }
        let mut owner: std::collections::HashMap<&str, &str> = Default::default();
        for (i, g) in groups.iter().enumerate() {
            if !valid_id(&g.id) {
                return Err(RoutingError::BadId(g.id.clone()));
            }
            if groups[..i].iter().any(|o| o.id == g.id) {
                return Err(RoutingError::DuplicateGroup(g.id.clone()));
            }
            for c in &g.categories {
                if !valid_id(c) {
                    return Err(RoutingError::BadId(c.clone()));
                }
                if let Some(first) = owner.insert(c, &g.id) {
                    return Err(RoutingError::DuplicateCategory {
                        category: c.clone(),
                        first: first.to_owned(),
                        second: g.id.clone(),
                    });
                }
            }
        }
        Ok(Routing { groups })
    }

    /// The groups, in configuration order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// Every category id, in configuration order.
    pub fn categories(&self) -> impl Iterator<Item = &str> {
        self.groups
            .iter()
            .flat_map(|g| g.categories.iter().map(String::as_str))
    }

    /// The group that handles a category.
    pub fn group_for(&self, category: &str) -> Option<&Group> {
        self.groups
            .iter()
            .find(|g| g.categories.iter().any(|c| c == category))
    }

    /// The group with this id.
    pub fn group(&self, id: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.id == id)
    }
}

impl Default for Routing {
    /// The six groups of DOMAIN.md, one category each.
    fn default() -> Self {
        let g = |id: &str, name: &str, name_en: &str| Group {
            id: id.into(),
            name: name.into(),
            name_en: name_en.into(),
            categories: vec![id.into()],
        };
        Routing {
            groups: vec![
                g("desktop", "桌面与系统组", "Desktop & OS"),
                g("printer", "打印机与外设组", "Printers & peripherals"),
                g("network", "网络组", "Network"),
                g("server", "服务器与存储组", "Servers & storage"),
                g("database", "数据库组", "Databases"),
                g("application", "业务应用组", "Business applications"),
            ],
        }
    }
}

/// Who should see an offer for a job at `tier` in `group`: the on-duty engineers of that
/// group and tier, least loaded first (ties by id, so the order is stable).
/// `load` gives each engineer's number of open jobs.
pub fn offer_order<'a>(
    engineers: &'a [Engineer],
    group: &str,
    tier: Tier,
    load: impl Fn(EngineerId) -> u32,
) -> Vec<&'a Engineer> {
    let mut pick: Vec<&Engineer> = engineers
        .iter()
        .filter(|e| e.on_duty && e.group == group && e.tier == tier)
        .collect();
    pick.sort_by_key(|e| (load(e.id), e.id));
    pick
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wecom_user_ids() {
        for ok in ["a", "zhang.wei", "Li_Na-2", "x@corp", &"a".repeat(64)] {
            assert!(is_wecom_user_id(ok), "{ok}");
        }
        for bad in [
            "",
            &"a".repeat(65),
            "张伟",
            "a b",
            "a/b",
            "a\nb",
            "a;b",
            "a|b",
        ] {
            assert!(!is_wecom_user_id(bad), "{bad:?}");
        }
    }

    fn eng(id: i64, group: &str, tier: Tier, on_duty: bool) -> Engineer {
        Engineer {
            id: EngineerId(id),
            handle: format!("e{id}"),
            name: format!("Engineer {id}"),
            group: group.into(),
            tier,
            on_duty,
            telegram_id: None,
            discord_id: None,
            web_id: None,
            wecom_id: None,
        }
    }

    #[test]
    fn default_routing_covers_the_six_groups() {
        let r = Routing::default();
        assert!(Routing::new(r.groups().to_vec()).is_ok());
        for c in [
            "desktop",
            "printer",
            "network",
            "server",
            "database",
            "application",
        ] {
            assert_eq!(r.group_for(c).map(|g| g.id.as_str()), Some(c));
        }
        assert!(r.group_for("coffee").is_none());
    }

    #[test]
    fn bad_routing_tables_are_refused() {
        assert_eq!(Routing::new(vec![]), Err(RoutingError::Empty));
        let mut groups = Routing::default().groups().to_vec();
        groups[1].categories.push("desktop".into());
        assert!(matches!(
            Routing::new(groups),
            Err(RoutingError::DuplicateCategory { ref category, .. }) if category == "desktop"
        ));
        let mut groups = Routing::default().groups().to_vec();
        groups[1].id = "desktop".into();
        assert_eq!(
            Routing::new(groups),
            Err(RoutingError::DuplicateGroup("desktop".into()))
        );
        let mut groups = Routing::default().groups().to_vec();
        groups[0].id = "Desk Top".into();
        assert!(matches!(Routing::new(groups), Err(RoutingError::BadId(_))));
        let mut groups = Routing::default().groups().to_vec();
        groups[0].categories.push("desktop".into());
        assert!(matches!(
            Routing::new(groups),
            Err(RoutingError::DuplicateCategory { .. })
        ));
    }

    #[test]
    fn offers_go_to_on_duty_first_line_least_loaded_first() {
        let engineers = vec![
            eng(1, "printer", Tier::FirstLine, true),
            eng(2, "printer", Tier::FirstLine, true),
            eng(3, "printer", Tier::FirstLine, false),
            eng(4, "printer", Tier::Expert, true),
            eng(5, "network", Tier::FirstLine, true),
            eng(6, "printer", Tier::FirstLine, true),
        ];
        let load = |id: EngineerId| match id.0 {
            1 => 3,
            2 => 1,
            _ => 1,
        };
        let ids: Vec<i64> = offer_order(&engineers, "printer", Tier::FirstLine, load)
            .iter()
            .map(|e| e.id.0)
            .collect();
        assert_eq!(ids, vec![2, 6, 1]);
        let experts: Vec<i64> = offer_order(&engineers, "printer", Tier::Expert, |_| 0)
            .iter()
            .map(|e| e.id.0)
            .collect();
        assert_eq!(experts, vec![4]);
        assert!(offer_order(&engineers, "database", Tier::FirstLine, |_| 0).is_empty());
    }
}
