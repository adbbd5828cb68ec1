//! A blocking store's calls as an [`AsyncStore`](super::AsyncStore)'s, each future ready at
//! once: the one face the crate writes for that, for the driver's private adapter
//! (`drive::Ready`, which runs every blocking operation through the one async driver) and
//! for [`MemoryStore`](crate::MemoryStore)'s async face.

/// Implements `AsyncStore` for `$ty` (generic over `$generics`) by calling the `Store`
/// `$inner` that `$this` reaches from `self`, each answer wrapped in a ready future.
macro_rules! async_at_once {
    (impl [$($generics:tt)*] AsyncStore for $ty:ty, calling $inner:ty as |$this:ident| $store:expr) => {
        impl<$($generics)*> $crate::store::AsyncStore for $ty {
            type Error = <$inner as $crate::store::Store>::Error;
            const TRANSACTIONS: bool = <$inner as $crate::store::Store>::TRANSACTIONS;

            fn load(
                &self,
                key: $crate::key::Key<'_>,
            ) -> impl ::core::future::Future<
                Output = Result<
                    Option<($crate::record::Record, $crate::record::Version)>,
                    Self::Error,
                >,
            > + Send {
                let $this = self;
                ::core::future::ready($crate::store::Store::load($store, key))
            }

            fn compare_and_swap(
                &self,
                key: $crate::key::Key<'_>,
                expected: Option<$crate::record::Version>,
                record: &$crate::record::Record,
                new: $crate::record::Version,
            ) -> impl ::core::future::Future<Output = Result<$crate::store::Swap, Self::Error>> + Send
            {
                let $this = self;
                ::core::future::ready($crate::store::Store::compare_and_swap(
                    $store, key, expected, record, new,
                ))
            }

            fn compare_and_swap_audited(
                &self,
                entry: &$crate::audit::Entry<'_>,
                record: &$crate::record::Record,
            ) -> impl ::core::future::Future<Output = Result<$crate::store::Swap, Self::Error>> + Send
            {
                let $this = self;
                ::core::future::ready($crate::store::Store::compare_and_swap_audited(
                    $store, entry, record,
                ))
            }

            fn compare_and_swap_all(
                &self,
                writes: &[($crate::audit::Entry<'_>, $crate::record::Record)],
                unchanged: &[($crate::key::Key<'_>, Option<$crate::record::Version>)],
            ) -> impl ::core::future::Future<Output = Result<$crate::store::Swap, Self::Error>> + Send
            {
                let $this = self;
                ::core::future::ready($crate::store::Store::compare_and_swap_all(
                    $store, writes, unchanged,
                ))
            }

            fn prune(
                &self,
                before: $crate::time::Timestamp,
            ) -> impl ::core::future::Future<Output = Result<u64, Self::Error>> + Send {
                let $this = self;
                ::core::future::ready($crate::store::Store::prune($store, before))
            }

            fn make_durable(
                &self,
                key: $crate::key::Key<'_>,
                version: $crate::record::Version,
            ) -> impl ::core::future::Future<Output = Result<$crate::store::Swap, Self::Error>> + Send
            {
                let $this = self;
                ::core::future::ready($crate::store::Store::make_durable($store, key, version))
            }
        }
    };
}

pub(crate) use async_at_once;
