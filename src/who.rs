//! Who asks for an override and why: [`Override`], [`Reason`].

use crate::ids::ActorId;
use crate::invalid::Invalid;

/// Why a booking was handed over without a code: a small closed set, so overrides can be
/// counted and reviewed by reason. Say more in the override's note.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Reason {
    /// The person has no phone (common at vaccination camps).
    NoPhone,
    /// The SMS never arrived.
    NotReceived,
    /// The person has a phone but cannot reach the code (lost, dead battery, no signal).
    CannotAccess,
    /// Anything else: the note says what.
    Other,
}

impl Reason {
    /// Every reason, in the order of their numbers.
    pub const ALL: [Self; 4] = [
        Self::NoPhone,
        Self::NotReceived,
        Self::CannotAccess,
        Self::Other,
    ];

    /// The reason's name, as stored and logged: `no_phone`, `not_received`,
    /// `cannot_access`, `other`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::NoPhone => "no_phone",
            Self::NotReceived => "not_received",
            Self::CannotAccess => "cannot_access",
            Self::Other => "other",
        }
    }

    /// The reason [`Reason::name`] gives `name`, read back (from a log, a form, a query
    /// string); `None` for any other text. With feature `serde` a reason also reads back
    /// from its JSON, the same name as a string.
    ///
    /// ```
    /// use handover_code::audit::Reason;
    ///
    /// assert_eq!(Reason::from_name("not_received"), Some(Reason::NotReceived));
    /// assert!(Reason::ALL.iter().all(|r| Reason::from_name(r.name()) == Some(*r)));
    /// assert_eq!(Reason::from_name("NoPhone"), None);
    /// ```
    #[must_use]
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.name() == name)
    }

    /// The reason's number, as stored in an audit entry's detail: 0 to 3.
    #[must_use]
    pub const fn number(self) -> u8 {
        match self {
            Self::NoPhone => 0,
            Self::NotReceived => 1,
            Self::CannotAccess => 2,
            Self::Other => 3,
        }
    }

    /// The reason with this number.
    #[must_use]
    pub const fn from_number(number: u64) -> Option<Self> {
        match number {
            0 => Some(Self::NoPhone),
            1 => Some(Self::NotReceived),
            2 => Some(Self::CannotAccess),
            3 => Some(Self::Other),
            _ => None,
        }
    }
}

/// An override's evidence: who overrides, why, and a free-text note (at most
/// [`Override::MAX_NOTE_LEN`] bytes). The note goes into the audit log as it is: never put
/// a code in it.
///
/// ```
/// use handover_code::ActorId;
/// use handover_code::audit::{Override, Reason};
///
/// let supervisor = ActorId::new("supervisor-3")?;
/// let why = Override::new(supervisor, Reason::NoPhone, "elderly, came with her son; Aadhaar seen")?;
/// assert_eq!(why.reason(), Reason::NoPhone);
/// assert!(Override::new(supervisor, Reason::Other, &"x".repeat(201)).is_err());
/// # Ok::<(), handover_code::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Override<'a> {
    actor: ActorId<'a>,
    reason: Reason,
    note: &'a str,
}

impl<'a> Override<'a> {
    /// The longest note, in bytes.
    pub const MAX_NOTE_LEN: usize = 200;

    /// An override by `actor` for `reason`, with a note.
    ///
    /// # Errors
    ///
    /// [`Invalid::NoteLength`] when the note is longer than [`Override::MAX_NOTE_LEN`].
    pub const fn new(actor: ActorId<'a>, reason: Reason, note: &'a str) -> Result<Self, Invalid> {
        if note.len() > Self::MAX_NOTE_LEN {
            return Err(Invalid::NoteLength);
        }
        Ok(Self {
            actor,
            reason,
            note,
        })
    }

    /// Who overrides.
    #[must_use]
    pub const fn actor(&self) -> ActorId<'a> {
        self.actor
    }

    /// Why.
    #[must_use]
    pub const fn reason(&self) -> Reason {
        self.reason
    }

    /// The note.
    #[must_use]
    pub const fn note(&self) -> &'a str {
        self.note
    }
}
