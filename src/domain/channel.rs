//! Where a report came from (plan 002's channel targets: phone answered within 30 minutes,
//! email within 2 hours). Chat doors set their own; the desk records phone calls, walk-ins
//! and emails on the reporter's behalf.

text_enum!(
    /// The channel a ticket came in by.
    Channel {
        /// The Telegram door.
        Telegram = "telegram",
        /// The Discord door.
        Discord = "discord",
        /// The web chat.
        Web = "web",
        /// The terminal chat (`baoxiu chat`).
        Terminal = "terminal",
        /// The WeCom door.
        Wecom = "wecom",
        /// The REST API, by the reporter or a program.
        Api = "api",
        /// A phone call the desk took and recorded.
        Phone = "phone",
        /// Someone who came to the desk in person.
        WalkIn = "walk_in",
        /// An email the desk recorded.
        Email = "email",
        /// A fault an engineer found on a preventive inspection.
        Inspection = "inspection",
        /// Filed before the channel was recorded.
        Unrecorded = "unrecorded",
    }
);

impl Channel {
    /// Channels only the desk (a manager) may record: the reporter was not in a chat or
    /// the API themselves, and these carry the channel's answer target.
    pub fn desk_entered(self) -> bool {
        matches!(self, Channel::Phone | Channel::WalkIn | Channel::Email)
    }

    /// The channel of a chat door, by the door's name; `None` for a name no door has.
    pub fn of_door(door: &str) -> Option<Channel> {
        match door {
            // The terminal chat has always kept its conversations under this name.
            "console" => Some(Channel::Terminal),
            _ => door.parse().ok().filter(|c: &Channel| {
                !c.desk_entered() && !matches!(c, Channel::Inspection | Channel::Unrecorded)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_phone_walk_in_and_email_are_desk_entered() {
        let desk: Vec<_> = Channel::ALL
            .iter()
            .filter(|c| c.desk_entered())
            .copied()
            .collect();
        assert_eq!(desk, [Channel::Phone, Channel::WalkIn, Channel::Email]);
    }

    #[test]
    fn a_door_names_its_own_channel_and_never_a_desk_one() {
        assert_eq!(Channel::of_door("telegram"), Some(Channel::Telegram));
        assert_eq!(Channel::of_door("web"), Some(Channel::Web));
        assert_eq!(Channel::of_door("console"), Some(Channel::Terminal));
        assert_eq!(Channel::of_door("phone"), None);
        assert_eq!(Channel::of_door("unrecorded"), None);
        assert_eq!(Channel::of_door("inspection"), None);
        assert_eq!(Channel::of_door("carrier pigeon"), None);
    }

    #[test]
    fn text_forms_round_trip() {
        for c in Channel::ALL {
            assert_eq!(c.as_str().parse::<Channel>(), Ok(*c));
        }
    }
}
