//! Store faces that hand every call to another store through one expression: the
//! conformance kit's wrappers (a store without transactions, a store that pauses before each
//! call, the blocking face of an async store) and `MemoryStore`'s trait faces (its inherent
//! methods). One macro writes each method's signature once, for every such face.

/// Implements `$tr` (`Store`, `AsyncStore`, `AuditLog` or `AsyncAuditLog`) for `$ty` with
/// the listed methods, each `[$kw] fn` (`[]` or `[async]`) answering `$body`, in which
/// `$this` is `self` and `$call()` makes the same call, with the same arguments, as
/// `$inner::method($store, …)` (`$inner` a trait or type in scope). The items written out in
/// the braces (the associated type and constant, a method that does something else) go in
/// the impl as they are.
macro_rules! forward {
    (
        impl [$($g:tt)*] $tr:ident for $ty:ty {
            $($item:item)*
        }
        $kws:tt |$this:ident, $call:ident| $body:expr, calling $inner:ident on $store:expr;
        $($method:ident),* $(,)?
    ) => {
        impl<$($g)*> $tr for $ty {
            $($item)*
            $(
                $crate::store::forward!(@ $method $kws |$this, $call| $body, $inner, $store);
            )*
        }
    };
    (@ load [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn load(
            &self,
            key: $crate::key::Key<'_>,
        ) -> Result<Option<($crate::record::Record, $crate::record::Version)>, Self::Error> {
            let $this = self;
            let $call = || $inner::load($store, key);
            $body
        }
    };
    (@ compare_and_swap [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn compare_and_swap(
            &self,
            key: $crate::key::Key<'_>,
            expected: Option<$crate::record::Version>,
            record: &$crate::record::Record,
            new: $crate::record::Version,
        ) -> Result<$crate::store::Swap, Self::Error> {
            let $this = self;
            let $call = || $inner::compare_and_swap($store, key, expected, record, new);
            $body
        }
    };
    (@ compare_and_swap_audited [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn compare_and_swap_audited(
            &self,
            entry: &$crate::audit::Entry<'_>,
            record: &$crate::record::Record,
        ) -> Result<$crate::store::Swap, Self::Error> {
            let $this = self;
            let $call = || $inner::compare_and_swap_audited($store, entry, record);
            $body
        }
    };
    (@ compare_and_swap_all [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn compare_and_swap_all(
            &self,
            writes: &[($crate::audit::Entry<'_>, $crate::record::Record)],
            unchanged: &[($crate::key::Key<'_>, Option<$crate::record::Version>)],
        ) -> Result<$crate::store::Swap, Self::Error> {
            let $this = self;
            let $call = || $inner::compare_and_swap_all($store, writes, unchanged);
            $body
        }
    };
    (@ prune [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn prune(&self, before: $crate::time::Timestamp) -> Result<u64, Self::Error> {
            let $this = self;
            let $call = || $inner::prune($store, before);
            $body
        }
    };
    (@ make_durable [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn make_durable(
            &self,
            key: $crate::key::Key<'_>,
            version: $crate::record::Version,
        ) -> Result<$crate::store::Swap, Self::Error> {
            let $this = self;
            let $call = || $inner::make_durable($store, key, version);
            $body
        }
    };
    (@ history [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn history(
            &self,
            key: $crate::key::Key<'_>,
        ) -> Result<std::vec::Vec<$crate::store::AuditEntry>, Self::Error> {
            let $this = self;
            let $call = || $inner::history($store, key);
            $body
        }
    };
    (@ since [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn since(
            &self,
            cursor: $crate::store::Cursor,
            limit: usize,
        ) -> Result<std::vec::Vec<$crate::store::AuditEntry>, Self::Error> {
            let $this = self;
            let $call = || $inner::since($store, cursor, limit);
            $body
        }
    };
    (@ prune_audit [$($kw:tt)*] |$this:ident, $call:ident| $body:expr, $inner:ident, $store:expr) => {
        $($kw)* fn prune_audit(&self, before: $crate::time::Timestamp) -> Result<u64, Self::Error> {
            let $this = self;
            let $call = || $inner::prune_audit($store, before);
            $body
        }
    };
}

pub(crate) use forward;
