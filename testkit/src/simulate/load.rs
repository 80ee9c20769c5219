//! Loading a month into a store through the real paths: each box's events sealed with its key and
//! verified as ingest verifies a received message (so the collector's time checks apply), stored in
//! batches; the export files through the importer; the gallery through its import.

use super::Month;
use std::collections::BTreeMap;
use std::path::Path;
use wardwatch_collector::ingest::times::TimeChecks;
use wardwatch_collector::ingest::verify::{Registry, Verdict, verify};
use wardwatch_collector::settlement::import::ImportOptions;
use wardwatch_collector::store::Store;
use wardwatch_collector::store::devices::{Device, DevicePurpose};
use wardwatch_collector::store::ingest::{ChainCache, Fate, Incoming};
use wardwatch_protocol::{Digest, EventDraft, Limits, PublicKey, SigningKey, Timestamp};

/// What loading a month did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Events stored.
    pub stored: u64,
    /// Events quarantined, by reason.
    pub quarantined: BTreeMap<String, u64>,
    /// Forged events that were stored (the collector took the box's word): how each was forged.
    pub forged_stored: Vec<String>,
    /// Per export file, the importer's counts and warnings.
    pub imports: Vec<String>,
}

/// Loads a month into the store. `dir` receives the export files.
pub async fn load(store: &Store, month: &Month, dir: &Path) -> anyhow::Result<LoadReport> {
    let mut report = LoadReport::default();
    let limits = Limits::default();
    let times = TimeChecks::default();
    for (n, (inst, events)) in month.events.iter().enumerate() {
        let key = SigningKey::from_bytes(&[n as u8 + 1; 32]);
        let device: wardwatch_protocol::DeviceId = format!("sim-box-{}", n + 1).parse()?;
        let institution: wardwatch_protocol::InstitutionCode = inst.parse()?;
        store
            .add_device(&Device {
                device_id: device.clone(),
                institution_code: institution.clone(),
                public_key: PublicKey::of(&key),
                purpose: DevicePurpose::Production,
            })
            .await?;
        // A registry read less than a second before this device was added would not re-read for it
        // (ingest rate-limits re-reads for unknown devices) and its first events would be quarantined
        // as `unknown_device`, more or fewer by the machine's speed: read the registry afresh.
        let mut registry = Registry::new();
        let mut prev = Digest::GENESIS;
        let mut batch = Vec::new();
        let mut forged = Vec::new();
        let cache = ChainCache::new();
        for (seq, sim) in events.iter().enumerate() {
            let mut draft = EventDraft::new(
                device.clone(),
                institution.clone(),
                seq as u64 + 1,
                prev,
                sim.payload.clone(),
            );
            draft.sent_at = Timestamp::from_millis(sim.sent_at)
                .ok_or_else(|| anyhow::anyhow!("time {}", sim.sent_at))?;
            draft.test_mode = sim.test_mode;
            let event = draft.seal(&key);
            prev = event.hash;
            let (topic, raw) = (event.topic().to_string(), event.to_wire());
            if let Verdict::Record(incoming) =
                verify(&topic, &raw, &limits, &times, &mut registry, store).await?
            {
                forged.push(sim.forged);
                batch.push(incoming);
            }
            if batch.len() == 500 {
                ingest(
                    store,
                    &std::mem::take(&mut batch),
                    &cache,
                    &mut forged,
                    &mut report,
                )
                .await?;
            }
        }
        ingest(store, &batch, &cache, &mut forged, &mut report).await?;
    }
    for file in &month.files {
        let path = dir.join(&file.name);
        std::fs::write(&path, &file.text)?;
        let imported = store
            .import_file(&path, &ImportOptions::default(), &mut |_| {})
            .await?;
        anyhow::ensure!(
            imported.rows_bad == 0,
            "{}: {:?}",
            file.name,
            imported.problems.first()
        );
        let mut line = format!("{}: {} rows", file.name, imported.rows_read);
        if let Some(summary) = imported.fee_line_summary() {
            line.push_str("; ");
            line.push_str(&summary);
        }
        for warning in imported.warnings() {
            line.push_str("; WARNING ");
            line.push_str(&warning);
        }
        report.imports.push(line);
    }
    load_gallery(store, month).await?;
    Ok(report)
}

/// Imports a month's gallery; every enrolment must be taken.
pub(super) async fn load_gallery(store: &Store, month: &Month) -> anyhow::Result<()> {
    let gallery = store.import_gallery(month.gallery_jsonl.as_bytes()).await?;
    anyhow::ensure!(
        gallery.refused.is_empty(),
        "gallery: {:?}",
        gallery.refused.first()
    );
    Ok(())
}

/// Stores one batch and counts the fates; `forged` holds, per message of the batch, how it was forged.
async fn ingest(
    store: &Store,
    batch: &[Incoming],
    cache: &ChainCache,
    forged: &mut Vec<Option<&'static str>>,
    report: &mut LoadReport,
) -> anyhow::Result<()> {
    let outcome = store.ingest_batch(batch, cache).await?;
    for (fate, how) in outcome.fates.iter().zip(forged.drain(..)) {
        match fate {
            Fate::Stored => {
                report.stored += 1;
                if let Some(how) = how {
                    report.forged_stored.push(how.to_owned());
                }
            }
            Fate::Duplicate => {}
            Fate::Quarantined(reason) => {
                *report
                    .quarantined
                    .entry(reason.as_str().to_owned())
                    .or_default() += 1
            }
        }
    }
    Ok(())
}
