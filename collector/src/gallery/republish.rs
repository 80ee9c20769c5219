//! Keeping the ward boxes' galleries current while the collector serves (`serve --bureau-key`): each
//! institution's gallery is published at start and again whenever its content or its devices change.

use super::publish::{self, GalleryOptions};
use crate::ingest::IngestSettings;
use crate::store::Store;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;
use wardwatch_protocol::{DeviceId, InstitutionCode, SigningKey};

/// Publishes each institution's gallery at start and again whenever its content or its devices change
/// (a failed attempt is retried at the next check, `every` later), until `shutdown` turns true.
pub async fn keep_galleries_published(
    store: Store,
    key: SigningKey,
    options: GalleryOptions,
    settings: IngestSettings,
    every: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    let client_id = format!("{}-gallery", settings.client_id);
    let mut sent: HashMap<InstitutionCode, (u64, Vec<DeviceId>)> = HashMap::new();
    loop {
        match publish::prepare(&store, &key, &options).await {
            Ok(prepared) => {
                let due: Vec<_> = prepared
                    .into_iter()
                    .filter(|p| {
                        sent.get(&p.gallery.institution_code)
                            != Some(&(p.gallery.version, p.devices.clone()))
                    })
                    .collect();
                if !due.is_empty() {
                    match publish::send(&settings.url, &settings.tls, &client_id, &due).await {
                        Ok(count) => {
                            for p in due {
                                tracing::info!(
                                    institution = %p.gallery.institution_code,
                                    version = p.gallery.version,
                                    persons = p.gallery.entries.len(),
                                    devices = p.devices.len(),
                                    "gallery published"
                                );
                                sent.insert(
                                    p.gallery.institution_code.clone(),
                                    (p.gallery.version, p.devices),
                                );
                            }
                            tracing::debug!(messages = count, "galleries acknowledged");
                        }
                        Err(error) => tracing::warn!(%error, "galleries not published; will retry"),
                    }
                }
            }
            Err(error) => tracing::warn!(%error, "galleries not prepared; will retry"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = shutdown.changed() => if *shutdown.borrow() { return; },
        }
    }
}
