//! The harness: the services on one store, the model's spaces, and reading the store back
//! to compare.

use std::format;
use std::vec::Vec;

use crate::code::{Code, Digits};
use crate::conformance::Failure;
use crate::derive::{BookingId, Context, derive};
use crate::ids::ActorId;
use crate::key::Key;
use std::sync::Arc;

use crate::keyring::{KeyId, Keyring};
use crate::policy::Policy;
use crate::record::Record;
use crate::secret::Secret;
use crate::service::Service;
use crate::store::Cursor;
use crate::store::{Store, VerifierId};

use super::state::{model_of, name_of, setup, vmodel_of};
use super::{
    ACTORS, BOOKINGS, Faulty, Harness, Lane, NAMESPACES, Pruner, Shared, Space, VERIFIERS,
};

impl<S: Store> Harness<S> {
    pub(super) fn new(store: S, prune: Option<Pruner<S>>) -> Result<Self, Failure> {
        Ok(Self {
            keys: Arc::new(Keyring::new(
                KeyId(1),
                setup(Secret::from_bytes(&[0x6d; 32]))?,
            )),
            store: Faulty {
                inner: store,
                armed: Shared::new(None),
                fired: Shared::new(false),
                calls: Shared::new(Vec::new()),
                landed: Shared::new(false),
            },
            prune,
            audit: None,
            cursor: Cursor::START,
            now: 1_000,
            spaces: [Space::default(), Space::default()],
        })
    }

    pub(super) fn service(&self, lane: &Lane) -> Result<Service, Failure> {
        let policy = Policy::new(lane.digits)
            .with_attempts(lane.attempts)
            .and_then(|p| p.with_lifetime_cap(lane.cap))
            .and_then(|p| p.with_verifier_budget(lane.budget.0, lane.budget.1))
            .and_then(|p| p.with_send_limit(lane.sends.0, lane.sends.1))
            .and_then(|p| p.with_max_retries(2))
            .and_then(|p| p.with_clock_skew(lane.skew))
            .and_then(|p| match lane.overrides {
                None => Ok(p.without_overrides()),
                Some((budget, locked, expired)) => {
                    let p = p.with_overrides_of(locked, expired, false);
                    match budget {
                        Some((count, secs)) => p.with_override_budget(count, secs),
                        None => Ok(p),
                    }
                }
            });
        let scope = NAMESPACES.get(lane.scope).copied().unwrap_or_default();
        setup(
            Service::new(Arc::clone(&self.keys), setup(policy)?, lane.context)
                .and_then(|service| service.with_budget_scope(scope)),
        )
    }

    pub(super) fn code(
        &self,
        lane: &Lane,
        b: u8,
        generation: u32,
        digits: Digits,
    ) -> Result<Code, Failure> {
        let booking = name_of(b'B', b, BOOKINGS);
        Ok(derive(
            self.keys.current().1,
            setup(Context::new(lane.context))?,
            setup(BookingId::new(&booking))?,
            generation,
            digits,
        ))
    }

    pub(super) fn space(&mut self, lane: &Lane) -> &mut Space {
        self.space_at(lane.ns)
    }

    pub(super) fn space_at(&mut self, ns: usize) -> &mut Space {
        let [a, b] = &mut self.spaces;
        if ns == 0 { a } else { b }
    }

    /// The stored records of both contexts, as the model writes them.
    pub(super) fn stored(&self) -> Result<[Space; 2], Failure> {
        let mut spaces = [Space::default(), Space::default()];
        for (space, name) in spaces.iter_mut().zip(NAMESPACES) {
            let context = setup(Context::new(name))?;
            for b in 0..BOOKINGS {
                let booking = name_of(b'B', b, BOOKINGS);
                let key = Key::Booking {
                    context,
                    id: setup(BookingId::new(&booking))?,
                };
                match setup(self.store.inner.load(key))? {
                    None => {}
                    Some((Record::Booking(r), version)) => {
                        space.bookings.insert(b, model_of(&r, version)?);
                    }
                    Some(other) => ensure!(false, "a verifier record under booking {b}: {other:?}"),
                }
            }
            for v in 0..VERIFIERS {
                let verifier = name_of(b'V', v, VERIFIERS);
                let key = Key::Verifier {
                    scope: context,
                    id: setup(VerifierId::new(&verifier))?,
                };
                match setup(self.store.inner.load(key))? {
                    None => {}
                    Some((Record::Verifier(r), version)) => {
                        space.verifiers.insert(v, vmodel_of(&r, version)?);
                    }
                    Some(other) => ensure!(false, "a booking record under verifier {v}: {other:?}"),
                }
            }
            for a in 0..ACTORS {
                let actor = name_of(b'A', a, ACTORS);
                let key = Key::Actor {
                    scope: context,
                    id: setup(ActorId::new(&actor))?,
                };
                match setup(self.store.inner.load(key))? {
                    None => {}
                    Some((Record::Verifier(r), version)) => {
                        space.actors.insert(a, vmodel_of(&r, version)?);
                    }
                    Some(other) => ensure!(false, "a booking record under actor {a}: {other:?}"),
                }
            }
        }
        Ok(spaces)
    }

    /// After a fault: takes the model from the store, checking that what landed is a state
    /// the model allows: counts never go down, never past limits.
    pub(super) fn resync(&mut self) -> Result<(), Failure> {
        let stored = self.stored()?;
        for (space, before) in stored.iter().zip(&self.spaces) {
            for (b, now) in &space.bookings {
                if let Some(before) = before.bookings.get(b) {
                    ensure!(
                        now.lifetime >= before.lifetime,
                        "booking {b}: lifetime count went down"
                    );
                    ensure!(
                        now.generation >= before.generation,
                        "booking {b}: generation went down"
                    );
                }
                ensure!(
                    now.lifetime <= now.cap && now.failures <= now.attempts,
                    "booking {b}: count past its limit: {now:?}"
                );
            }
            for (v, m) in &space.verifiers {
                ensure!(m.failures <= m.limit, "verifier {v} past its budget: {m:?}");
            }
            for (a, m) in &space.actors {
                ensure!(
                    m.failures <= m.limit,
                    "actor {a} past its override budget: {m:?}"
                );
            }
        }
        self.spaces = stored;
        Ok(())
    }
}
