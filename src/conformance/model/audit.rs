//! The audit log read back after each operation and checked against what the model wrote.

use std::collections::HashMap;
use std::format;
use std::vec::Vec;

use crate::audit::Action;
use crate::conformance::Failure;
use crate::outcome::Outcome;
use crate::store::AuditEntry;
use crate::store::Store;
use crate::who::Reason;

use super::state::name_of;
use super::{ACTORS, Answer, BOOKINGS, Harness, NAMESPACES, Op, REQUESTS, Space, VERIFIERS, lane};

impl<S: Store> Harness<S> {
    /// The audit entries one operation appended, against the model: every record's chain
    /// joins its version before to its version after; without a fault, the actions are the
    /// model's.
    pub(super) fn check_audit(
        &self,
        op: Op,
        real: &Answer,
        faulted: bool,
        before: &[Space; 2],
        entries: &[AuditEntry],
    ) -> Result<(), Failure> {
        if matches!(op, Op::Prune { .. } | Op::Time { .. } | Op::Arm(_)) {
            ensure!(
                entries.is_empty(),
                "{op:?} wrote audit entries: {entries:?}"
            );
            return Ok(());
        }
        let mut chains: HashMap<(u8, usize, u8), Vec<&AuditEntry>> = HashMap::new();
        for e in entries {
            let ns = NAMESPACES
                .iter()
                .position(|n| n.as_bytes() == e.namespace.as_slice());
            let prefix = match e.kind {
                1 => b'B',
                2 => b'V',
                _ => b'A',
            };
            let n = match e.id.as_slice() {
                [p, n] if *p == prefix => Some(*n),
                _ => None,
            };
            let (Some(ns), Some(n)) = (ns, n) else {
                ensure!(
                    false,
                    "{op:?}: an audit entry for a record the model never had: {e:?}"
                );
                continue;
            };
            ensure!(
                e.at.0 == self.now,
                "{op:?}: an audit entry at {} instead of {}: {e:?}",
                e.at.0,
                self.now
            );
            chains.entry((e.kind, ns, n)).or_default().push(e);
        }
        let version = |space: &Space, kind: u8, n: u8| match kind {
            1 => space.bookings.get(&n).map(|m| m.version),
            2 => space.verifiers.get(&n).map(|m| m.version),
            _ => space.actors.get(&n).map(|m| m.version),
        };
        for (ns, (was, is)) in before.iter().zip(&self.spaces).enumerate() {
            for (kind, count) in [(1, BOOKINGS), (2, VERIFIERS), (3, ACTORS)] {
                for n in 0..count {
                    let chain = chains
                        .get(&(kind, ns, n))
                        .map(Vec::as_slice)
                        .unwrap_or_default();
                    let mut at = version(was, kind, n);
                    for e in chain {
                        ensure!(
                            e.prior.map(|v| v.0) == at,
                            "{op:?}: record ({kind}, {ns}, {n}) chain broken at {e:?} (expected prior {at:?})"
                        );
                        at = Some(e.version.0);
                    }
                    ensure!(
                        at == version(is, kind, n),
                        "{op:?}: record ({kind}, {ns}, {n}) is at {:?} but its audit chain ends at {at:?}: {chain:?}",
                        version(is, kind, n)
                    );
                }
            }
        }
        if faulted {
            return Ok(());
        }
        self.check_actions(op, real, before, &chains)
    }

