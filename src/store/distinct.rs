//! Whether a batch of writes names each key once: the check every crate store makes.

use super::Key;
use crate::audit::Entry;
use crate::record::{Record, Version};

/// Whether a batch names every key once, among its writes and its keys checked unchanged;
/// one that does not is a conflict ([`Store::compare_and_swap_all`](super::Store::compare_and_swap_all)):
/// the check a store author's transaction makes before it writes anything (feature `std`).
///
/// ```
/// use handover_code::store::distinct_keys;
/// use handover_code::{BookingId, Context, Key};
///
/// let key = Key::Booking { context: Context::new("centre-7")?, id: BookingId::new("b-1")? };
/// assert!(distinct_keys(&[], &[(key, None)]));
/// assert!(!distinct_keys(&[], &[(key, None), (key, None)]));
/// # Ok::<(), handover_code::Error>(())
/// ```
#[must_use]
pub fn distinct_keys(
    writes: &[(Entry<'_>, Record)],
    unchanged: &[(Key<'_>, Option<Version>)],
) -> bool {
    let keys = || {
        writes
            .iter()
            .map(|(entry, _)| entry.key)
            .chain(unchanged.iter().map(|(key, _)| *key))
    };
    keys()
        .enumerate()
        .all(|(i, a)| keys().skip(i.saturating_add(1)).all(|b| b != a))
}
