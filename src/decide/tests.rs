//! The decisions' unit tests.

use core::num::{NonZeroU32, NonZeroU64};

use crate::code::Digits;
use crate::error::Error;
use crate::keyring::KeyId;
use crate::policy::{Policy, VerifierBudget};
use crate::record::{Booking, Hold, State, Tag, Verifier, Version};
use crate::time::Timestamp;

use super::booking::count_send;
use super::{
    Standing, Window, adoptable, busy_until, count_override, current, hold, refund_override,
    release, settle, standing,
};

fn budget(failures: u32, secs: u64) -> VerifierBudget {
    VerifierBudget {
        failures: NonZeroU32::new(failures).unwrap(),
        window_secs: NonZeroU64::new(secs).unwrap(),
    }
}

#[test]
fn overrides_are_counted_to_the_budget_and_given_back_only_in_their_window() {
    let daily = budget(2, 86_400);
    let first = count_override(None, &daily, Timestamp(90_000)).unwrap();
    assert_eq!(
        (first.window_start, first.failures, first.limit),
        (Timestamp(86_400), 1, 2)
    );
    let second = count_override(Some(&first), &daily, Timestamp(90_001)).unwrap();
    assert_eq!(second.failures, 2);
    assert_eq!(
        count_override(Some(&second), &daily, Timestamp(90_002)),
        Err(Timestamp(172_800))
    );
    // The next window starts afresh.
    let next = count_override(Some(&second), &daily, Timestamp(172_800)).unwrap();
    assert_eq!((next.window_start, next.failures), (Timestamp(172_800), 1));
    // Given back in the window it was counted in, once per count; never in another.
    let window = Window::of(&second);
    let back = refund_override(&second, window).unwrap();
    assert_eq!(back.failures, 1);
    assert_eq!(Window::of(&back), window);
    assert_eq!(refund_override(&next, window), None);
    let emptied = refund_override(&back, window).unwrap();
    assert_eq!(emptied.failures, 0);
    assert_eq!(refund_override(&emptied, window), None);
}

#[test]
fn a_verifier_window_is_the_records_until_it_ends_then_the_readers() {
    let hourly = current(None, &budget(5, 3_600), Timestamp(7_300));
    assert_eq!(
        (hourly.window_start, hourly.window_secs),
        (Timestamp(7_200), 3_600)
    );
    let charged = Verifier {
        failures: 5,
        ..hourly
    };
    // A daily reader inside the hour sees the hourly record, limit and all.
    let seen = current(Some(&charged), &budget(9, 86_400), Timestamp(10_799));
    assert_eq!(seen, charged);
    assert_eq!(
        standing(&seen, None),
        Standing::Suspended(Timestamp(10_800))
    );
    // At the hour's end the reader opens its own window.
    let next = current(Some(&charged), &budget(9, 86_400), Timestamp(10_800));
    assert_eq!(
        (next.window_start, next.limit, next.failures),
        (Timestamp(0), 9, 0)
    );
    // A clock that went back keeps the record as it is.
    assert_eq!(
        current(Some(&charged), &budget(9, 86_400), Timestamp(5)),
        charged
    );
}

#[test]
fn every_comparison_holds_a_slot_and_settling_frees_or_fails_it() {
    let v = current(None, &budget(3, 60), Timestamp(0));
    let w0 = Window::of(&v);
    let tags: [Tag; 6] = core::array::from_fn(|i| [u8::try_from(i + 1).unwrap(); 16]);
    let (v, first) = hold(&v, Some(&tags[0]), Version(7), Version(100)).unwrap();
    let want = Hold {
        tag: tags[0],
        on: Version(7),
        id: Version(100),
        shared: false,
    };
    assert_eq!(first, Some(want));
    let (v, second) = hold(&v, None, Version(7), Version(101)).unwrap();
    assert_eq!(second, None);
    let (v, _) = hold(&v, Some(&tags[1]), Version(9), Version(102)).unwrap();
    assert_eq!((v.held, v.failures), (3, 0));
    // Slots in flight fill the budget: busy, not suspended; a retry holding one is clear.
    assert_eq!(
        hold(&v, Some(&tags[2]), Version(9), Version(103)),
        Err(Standing::Busy)
    );
    assert_eq!(standing(&v, Some(&tags[2])), Standing::Busy);
    assert_eq!(standing(&v, Some(&tags[0])), Standing::Clear);
    // A busy verifier comes back a second later, never past its window's end, never
    // before now.
    let end = v.window_end();
    assert_eq!(busy_until(&v, Timestamp(end.0 - 10)), Timestamp(end.0 - 9));
    assert_eq!(busy_until(&v, Timestamp(end.0 - 1)), end);
    assert_eq!(busy_until(&v, end), end);
    assert_eq!(busy_until(&v, Timestamp(end.0 + 5)), Timestamp(end.0 + 5));
    assert_eq!(busy_until(&v, Timestamp(u64::MAX)), Timestamp(u64::MAX));
    assert_eq!(adoptable(&v, &tags[0], Version(7)), Some(want));
    assert_eq!(
        adoptable(&v, &tags[0], Version(8)),
        None,
        "another booking version"
    );
    // A wrong code settles as a failure, once; a right one frees its slot.
    let failed = settle(&v, w0, first.as_ref(), true).unwrap();
    assert_eq!((failed.held, failed.failures), (2, 1));
    assert_eq!(settle(&failed, w0, first.as_ref(), true), None);
    let freed = settle(&failed, w0, None, false).unwrap();
    assert_eq!((freed.held, freed.failures), (1, 1));
    // Not in another window, nor in a longer one that starts at the same second.
    let later = Window {
        start: Timestamp(60),
        ..w0
    };
    assert_eq!(settle(&freed, later, None, true), None);
    let longer = Window { secs: 120, ..w0 };
    assert_eq!(settle(&freed, longer, None, true), None);
    // Failures alone suspend.
    let spent = Verifier {
        failures: 3,
        held: 0,
        ..freed
    };
    assert_eq!(
        standing(&spent, Some(&tags[1])),
        Standing::Suspended(Timestamp(60))
    );
    assert_eq!(
        hold(&spent, None, Version(1), Version(2)),
        Err(Standing::Suspended(Timestamp(60)))
    );
    // Remembered holds never evict each other: past four, slots are only counted.
    let mut w = current(None, &budget(9, 60), Timestamp(0));
    let mut remembered = 0;
    for (n, tag) in tags.iter().enumerate() {
        let id = Version(u64::try_from(n).unwrap());
        let (next, hold) = hold(&w, Some(tag), Version(1), id).unwrap();
        remembered += usize::from(hold.is_some());
        w = next;
    }
    assert_eq!((w.held, remembered), (6, Verifier::HOLDS));
}

