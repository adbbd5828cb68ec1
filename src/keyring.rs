//! Several secrets by id, one of them current.

use core::fmt;

use crate::error::Error;
use crate::secret::Secret;

/// Names a secret in a [`Keyring`]. Records remember the id of the key that issued them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(transparent))]
pub struct KeyId(pub u32);

/// The current secret and up to three others by [`KeyId`] ([`Keyring::CAPACITY`] in all):
/// the old key, the current one and the next are what a rotation holds. No allocation.
///
/// New codes are issued under the current key. Each record remembers its key's id, and a
/// code is only ever checked under that key, so rotating keys never invalidates codes
/// already sent: insert the new key, make it current, and remove the old one once the last
/// booking it issued has expired.
///
/// ```
/// use handover_code::{KeyId, Keyring, Secret};
///
/// let mut keys = Keyring::new(KeyId(1), Secret::from_bytes(&[1; 32])?);
/// keys.insert(KeyId(2), Secret::from_bytes(&[2; 32])?)?;
/// keys.set_current(KeyId(2))?;
/// assert_eq!(keys.current().0, KeyId(2));
/// keys.remove(KeyId(1))?;
/// assert!(keys.get(KeyId(1)).is_none());
/// # Ok::<(), handover_code::Error>(())
/// ```
pub struct Keyring {
    current: (KeyId, Secret),
    others: [Option<(KeyId, Secret)>; OTHERS],
}

/// The keys a keyring holds beside its current one.
const OTHERS: usize = 3;

impl Keyring {
    /// How many keys a keyring holds, the current one included.
    pub const CAPACITY: usize = OTHERS + 1;

    /// A keyring holding `secret` as its current key.
    #[must_use]
    pub fn new(id: KeyId, secret: Secret) -> Self {
        Self {
            current: (id, secret),
            others: core::array::from_fn(|_| None),
        }
    }

    /// Adds a key. It is not current until [`Keyring::set_current`] says so.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateKey`] when the id is taken, [`Error::KeyringFull`] when it holds
    /// [`Keyring::CAPACITY`] keys already.
    pub fn insert(&mut self, id: KeyId, secret: Secret) -> Result<(), Error> {
        if self.get(id).is_some() {
            return Err(Error::DuplicateKey);
        }
        let free = self.others.iter_mut().find(|slot| slot.is_none());
        let slot = free.ok_or(Error::KeyringFull)?;
        *slot = Some((id, secret));
        Ok(())
    }

    /// Makes `id` the key new codes are issued under; the old current key stays held.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownKey`] when the keyring has no such key.
    pub fn set_current(&mut self, id: KeyId) -> Result<(), Error> {
        if id == self.current.0 {
            return Ok(());
        }
        let Self { current, others } = self;
        let slot = others.iter_mut().flatten().find(|(held, _)| *held == id);
        let next = slot.ok_or(Error::UnknownKey)?;
        core::mem::swap(next, current);
        Ok(())
    }

    /// Takes a retired key out. Codes it issued can no longer be verified.
    ///
    /// # Errors
    ///
    /// [`Error::CurrentKey`] for the current key, [`Error::UnknownKey`] for an id not held.
    pub fn remove(&mut self, id: KeyId) -> Result<Secret, Error> {
        if id == self.current.0 {
            return Err(Error::CurrentKey);
        }
        let slot = self.slot_of(id).ok_or(Error::UnknownKey)?;
        slot.take()
            .map(|(_, secret)| secret)
            .ok_or(Error::UnknownKey)
    }

    /// The key with this id, if held.
    #[must_use]
    pub fn get(&self, id: KeyId) -> Option<&Secret> {
        core::iter::once(&self.current)
            .chain(self.others.iter().flatten())
            .find(|(held, _)| *held == id)
            .map(|(_, secret)| secret)
    }

    /// The current key and its id.
    #[must_use]
    pub fn current(&self) -> (KeyId, &Secret) {
        (self.current.0, &self.current.1)
    }

    /// The ids held, current first.
    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        core::iter::once(self.current.0).chain(self.others.iter().flatten().map(|(id, _)| *id))
    }

    fn slot_of(&mut self, id: KeyId) -> Option<&mut Option<(KeyId, Secret)>> {
        self.others
            .iter_mut()
            .find(|slot| matches!(slot, Some((held, _)) if *held == id))
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current.0)
            .field("ids", &IdList(self))
            .finish_non_exhaustive()
    }
}

/// Prints a keyring's ids and nothing else.
struct IdList<'a>(&'a Keyring);

impl fmt::Debug for IdList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.ids()).finish()
    }
}

/// A keyring of one key, with id 1: what a service starts with. Rotate later by building a
/// [`Keyring`] that holds this key as `KeyId(1)` beside the new one.
impl From<Secret> for Keyring {
    fn from(secret: Secret) -> Self {
        Self::new(KeyId(1), secret)
    }
}

/// For [`Service::new`](crate::Service::new), which holds its keyring in an `Arc`.
#[cfg(feature = "std")]
impl From<Secret> for std::sync::Arc<Keyring> {
    fn from(secret: Secret) -> Self {
        Self::new(Keyring::from(secret))
    }
}
