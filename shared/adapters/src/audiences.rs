//! Audience files on S3, read a part at a time with ranged `GetObject`, and campaign reports'
//! exports written beside them with `PutObject` under `exports/` (the only S3 calls polite
//! makes: its role may read that bucket and write that prefix, nothing more).

use aws_sdk_s3::Client;
use aws_sdk_s3::operation::get_object::GetObjectError;
use polite_domain::audience_file::AudienceFile;
use polite_domain::ports::{AudienceFiles, FilePart, ReportFiles, StoreError};

use crate::dynamo::unavailable;

/// Audience files in S3.
#[derive(Debug, Clone)]
pub struct S3Audiences {
    client: Client,
    /// The one bucket polite's role may read (`AUDIENCE_BUCKET`); none: no audience files.
    bucket: Option<String>,
}

impl S3Audiences {
    pub fn new(client: Client, bucket: Option<String>) -> Self {
        Self { client, bucket }
    }

    /// An S3 client on `sdk`; path-style addressing when an endpoint is set (moto, the dev
    /// stack), as virtual-hosted names do not resolve there.
    pub fn client(sdk: &aws_config::SdkConfig) -> Client {
        let mut config = aws_sdk_s3::config::Builder::from(sdk);
        if sdk.endpoint_url().is_some() {
            config = config.force_path_style(true);
        }
        Client::from_conf(config.build())
    }
}

impl AudienceFiles for S3Audiences {
    fn reads_from(&self, bucket: &str) -> Result<(), String> {
        match &self.bucket {
            Some(own) if own == bucket => Ok(()),
            Some(own) => Err(format!(
                "polite may read audience files only from its audience bucket: put the file in s3://{own}/"
            )),
            None => {
                Err("this deployment reads no audience files (AUDIENCE_BUCKET is not set): list the recipients".into())
            }
        }
    }

    async fn read_part(&self, file: &AudienceFile, offset: u64, len: u64) -> Result<Option<FilePart>, StoreError> {
        let last = offset.saturating_add(len.max(1)) - 1;
        let answer = self
            .client
            .get_object()
            .bucket(&file.bucket)
            .key(&file.key)
            .range(format!("bytes={offset}-{last}"))
            .send()
            .await;
        let out = match answer {
            Ok(out) => out,
            Err(e) => {
                let e = e.into_service_error();
                if matches!(e, GetObjectError::NoSuchKey(_)) {
                    return Ok(None);
                }
                // 416: the range starts at or past the end (an empty file, or a read after the
                // last byte): nothing there; the size is where the range started.
                if e.meta().code() == Some("InvalidRange") {
                    return Ok(Some(FilePart { bytes: Vec::new(), size: offset }));
                }
                return Err(unavailable(e));
            }
        };
        // `Content-Range: bytes 0-99/1234` gives the whole file's size.
        let size = out
            .content_range()
            .and_then(|r| r.rsplit_once('/'))
            .and_then(|(_, total)| total.parse::<u64>().ok())
            .or_else(|| out.content_length().and_then(|n| u64::try_from(n).ok()).map(|n| offset + n));
        let bytes = out.body.collect().await.map_err(unavailable)?.into_bytes().to_vec();
        let size = size.unwrap_or(offset + bytes.len() as u64);
        Ok(Some(FilePart { bytes, size }))
    }
}

impl ReportFiles for S3Audiences {
    fn export_bucket(&self) -> Result<&str, String> {
        self.bucket.as_deref().ok_or_else(|| {
            "this deployment has no bucket to export reports to (AUDIENCE_BUCKET is not set): page through GET /v1/campaigns/{id}/messages".into()
        })
    }

    async fn put_file(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<(), StoreError> {
        let bucket = self.export_bucket().map_err(|e| StoreError::Unavailable(e.into()))?;
        self.client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .body(bytes.into())
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        Ok(())
    }
}
