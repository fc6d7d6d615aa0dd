//! Wiping the Durable Objects that a deleted account or organization leaves behind: its
//! conversations' messages, its limiters (request windows, budget months), its webhook queue.
//!
//! A deletion queues them (`store::wipes`) in the same D1 batch that deletes the rows, so none
//! is forgotten however many there are, and then wipes what one request may: each wipe is a
//! subrequest, and a Worker invocation has 50 (Workers Free) or 1,000 (Paid). Whatever is left
//! waits for the scheduled upkeep, which wipes `UPKEEP_CALLS` worth per run. Until then the
//! objects are unreachable: nothing in D1 names them any more.

use worker::{D1Database, Env};

use crate::error::{ApiError, ApiResult};
use crate::store::wipes::{self, Wipe, CONVERSATION, ORG, USER_LIMITER};

/// Object calls a deleting request makes at most (its D1 statements and the rest of its work
/// stay well under the 50 subrequests of a Workers Free invocation).
pub const INLINE_CALLS: usize = 30;
/// Object calls a scheduled upkeep run makes at most for queued wipes.
pub const UPKEEP_CALLS: usize = 20;

/// The object calls a wipe makes: an org has two objects (its limiter and its dispatcher).
fn calls(wipe: &Wipe) -> usize {
    if wipe.kind == ORG {
        2
    } else {
        1
    }
}

async fn wipe_one(env: &Env, wipe: &Wipe) -> ApiResult<()> {
    match wipe.kind.as_str() {
        CONVERSATION => crate::conversation::client::wipe(env, &wipe.name).await,
        ORG => {
            crate::webhooks::wipe_org(env, &wipe.name).await?;
            crate::limits::client::wipe(env, &wipe.name).await
        }
        USER_LIMITER => {
            let object = crate::limits::client::user_object(&wipe.name);
            crate::limits::client::wipe(env, &object).await
        }
        // Nothing writes another kind; an entry of one is dropped rather than kept forever.
        _ => Ok(()),
    }
}

/// The longest prefix of `wipes` that makes at most `budget` object calls.
fn within(wipes: &[Wipe], budget: usize) -> &[Wipe] {
    let mut spent = 0;
    let n = wipes
        .iter()
        .take_while(|w| {
            spent += calls(w);
            spent <= budget
        })
        .count();
    &wipes[..n]
}

/// What a pass did: how many objects it wiped, and the first error (the failed ones stay
/// queued).
pub struct Pass {
    pub wiped: usize,
    pub error: Option<ApiError>,
}

/// Wipes as much of `wipes` as `budget` object calls allow, five at a time (a Worker has six
/// connections), and takes the wiped ones off the queue.
pub async fn wipe(env: &Env, db: &D1Database, wipes: &[Wipe], budget: usize) -> Pass {
    let mut wiped = Vec::new();
    let mut error = None;
    for batch in within(wipes, budget).chunks(5) {
        let results = futures::future::join_all(batch.iter().map(|w| wipe_one(env, w))).await;
        for (w, result) in batch.iter().zip(results) {
            match result {
                Ok(()) => wiped.push(w.clone()),
                Err(e) => {
                    error.get_or_insert(e);
                }
            }
        }
    }
    if let Err(e) = wipes::done(db, &wiped).await {
        error.get_or_insert(e);
    }
    Pass {
        wiped: wiped.len(),
        error,
    }
}

/// After a deletion: wipes at once what it queued, as far as `INLINE_CALLS` allows. A failure
/// is logged, not returned: the rows are gone, and the queue keeps what is left for the upkeep.
pub async fn after_deletion(env: &Env, db: &D1Database, wipes: &[Wipe]) {
    let pass = wipe(env, db, wipes, INLINE_CALLS).await;
    if let Some(e) = pass.error {
        worker::console_error!(
            "{}",
            serde_json::json!({"error": "wiping after a deletion failed; the upkeep retries",
                               "context": e.log_context().unwrap_or(e.code())})
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_takes_the_wipes_that_fit_its_budget_counting_two_calls_for_an_org() {
        let list = vec![
            Wipe::new(CONVERSATION, "c1"),
            Wipe::new(ORG, "o1"),
            Wipe::new(USER_LIMITER, "u1"),
            Wipe::new(CONVERSATION, "c2"),
        ];
        assert_eq!(within(&list, 0).len(), 0);
        assert_eq!(within(&list, 1).len(), 1);
        assert_eq!(within(&list, 2).len(), 1, "the org needs two calls");
        assert_eq!(within(&list, 3).len(), 2);
        assert_eq!(within(&list, 5).len(), 4);
        assert_eq!(within(&list, 50).len(), 4);
    }
}
