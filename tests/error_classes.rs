//! Issue 32: a custom store's failures reach the host in the class the store gave them, on
//! every path a store author has (its own error type, `StoreError`'s constructors, the
//! crate's `Error`), and an unreadable record names its key, for both record kinds.

use handover_code::record::{Record, Version};
use handover_code::store::{Key, Store, Swap};
use handover_code::{
    Error, ErrorClass, KeyId, Keyring, MemoryStore, Policy, Secret, Service, StoreError, VerifierId,
};
use std::sync::Mutex;

const NOW: u64 = 1_000_000;

/// How the store fails a load of the record kind it is told to, if it is told to.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// An I/O error of this kind, as the store's own error.
    Io(std::io::ErrorKind),
    /// `StoreError::transient` of an error the crate does not know.
    SaidTransient,
    /// `StoreError::permanent` of it.
    SaidPermanent,
    /// The error `Record::decode_stored` gives for bytes that are not a record.
    Undecodable,
}

#[derive(Debug, thiserror::Error)]
#[error("the backend said no")]
struct Backend;

/// The memory store, failing loads of one kind of record as `fault` says.
struct Failing {
    inner: MemoryStore,
    fault: Mutex<Option<(u8, Fault)>>,
}

impl Store for Failing {
    type Error = Error;

    fn load(&self, key: Key<'_>) -> Result<Option<(Record, Version)>, Error> {
        let fault = *self.fault.lock().unwrap();
        match fault {
            Some((kind, fault)) if kind == key.kind() => Err(match fault {
                Fault::Io(kind) => StoreError::new(std::io::Error::from(kind)).into(),
                Fault::SaidTransient => StoreError::transient(Backend).into(),
                Fault::SaidPermanent => StoreError::permanent(Backend).into(),
                Fault::Undecodable => {
                    StoreError::new(Record::decode_stored(&[0xde, 0xad]).unwrap_err()).into()
                }
            }),
            _ => self.inner.load(key),
        }
    }

    fn compare_and_swap(
        &self,
        key: Key<'_>,
        expected: Option<Version>,
        record: &Record,
        new: Version,
    ) -> Result<Swap, Error> {
        self.inner.compare_and_swap(key, expected, record, new)
    }
}

fn service() -> Service {
    let keys = Keyring::new(KeyId(1), Secret::from_bytes(&[3; 32]).unwrap());
    let policy = Policy::default().with_verifier_budget(5, 3_600).unwrap();
    Service::new(keys, policy, "post/parcel").unwrap()
}

#[test]
fn each_fault_answers_the_variant_of_its_class() {
    let service = service();
    let store = Failing {
        inner: MemoryStore::new(),
        fault: Mutex::new(None),
    };
    let code = service.issue(&store, "EE1", NOW + 600, NOW).unwrap();
    let gate = VerifierId::new("gate-1").unwrap();
    use std::io::ErrorKind as K;
    let cases = [
        (Fault::Io(K::ConnectionReset), ErrorClass::Transient),
        (Fault::Io(K::TimedOut), ErrorClass::Transient),
        (Fault::Io(K::PermissionDenied), ErrorClass::Permanent),
        (Fault::SaidTransient, ErrorClass::Transient),
        (Fault::SaidPermanent, ErrorClass::Permanent),
        (Fault::Undecodable, ErrorClass::Permanent),
    ];
    for kind in [1u8, 2] {
        for (fault, class) in cases {
            *store.fault.lock().unwrap() = Some((kind, fault));
            let answer = service.verify(&store, "EE1", "000000", gate, NOW);
            let Err(e) = &answer else {
                panic!("kind {kind}, {fault:?}: answered {answer:?}")
            };
            assert_eq!(e.class(), class, "kind {kind}, {fault:?}: {e:?}");
            match fault {
                Fault::Undecodable => {
                    assert!(matches!(e, Error::Corrupt(_)), "{e:?}");
                    let chain = chain(e);
                    let (what, id) = if kind == 1 {
                        ("booking", "EE1")
                    } else {
                        ("verifier", "gate-1")
                    };
                    assert!(
                        chain.contains(&format!("the {what} record"))
                            && chain.contains(&format!("\"{id}\""))
                            && chain.contains("record format unknown"),
                        "{chain}"
                    );
                    assert!(!chain.contains("dead") && !format!("{e:?}").contains("dead"));
                }
                _ if class == ErrorClass::Permanent => {
                    assert!(matches!(e, Error::Refused(_)), "{e:?}");
                }
                _ => assert!(matches!(e, Error::Store(_)), "{e:?}"),
            }
        }
    }
    // Healthy again: the code is still good, nothing was counted by the faults.
    *store.fault.lock().unwrap() = None;
    assert_eq!(
        service
            .verify(&store, "EE1", code.expose(), gate, NOW)
            .unwrap(),
        handover_code::Outcome::Accepted
    );
}

fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(" / ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}
