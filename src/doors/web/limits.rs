//! How often one address, and one person, may knock: GCRA rate limits (governor), a
//! burst of a minute's worth then a steady rate, refused with the wait until the next.

use std::net::IpAddr;
use std::num::NonZeroU32;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// The web chat's limits.
pub(super) struct Limits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    new_people: DefaultKeyedRateLimiter<IpAddr>,
    per_person: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
}

/// What a request counts against.
pub(super) enum Knock<'a> {
    /// A new person from the address.
    Newcomer,
    /// A known person.
    Person(&'a str),
    /// Someone not (yet) known: an invitation opened.
    Anyone,
}

impl Limits {
    /// Requests a minute `per_address` and `per_person`, and new people an hour from one
    /// address (0 counts as 1).
    pub(super) fn new(per_address: u32, new_people: u32, per_person: u32) -> Limits {
        let n = |n: u32| NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        Limits {
            per_address: RateLimiter::keyed(Quota::per_minute(n(per_address))),
            new_people: RateLimiter::keyed(Quota::per_hour(n(new_people))),
            per_person: RateLimiter::keyed(Quota::per_minute(n(per_person))),
            clock: DefaultClock::default(),
        }
    }

    /// Counts a request from `address`; the seconds to wait if it is one too many.
    pub(super) fn admit(&self, address: IpAddr, knock: Knock<'_>) -> Result<(), u64> {
        let wait = |n: governor::NotUntil<_>| n.wait_time_from(self.clock.now()).as_secs() + 1;
        self.per_address.check_key(&address).map_err(wait)?;
        match knock {
            Knock::Newcomer => self.new_people.check_key(&address).map_err(wait),
            Knock::Person(p) => self.per_person.check_key(&p.to_owned()).map_err(wait),
            Knock::Anyone => Ok(()),
        }
    }

    /// Forgets keys whose limits are full again, so the maps do not grow without bound.
    pub(super) fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.new_people.retain_recent();
        self.per_person.retain_recent();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minutes_worth_then_a_wait() {
        let limits = Limits::new(3, 100, 2);
        let here: IpAddr = [10, 0, 0, 1].into();
        let there: IpAddr = [10, 0, 0, 2].into();
        for _ in 0..3 {
            assert_eq!(limits.admit(here, Knock::Anyone), Ok(()));
        }
        let wait = limits
            .admit(here, Knock::Anyone)
            .expect_err("a fourth in the minute");
        assert!((1..=21).contains(&wait), "{wait}");
        // Another address is not held up; one person is, wherever they come from.
        assert_eq!(limits.admit(there, Knock::Person("p")), Ok(()));
        let elsewhere: IpAddr = [10, 0, 0, 3].into();
        assert_eq!(limits.admit(elsewhere, Knock::Person("p")), Ok(()));
        assert!(limits.admit(there, Knock::Person("p")).is_err());
        assert_eq!(limits.admit(elsewhere, Knock::Person("q")), Ok(()));
    }

    #[test]
    fn new_people_are_counted_by_the_hour() {
        let limits = Limits::new(100, 2, 100);
        let here: IpAddr = [10, 0, 0, 1].into();
        assert_eq!(limits.admit(here, Knock::Newcomer), Ok(()));
        assert_eq!(limits.admit(here, Knock::Newcomer), Ok(()));
        let wait = limits
            .admit(here, Knock::Newcomer)
            .expect_err("a third in the hour");
        assert!(wait > 60, "{wait}");
        // Known people from the same address go on.
        assert_eq!(limits.admit(here, Knock::Person("p")), Ok(()));
    }
}
