//! The store contract's provided methods, on a store that implements only the primitives.

use core::cell::RefCell;
use std::collections::BTreeMap;
use std::vec::Vec;

use super::{Key, Store, Swap};
use crate::record::{Record, Version};
use crate::service::Service;
use crate::{Policy, Secret, Timestamp};

/// A stored key: kind, namespace, id.
type Stored = (u8, Vec<u8>, Vec<u8>);

/// Records by key, behind a `RefCell`: the primitives and nothing else.
#[derive(Default)]
struct Primitives(RefCell<BTreeMap<Stored, (Record, Version)>>);

fn stored(key: Key<'_>) -> Stored {
    (key.kind(), key.namespace().to_vec(), key.id().to_vec())
}

impl Store for Primitives {
    type Error = core::convert::Infallible;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Self::Error> {
        Ok(self.0.borrow().get(&stored(key)).copied())
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Self::Error> {
        let mut map = self.0.borrow_mut();
        let now = map.get(&stored(key)).map(|(_, v)| *v);
        if now != expected {
            return Ok(Swap::Conflict);
        }
        map.insert(stored(key), (*record, new));
        Ok(Swap::Swapped)
    }
}

#[test]
fn a_store_that_keeps_the_default_prune_deletes_nothing() {
    let store = Primitives::default();
    let service = Service::new(
        Secret::from_bytes(&[3; 32]).unwrap(),
        Policy::default(),
        "c",
    )
    .unwrap();
    service.issue(&store, "B-1", 200, 100).unwrap();
    // Long expired by this cut-off, and still kept: the default answers 0 and deletes nothing.
    assert_eq!(Store::prune(&store, Timestamp(1_000_000)), Ok(0));
    assert_eq!(store.0.borrow().len(), 1);
    assert!(service.booking(&store, "B-1").unwrap().is_some());
}
