//! DynamoDB's batch calls as every table adapter makes them: chunks at the service's limits,
//! unprocessed items or keys retried with backoff, and a bound on concurrent calls.

use std::future::Future;
use std::time::Duration;

use aws_sdk_dynamodb::types::{KeysAndAttributes, WriteRequest};
use tokio::task::{JoinError, JoinSet};

use crate::error::AwsFailure;
use crate::items::Item;

/// BatchWriteItem's limit.
pub(crate) const BATCH_WRITE_MAX: usize = 25;
/// BatchGetItem's limit.
pub(crate) const BATCH_GET_MAX: usize = 100;
/// Attempts for unprocessed items/keys and transaction conflicts before giving up (retryable).
pub(crate) const MAX_ATTEMPTS: u32 = 8;

/// One BatchWriteItem chunk, retrying unprocessed items with backoff.
pub(crate) async fn batch_write<E: From<AwsFailure>>(
    client: aws_sdk_dynamodb::Client,
    table: String,
    requests: Vec<WriteRequest>,
) -> Result<(), E> {
    let mut pending = requests;
    let mut attempt = 0;
    loop {
        let out = client
            .batch_write_item()
            .request_items(&table, pending)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk("DynamoDB.BatchWriteItem", &e))?;
        match out
            .unprocessed_items
            .and_then(|mut u| u.remove(&table))
            .filter(|rest| !rest.is_empty())
        {
            None => return Ok(()),
            Some(rest) => {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(AwsFailure::transient(
                        "DynamoDB.BatchWriteItem",
                        format!(
                            "{} items still unprocessed after {MAX_ATTEMPTS} attempts",
                            rest.len()
                        ),
                    )
                    .into());
                }
                tokio::time::sleep(backoff(attempt)).await;
                pending = rest;
            }
        }
    }
}

/// One BatchGetItem chunk (`keys`, at most [`BATCH_GET_MAX`]), retrying unprocessed keys with
/// backoff; `on_item` sees every item returned.
pub(crate) async fn batch_get<E: From<AwsFailure>>(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    keys: KeysAndAttributes,
    mut on_item: impl FnMut(&Item) -> Result<(), E>,
) -> Result<(), E> {
    let mut pending = keys;
    let mut attempt = 0;
    loop {
        let result = client
            .batch_get_item()
            .request_items(table, pending)
            .send()
            .await
            .map_err(|e| AwsFailure::from_sdk("DynamoDB.BatchGetItem", &e))?;
        for item in result
            .responses
            .and_then(|mut r| r.remove(table))
            .unwrap_or_default()
        {
            on_item(&item)?;
        }
        match result
            .unprocessed_keys
            .and_then(|mut u| u.remove(table))
            .filter(|k| !k.keys().is_empty())
        {
            None => return Ok(()),
            Some(rest) => {
                attempt += 1;
                if attempt >= MAX_ATTEMPTS {
                    return Err(AwsFailure::transient(
                        "DynamoDB.BatchGetItem",
                        format!(
                            "{} keys still unprocessed after {MAX_ATTEMPTS} attempts",
                            rest.keys().len()
                        ),
                    )
                    .into());
                }
                tokio::time::sleep(backoff(attempt)).await;
                pending = rest;
            }
        }
    }
}

/// Exponential backoff with a little jitter: ~50 ms, 100 ms, … capped at 2 s.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let base = 25u64.saturating_mul(1 << attempt.min(7)).min(2_000);
    let jitter = u64::from(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0),
    ) % (base / 2 + 1);
    Duration::from_millis(base / 2 + jitter)
}

/// Runs the futures with at most `limit` at a time on the runtime; the first error aborts the
/// rest. `task_failed` names a task that panicked or was cancelled.
pub(crate) async fn run_bounded<F, E>(
    limit: usize,
    futures: impl IntoIterator<Item = F>,
    task_failed: impl Fn(JoinError) -> E,
) -> Result<(), E>
where
    F: Future<Output = Result<(), E>> + Send + 'static,
    E: Send + 'static,
{
    let mut set = JoinSet::new();
    for f in futures {
        if set.len() >= limit
            && let Some(done) = set.join_next().await
        {
            done.map_err(&task_failed)??;
        }
        set.spawn(f);
    }
    while let Some(done) = set.join_next().await {
        done.map_err(&task_failed)??;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert!(backoff(1) <= Duration::from_millis(50));
        assert!(backoff(10) <= Duration::from_millis(2_000));
        assert!(backoff(10) >= Duration::from_millis(1_000));
    }
}