#[test]
fn sends_count_in_a_window_that_opens_at_the_first_send_after_the_last() {
    let policy = Policy::new(Digits::Four).with_send_limit(2, 60).unwrap();
    let booking = Booking {
        key_id: KeyId(1),
        generation: 0,
        digits: Digits::Four,
        failures: 0,
        lifetime_failures: 0,
        state: State::Active,
        issued_at: Timestamp(100),
        expires_at: Timestamp(1_000),
        limits: policy.limits(),
        sends: 1,
        send_window_start: Timestamp(100),
        last: None,
    };
    let second = count_send(&booking, Timestamp(159)).unwrap();
    assert_eq!(second.sends, 2);
    assert!(matches!(
        count_send(&second, Timestamp(159)),
        Err(Error::SendLimit {
            retry_at: Timestamp(160)
        })
    ));
    let third = count_send(&second, Timestamp(160)).unwrap();
    assert_eq!((third.sends, third.send_window_start), (1, Timestamp(160)));
}

#[test]
fn versions_jump_to_the_time_and_otherwise_count_up() {
    let v = Version::first_at(Timestamp(5)).unwrap();
    assert_eq!(v.after(Timestamp(5)), Some(Version((5 << 24) + 1)));
    assert_eq!(v.after(Timestamp(9)), Version::first_at(Timestamp(9)));
    // A clock behind the version (or a revoke, which has no time) counts up.
    assert_eq!(v.after(Timestamp(0)), Some(Version((5 << 24) + 1)));
}

#[test]
fn versions_start_from_the_time_and_never_cross_into_the_next_second() {
    let first = Version::first_at(Timestamp(2)).unwrap();
    assert_eq!(first, Version(2 << 24));
    assert!(Version::first_at(Timestamp(1)).unwrap() < first);
    assert_eq!(first.next(), Some(Version((2 << 24) + 1)));
    assert_eq!(Version((3 << 24) - 1).next(), None);
    assert_eq!(Version(u64::MAX).next(), None);
    assert_eq!(Version::first_at(Timestamp(u64::MAX)), None);
}

fn verifier_holding(holds: [Hold; 4], held: u32) -> Verifier {
    Verifier {
        window_start: Timestamp(1_000),
        window_secs: 86_400,
        limit: 5,
        failures: 0,
        held,
        holds,
    }
}

/// Kills `*tag != Tag::default()` → `true` in `decide::hold`: an all-zero tag marks an empty
/// place, so a slot taken under it is counted but never remembered (it would be lost among
/// the empty places).
#[test]
fn a_zero_tag_is_never_remembered() {
    let v = verifier_holding([Hold::default(); 4], 0);
    let (next, remembered) = hold(&v, Some(&Tag::default()), Version(7), Version(8)).unwrap();
    assert_eq!(remembered, None);
    assert_eq!(next.held, 1);
    assert_eq!(next.holds, [Hold::default(); 4]);
    let (_, remembered) = hold(&v, Some(&[1; 16]), Version(7), Version(8)).unwrap();
    assert!(remembered.is_some());
}

/// Kills `&&` → `||` in `decide::release`: a hold a retry has adopted (shared) is not
/// released by the verification that let it go; an unshared one is.
#[test]
fn only_an_unshared_hold_is_released() {
    let window = Window {
        start: Timestamp(1_000),
        secs: 86_400,
    };
    let mine = Hold {
        tag: [2; 16],
        on: Version(1),
        id: Version(2),
        shared: false,
    };
    let unshared = verifier_holding([mine, Hold::default(), Hold::default(), Hold::default()], 1);
    let freed = release(&unshared, window, &mine).expect("an unshared hold is released");
    assert_eq!(freed.held, 0);
    let shared = Hold {
        shared: true,
        ..mine
    };
    let adopted = verifier_holding(
        [shared, Hold::default(), Hold::default(), Hold::default()],
        1,
    );
    assert_eq!(release(&adopted, window, &mine), None);
}