    /// Without a fault: the actions of the entries are what the model did.
    pub(super) fn check_actions(
        &self,
        op: Op,
        real: &Answer,
        before: &[Space; 2],
        chains: &HashMap<(u8, usize, u8), Vec<&AuditEntry>>,
    ) -> Result<(), Failure> {
        let (service, booking) = match op {
            Op::Issue {
                service, booking, ..
            }
            | Op::Resend { service, booking }
            | Op::Reissue {
                service, booking, ..
            }
            | Op::Revoke { service, booking }
            | Op::Verify {
                service, booking, ..
            }
            | Op::Override {
                service, booking, ..
            } => (service, booking.checked_rem(BOOKINGS).unwrap_or_default()),
            _ => return Ok(()),
        };
        let lane = lane(service);
        let after = self
            .spaces
            .get(lane.ns)
            .and_then(|s| s.bookings.get(&booking));
        let generation = after.map_or(0, |m| m.generation);
        let changed = before
            .get(lane.ns)
            .and_then(|s| s.bookings.get(&booking))
            .map(|m| m.version)
            != after.map(|m| m.version);
        let want: Option<Action> = match (op, real) {
            (_, Err(_)) => None,
            (Op::Issue { .. }, Ok(_)) => Some(Action::Issued { generation }),
            (Op::Resend { .. }, Ok(_)) => Some(Action::Resent { generation }),
            (Op::Reissue { .. }, Ok(_)) => Some(Action::Reissued { generation }),
            (Op::Revoke { .. }, Ok(_)) => changed.then_some(Action::Revoked),
            (Op::Override { reason, .. }, Ok(_)) => Reason::ALL
                .get(usize::from(reason.checked_rem(4).unwrap_or_default()))
                .map(|reason| Action::Overridden { reason: *reason }),
            (_, Ok(Some(Outcome::Accepted))) => Some(Action::Accepted),
            (_, Ok(Some(Outcome::Rejected { attempts_left: 0 }))) => Some(Action::Locked),
            (_, Ok(Some(Outcome::Rejected { attempts_left }))) => Some(Action::Rejected {
                attempts_left: *attempts_left,
            }),
            _ => None,
        };
        let got: Vec<Action> = chains
            .get(&(1, lane.ns, booking))
            .map(|c| c.iter().map(|e| e.action).collect())
            .unwrap_or_default();
        ensure!(
            got == want.into_iter().collect::<Vec<_>>(),
            "{op:?}: the booking's audit entries say {got:?}, the model {want:?}"
        );
        for ((kind, ns, n), chain) in chains {
            for e in chain {
                let (verifier, request, actor) = match op {
                    Op::Verify {
                        verifier, request, ..
                    } => (
                        verifier.map(|v| name_of(b'V', v, VERIFIERS).to_vec()),
                        request.map(|r| name_of(b'R', r, REQUESTS).to_vec()),
                        None,
                    ),
                    Op::Override { actor, .. } => {
                        (None, None, Some(name_of(b'A', actor, ACTORS).to_vec()))
                    }
                    _ => (None, None, None),
                };
                ensure!(
                    (&e.verifier, &e.request, &e.actor) == (&verifier, &request, &actor)
                        && e.booking == name_of(b'B', booking, BOOKINGS)
                        && e.context == lane.context.as_bytes(),
                    "{op:?}: an audit entry names someone else: {e:?}"
                );
            }
            match kind {
                2 => {
                    let Some((last, held)) = chain.split_last() else {
                        continue;
                    };
                    ensure!(
                        held.iter().all(|e| e.action == Action::BudgetHeld),
                        "{op:?}: verifier {n}'s entries before the last are not slots held: {chain:?}"
                    );
                    let now = self.spaces.get(*ns).and_then(|s| s.verifiers.get(n));
                    let was = before.get(*ns).and_then(|s| s.verifiers.get(n));
                    let suspends = now.is_some_and(|m| {
                        m.failures >= m.limit
                            && !was.is_some_and(|w| w.start == m.start && w.failures >= w.limit)
                    });
                    let ok = match last.action {
                        Action::Suspended { until } => {
                            suspends
                                && now.is_some_and(|m| until.0 == m.start.saturating_add(m.secs))
                        }
                        Action::BudgetSettled { .. } => !suspends,
                        _ => false,
                    };
                    ensure!(
                        ok,
                        "{op:?}: verifier {n}'s last entry {last:?} is not its settlement (suspending: {suspends})"
                    );
                }
                3 => ensure!(
                    chain.iter().map(|e| e.action).collect::<Vec<_>>() == [Action::OverrideCounted],
                    "{op:?}: actor {n}'s entries are not one override counted: {chain:?}"
                ),
                _ => {}
            }
        }
        Ok(())
    }
}
