//! The doubles' unit tests.

use crate::audit::{Action, Audit, Entry};
use crate::derive::{BookingId, Context};
use crate::key::Key;
use crate::record::{Record, Verifier, Version};
use crate::store::memory::MemoryStore;
use crate::store::{Swap, VerifierId};
use crate::time::Timestamp;

use super::WithoutTransactions;

/// The provided `compare_and_swap_all`, on a store without transactions: nothing to do lands;
/// a lone write lands as `compare_and_swap_audited`; anything more (two writes, or a write
/// with a key checked unchanged) is refused and writes nothing, on both faces.
#[test]
fn a_store_without_transactions_lands_a_lone_write_and_refuses_more() {
    use crate::record::Hold;
    use crate::store::{AsyncStore, Store};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let scope = Context::new("cowin/dose").unwrap();
    let key = |id| Key::Verifier {
        scope,
        id: VerifierId::new(id).unwrap(),
    };
    let entry = |k, prior, version| Entry {
        key: k,
        prior,
        version: Version(version),
        audit: Audit {
            at: Timestamp(1),
            context: scope,
            booking: BookingId::new("b").unwrap(),
            verifier: None,
            request: None,
            by: None,
            action: Action::BudgetSettled { failed: false },
        },
    };
    let record = Record::Verifier(Verifier {
        window_start: Timestamp(1_000),
        window_secs: 86_400,
        limit: 5,
        failures: 0,
        held: 0,
        holds: [Hold::default(); 4],
    });
    for run_async in [false, true] {
        let store = WithoutTransactions(MemoryStore::new());
        let all = |writes: &[(Entry<'_>, Record)], unchanged: &[(Key<'_>, Option<Version>)]| {
            if run_async {
                runtime.block_on(AsyncStore::compare_and_swap_all(&store, writes, unchanged))
            } else {
                Store::compare_and_swap_all(&store, writes, unchanged)
            }
            .unwrap()
        };
        assert_eq!(all(&[], &[]), Swap::Swapped, "async: {run_async}");
        assert_eq!(
            all(&[(entry(key("a"), None, 5), record)], &[]),
            Swap::Swapped
        );
        let (_, stored) = Store::load(&store, key("a")).unwrap().unwrap();
        assert_eq!(stored, Version(5), "async: {run_async}");
        assert_eq!(
            all(&[(entry(key("a"), None, 6), record)], &[]),
            Swap::Conflict,
            "a lone write still checks its version"
        );
        let two = [
            (entry(key("b"), None, 5), record),
            (entry(key("c"), None, 5), record),
        ];
        assert_eq!(all(&two, &[]), Swap::Conflict, "async: {run_async}");
        let checked = [(key("a"), Some(Version(5)))];
        assert_eq!(
            all(&[(entry(key("d"), None, 5), record)], &checked),
            Swap::Conflict
        );
        for id in ["b", "c", "d"] {
            assert!(
                Store::load(&store, key(id)).unwrap().is_none(),
                "{id} was written"
            );
        }
    }
}
