//! Sending again what the server refused without running it (a moved slot, a cluster
//! without a master for it, a server still loading), and never anything else.

use core::time::Duration;

use ::redis::RetryMethod;

use super::RedisError;

/// How many times a command the server refused without running it is sent again.
const TRIES: u32 = 16;

/// Whether the server refused a command without running it (a slot that moved, a cluster
/// without a master for it, a server still loading): sending it again is safe.
fn refused(e: &::redis::RedisError) -> bool {
    matches!(
        e.retry_method(),
        RetryMethod::MovedRedirect
            | RetryMethod::AskRedirect
            | RetryMethod::WaitAndRetry
            | RetryMethod::RefreshSlotsAndRetry
    )
}

/// Runs `attempt` (one command or script sent once), again while the server refuses it
/// unrun, never after an error that leaves it unknown whether it ran; between tries a
/// short pause that grows, for a slot map to settle.
pub(super) async fn until_run<T, Fut>(mut attempt: impl FnMut() -> Fut) -> Result<T, RedisError>
where
    Fut: core::future::Future<Output = Result<T, ::redis::RedisError>>,
{
    let mut tries: u32 = 1;
    loop {
        match attempt().await {
            Err(e) if refused(&e) && tries < TRIES => {
                let pause = u64::from(tries).saturating_mul(5);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                tries = tries.saturating_add(1);
            }
            answer => return Ok(answer?),
        }
    }
}
