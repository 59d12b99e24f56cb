//! `S3ObjectStore`: the mirrored list, the rules docs, candidate lists and run reports
//! (`docs/aws-design.md`, Objects).

use aws_sdk_s3::primitives::ByteStream;
use serde::Serialize;

use crate::AwsClients;
use crate::error::{AwsFailure, ERROR_INTERNAL};

/// An S3 problem, naming the bucket and key.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("s3://{bucket}/{key} does not exist")]
    NotFound { bucket: String, key: String },
    #[error("s3://{bucket}/{key} is not UTF-8 text")]
    NotText { bucket: String, key: String },
    #[error("s3://{bucket}/{key} could not be read to the end: {detail}")]
    Read {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("s3://{bucket}/{key} could not be written as JSON: {detail}")]
    Json {
        bucket: String,
        key: String,
        detail: String,
    },
    #[error("s3://{bucket}/{key}: {failure}")]
    Aws {
        bucket: String,
        key: String,
        failure: AwsFailure,
    },
}

impl ObjectError {
    /// Throttling, 5xx, timeouts, dispatch failures and interrupted reads.
    pub fn is_retryable(&self) -> bool {
        match self {
            ObjectError::Read { .. } => true,
            ObjectError::Aws { failure, .. } => failure.is_retryable(),
            _ => false,
        }
    }

    /// The stable Lambda `errorType`. A missing object is `churn.Internal` here; the caller knows
    /// whether it means a bad list or bad rules.
    pub fn error_type(&self) -> &'static str {
        match self {
            ObjectError::Aws { failure, .. } => failure.error_type(),
            ObjectError::Read { .. } => crate::ERROR_RETRYABLE,
            _ => ERROR_INTERNAL,
        }
    }
}

/// A text object with the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectText {
    pub text: String,
    /// The object's version id (versioned buckets only).
    pub version_id: Option<String>,
    pub e_tag: Option<String>,
}

/// What a put returned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub version_id: Option<String>,
    pub e_tag: Option<String>,
}

/// Reads and writes text and JSON objects.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
}

impl S3ObjectStore {
    pub fn new(clients: &AwsClients) -> S3ObjectStore {
        S3ObjectStore {
            client: clients.s3.clone(),
        }
    }

    /// The whole object as UTF-8 text, with its version id and ETag. A missing key is
    /// [`ObjectError::NotFound`].
    pub async fn get_text(&self, bucket: &str, key: &str) -> Result<ObjectText, ObjectError> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let not_found = e.as_service_error().is_some_and(|s| s.is_no_such_key())
                    || e.raw_response().is_some_and(|r| r.status().as_u16() == 404)
                        && !e.as_service_error().is_some_and(|s| {
                            aws_sdk_s3::error::ProvideErrorMetadata::code(s) == Some("NoSuchBucket")
                        });
                if not_found {
                    ObjectError::NotFound {
                        bucket: bucket.into(),
                        key: key.into(),
                    }
                } else {
                    ObjectError::Aws {
                        bucket: bucket.into(),
                        key: key.into(),
                        failure: AwsFailure::from_sdk("S3.GetObject", &e),
                    }
                }
            })?;
        let version_id = out.version_id;
        let e_tag = out.e_tag;
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| ObjectError::Read {
                bucket: bucket.into(),
                key: key.into(),
                detail: e.to_string(),
            })?
            .into_bytes();
        let text = String::from_utf8(bytes.to_vec()).map_err(|_| ObjectError::NotText {
            bucket: bucket.into(),
            key: key.into(),
        })?;
        Ok(ObjectText {
            text,
            version_id,
            e_tag,
        })
    }

    /// Writes `text` with `content_type` (e.g. `text/plain; charset=utf-8`).
    pub async fn put_text(
        &self,
        bucket: &str,
        key: &str,
        text: impl Into<String>,
        content_type: &str,
    ) -> Result<PutResult, ObjectError> {
        let body: String = text.into();
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body.into_bytes()))
            .send()
            .await
            .map_err(|e| ObjectError::Aws {
                bucket: bucket.into(),
                key: key.into(),
                failure: AwsFailure::from_sdk("S3.PutObject", &e),
            })?;
        Ok(PutResult {
            version_id: out.version_id,
            e_tag: out.e_tag,
        })
    }

    /// Writes `bytes` with `content_type` and user metadata (`x-amz-meta-*`), e.g. drive-sync's
    /// `source-version`.
    pub async fn put_bytes_with_metadata(
        &self,
        bucket: &str,
        key: &str,
        bytes: Vec<u8>,
        content_type: &str,
        metadata: &[(&str, &str)],
    ) -> Result<PutResult, ObjectError> {
        let mut req = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes));
        for (k, v) in metadata {
            req = req.metadata(*k, *v);
        }
        let out = req.send().await.map_err(|e| ObjectError::Aws {
            bucket: bucket.into(),
            key: key.into(),
            failure: AwsFailure::from_sdk("S3.PutObject", &e),
        })?;
        Ok(PutResult {
            version_id: out.version_id,
            e_tag: out.e_tag,
        })
    }

    /// An object's user metadata (`x-amz-meta-*`); a missing key is [`ObjectError::NotFound`].
    pub async fn metadata(
        &self,
        bucket: &str,
        key: &str,
    ) -> Result<std::collections::HashMap<String, String>, ObjectError> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) {
                    ObjectError::NotFound {
                        bucket: bucket.into(),
                        key: key.into(),
                    }
                } else {
                    ObjectError::Aws {
                        bucket: bucket.into(),
                        key: key.into(),
                        failure: AwsFailure::from_sdk("S3.HeadObject", &e),
                    }
                }
            })?;
        Ok(out.metadata.unwrap_or_default())
    }

    /// Writes `value` as JSON (`application/json`).
    pub async fn put_json<T: Serialize + ?Sized>(
        &self,
        bucket: &str,
        key: &str,
        value: &T,
    ) -> Result<PutResult, ObjectError> {
        let text = serde_json::to_string(value).map_err(|e| ObjectError::Json {
            bucket: bucket.into(),
            key: key.into(),
            detail: e.to_string(),
        })?;
        self.put_text(bucket, key, text, "application/json").await
    }
}
