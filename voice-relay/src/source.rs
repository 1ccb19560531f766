//! Where the relay's catalog comes from (a file, or an S3 object on ECS), and the refresh that
//! replaces it when it changes. A catalog that fails to load at start stops the relay with the
//! reason; one that turns invalid later is logged and the last good one stays in service.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tracing::{error, info};

use super::catalog::{Catalog, CatalogError};
use super::session::RealtimeService;

/// Where the catalog is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CatalogSource {
    /// The catalog shipped in the binary.
    Sample,
    /// A JSON file (in the image, or on the laptop).
    File(PathBuf),
    /// An S3 object (`s3://bucket/key`).
    S3 {
        /// The bucket.
        bucket: String,
        /// The object key.
        key: String,
    },
}

impl CatalogSource {
    /// Reads `--catalog`: `s3://bucket/key`, a file path, or nothing (the sample).
    pub fn parse(spec: Option<&str>) -> Result<CatalogSource, CatalogError> {
        let Some(spec) = spec.map(str::trim).filter(|s| !s.is_empty()) else {
            return Ok(CatalogSource::Sample);
        };
        if let Some(rest) = spec.strip_prefix("s3://") {
            return match rest.split_once('/') {
                Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
                    Ok(CatalogSource::S3 {
                        bucket: bucket.to_owned(),
                        key: key.to_owned(),
                    })
                }
                _ => Err(CatalogError::Invalid {
                    path: spec.to_owned(),
                    reason: "an S3 catalog is named s3://BUCKET/KEY".into(),
                }),
            };
        }
        Ok(CatalogSource::File(PathBuf::from(spec)))
    }

    /// How the source is named in logs and errors.
    pub fn describe(&self) -> String {
        match self {
            CatalogSource::Sample => "the sample catalog".into(),
            CatalogSource::File(p) => p.display().to_string(),
            CatalogSource::S3 { bucket, key } => format!("s3://{bucket}/{key}"),
        }
    }
}

/// Reads a [`CatalogSource`], remembering what it last saw so an unchanged catalog is not
/// parsed again (a file's length and modification time; an object's ETag, sent as
/// `If-None-Match`).
pub struct CatalogReader {
    source: CatalogSource,
    s3: Option<aws_sdk_s3::Client>,
    seen: Option<String>,
}

impl CatalogReader {
    /// A reader of `source`. An S3 source uses the standard AWS configuration (the task role
    /// on ECS; `AWS_ENDPOINT_URL_S3` for a local S3).
    pub async fn new(source: CatalogSource) -> CatalogReader {
        let s3 = match source {
            CatalogSource::S3 { .. } => {
                let sdk = aws_config::load_from_env().await;
                let mut conf = aws_sdk_s3::config::Builder::from(&sdk);
                if std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
                    || std::env::var_os("AWS_ENDPOINT_URL").is_some()
                {
                    // A local S3 (moto, MinIO) answers on one host name.
                    conf = conf.force_path_style(true);
                }
                Some(aws_sdk_s3::Client::from_conf(conf.build()))
            }
            _ => None,
        };
        CatalogReader {
            source,
            s3,
            seen: None,
        }
    }

    /// The source.
    pub fn source(&self) -> &CatalogSource {
        &self.source
    }

    /// The catalog, or `None` when it has not changed since the last read.
    pub async fn read(&mut self) -> Result<Option<Catalog>, CatalogError> {
        let name = self.source.describe();
        match &self.source {
            CatalogSource::Sample => {
                if self.seen.is_some() {
                    return Ok(None);
                }
                self.seen = Some(String::new());
                Ok(Some(Catalog::sample()))
            }
            CatalogSource::File(path) => {
                let read_error = |source| CatalogError::Read {
                    path: name.clone(),
                    source,
                };
                let meta = tokio::fs::metadata(path).await.map_err(read_error)?;
                let tag = format!("{}:{:?}", meta.len(), meta.modified().ok());
                if self.seen.as_deref() == Some(tag.as_str()) {
                    return Ok(None);
                }
                let text = tokio::fs::read_to_string(path).await.map_err(read_error)?;
                let catalog = Catalog::parse(&text, &name)?;
                self.seen = Some(tag);
                Ok(Some(catalog))
            }
            CatalogSource::S3 { bucket, key } => {
                let client = self.s3.as_ref().expect("an S3 source has a client");
                let mut get = client.get_object().bucket(bucket).key(key);
                if let Some(etag) = &self.seen {
                    get = get.if_none_match(etag);
                }
                let object = match get.send().await {
                    Ok(object) => object,
                    Err(e) => {
                        let status = e.raw_response().map(|r| r.status().as_u16());
                        if status == Some(304) {
                            return Ok(None);
                        }
                        let reason = match status {
                            Some(403) => {
                                "access denied (the task role may read only this object)".to_owned()
                            }
                            Some(404) => "no such bucket or object".to_owned(),
                            _ => aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                        };
                        return Err(CatalogError::Read {
                            path: name,
                            source: std::io::Error::other(reason),
                        });
                    }
                };
                let etag = object.e_tag().map(str::to_owned);
                let bytes = object
                    .body
                    .collect()
                    .await
                    .map_err(|e| CatalogError::Read {
                        path: name.clone(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
                let text =
                    String::from_utf8(bytes.to_vec()).map_err(|_| CatalogError::Invalid {
                        path: name.clone(),
                        reason: "not UTF-8".into(),
                    })?;
                let catalog = Catalog::parse(&text, &name)?;
                self.seen = Some(etag.unwrap_or_default());
                Ok(Some(catalog))
            }
        }
    }
}

/// Reads the catalog again every `every` and hands a changed, valid one to `service`. Ends
/// when the service is dropped.
pub fn spawn_refresh(service: &Arc<RealtimeService>, mut reader: CatalogReader, every: Duration) {
    if every.is_zero() || reader.source() == &CatalogSource::Sample {
        return;
    }
    let weak = Arc::downgrade(service);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            let Some(service) = weak.upgrade() else { break };
            match reader.read().await {
                Ok(Some(catalog)) => {
                    info!(
                        catalog = %reader.source().describe(),
                        restaurants = catalog.restaurants.len(),
                        "catalog refreshed"
                    );
                    service.replace_catalog(catalog);
                }
                Ok(None) => {}
                Err(e) => error!(error = %e, "catalog not refreshed; the last good one stays"),
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_read_from_the_flag() {
        assert_eq!(CatalogSource::parse(None).unwrap(), CatalogSource::Sample);
        assert_eq!(
            CatalogSource::parse(Some(" ")).unwrap(),
            CatalogSource::Sample
        );
        assert_eq!(
            CatalogSource::parse(Some("s3://menus/prod/catalog.json")).unwrap(),
            CatalogSource::S3 {
                bucket: "menus".into(),
                key: "prod/catalog.json".into()
            }
        );
        assert_eq!(
            CatalogSource::parse(Some("/catalog.json")).unwrap(),
            CatalogSource::File("/catalog.json".into())
        );
        for bad in ["s3://", "s3://bucket", "s3://bucket/", "s3:///key"] {
            let e = CatalogSource::parse(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("s3://BUCKET/KEY"), "{bad}: {e}");
        }
    }
}
