//! Signing the bureau's gallery and sending it to the ward boxes.
//!
//! Per institution with registered devices, the enrolled embeddings of one recogniser become a
//! [`GalleryDraft`] signed with the bureau's key (kept by [`wardwatch_protocol::key_file`]) and
//! published retained, QoS 1, on each of the institution's devices' `gallery` topic. The agent pins
//! the bureau's public key and refuses a version that is not newer than its own, so versions only go
//! up: an institution's gallery whose content is unchanged is re-sent under its last version (the
//! same signed bytes — Ed25519 is deterministic), which is how a box registered later gets it; a
//! changed one becomes the next version. Every publication is recorded in `gallery_publications`.
//!
//! An entry is valid from the person's first enrolment for `valid_days` days (the bureau re-publishes
//! to extend it).

use crate::store::{Store, StoreError, now_ms};
use rumqttc::{AsyncClient, Event, Outgoing, Packet, QoS};
use sha2::{Digest as _, Sha256};
use sqlx::Row;
use std::collections::BTreeMap;
use std::time::Duration;
use wardwatch_link::{BrokerUrl, LinkError, MAX_PACKET_BYTES, TlsFiles, client_options};
use wardwatch_protocol::{
    DeviceId, FaceEmbedding, GalleryDraft, GalleryEntry, InstitutionCode, PsnNo, PublicKey,
    SignedGallery, SigningKey, Timestamp, Topic, TopicKind,
};

/// What to publish.
#[derive(Debug, Clone)]
pub struct GalleryOptions {
    /// The recogniser whose embeddings are published (the agent refuses others).
    pub model: String,
    /// How long an enrolment counts, from the person's first enrolment.
    pub valid_days: u32,
    /// Only these institutions (all with registered devices when empty).
    pub institutions: Vec<InstitutionCode>,
}

impl Default for GalleryOptions {
    fn default() -> Self {
        GalleryOptions {
            model: "fr_feature".into(),
            valid_days: 400,
            institutions: Vec::new(),
        }
    }
}

/// One institution's signed gallery and the devices it goes to.
#[derive(Debug, Clone)]
pub struct Prepared {
    /// The signed gallery.
    pub gallery: SignedGallery,
    /// Whether this version is new (false: the last version, unchanged, sent again).
    pub new_version: bool,
    /// The institution's registered devices.
    pub devices: Vec<DeviceId>,
}

/// Preparing or sending galleries failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A stored embedding is not usable on the wire.
    #[error("stored embedding of {psn_no} at {institution} is not a valid embedding: {why}")]
    BadEmbedding {
        /// The institution.
        institution: String,
        /// The person.
        psn_no: String,
        /// What was wrong.
        why: String,
    },
    /// The gallery does not fit in one MQTT message.
    #[error(
        "the gallery of {institution} is {size} bytes, over the {MAX_PACKET_BYTES}-byte MQTT message limit"
    )]
    TooLarge {
        /// The institution.
        institution: InstitutionCode,
        /// Its size.
        size: usize,
    },
    /// The broker connection settings are unusable.
    #[error(transparent)]
    Link(#[from] LinkError),
    /// The broker did not take every message in time.
    #[error("broker {url}: {why}")]
    Broker {
        /// The broker.
        url: String,
        /// What happened.
        why: String,
    },
}

impl From<sqlx::Error> for PublishError {
    fn from(e: sqlx::Error) -> Self {
        PublishError::Store(StoreError::from(e))
    }
}

const DAY_MS: i64 = 86_400_000;

/// A person's enrolment: first enrolment time and embeddings.
type Enrolment = (i64, Vec<FaceEmbedding>);

/// Builds, signs and records (as needed) the gallery of each institution with registered devices.
pub async fn prepare(
    store: &Store,
    bureau: &SigningKey,
    options: &GalleryOptions,
) -> Result<Vec<Prepared>, PublishError> {
    let mut devices: BTreeMap<InstitutionCode, Vec<DeviceId>> = BTreeMap::new();
    for device in store.devices().await? {
        if options.institutions.is_empty()
            || options.institutions.contains(&device.institution_code)
        {
            devices
                .entry(device.institution_code)
                .or_default()
                .push(device.device_id);
        }
    }
    let mut prepared = Vec::new();
    for (institution, devices) in devices {
        let entries = entries(store, &institution, options).await?;
        let content = content_digest(&PublicKey::of(bureau), &options.model, &entries);
        let last = sqlx::query(
            "SELECT version, issued_at_ms, digest FROM gallery_publications \
             WHERE institution_code = $1 ORDER BY version DESC LIMIT 1",
        )
        .bind(institution.as_str())
        .fetch_optional(store.pool())
        .await?;
        let last: Option<(i64, i64, String)> = match last {
            Some(row) => Some((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)),
            None => None,
        };
        let (version, issued_at, new_version) = match last {
            Some((version, issued_at, digest)) if digest == content => {
                (version, time(issued_at), false)
            }
            Some((version, _, _)) => (version + 1, time(now_ms()), true),
            None => (1, time(now_ms()), true),
        };
        let people = entries.len();
        let embeddings: usize = entries.iter().map(|e| e.embeddings.len()).sum();
        let gallery = GalleryDraft::new(
            institution.clone(),
            u64::try_from(version).unwrap_or(1),
            issued_at,
            options.model.clone(),
            entries,
        )
        .sign(bureau);
        let size = gallery.to_wire().len();
        if size > MAX_PACKET_BYTES {
            return Err(PublishError::TooLarge { institution, size });
        }
        if new_version {
            sqlx::query(
                "INSERT INTO gallery_publications (institution_code, version, issued_at_ms, model, \
                 people, embeddings, digest, devices) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(institution.as_str())
            .bind(version)
            .bind(issued_at.millis())
            .bind(&options.model)
            .bind(people as i64)
            .bind(embeddings as i64)
            .bind(&content)
            .bind(devices.len() as i64)
            .execute(store.pool())
            .await?;
        }
        prepared.push(Prepared {
            gallery,
            new_version,
            devices,
        });
    }
    Ok(prepared)
}

/// A stored time; an out-of-range value (a corrupt row) is read as now rather than failing a
/// publication.
fn time(ms: i64) -> Timestamp {
    Timestamp::from_millis(ms).unwrap_or_else(Timestamp::now)
}

/// The institution's enrolled people of `options.model`, by `psn_no`.
async fn entries(
    store: &Store,
    institution: &InstitutionCode,
    options: &GalleryOptions,
) -> Result<Vec<GalleryEntry>, PublishError> {
    let rows = sqlx::query(
        "SELECT psn_no, embedding, enrolled_at_ms FROM gallery_embeddings \
         WHERE fixmedins_code = $1 AND model = $2 ORDER BY psn_no, id",
    )
    .bind(institution.as_str())
    .bind(&options.model)
    .fetch_all(store.pool())
    .await?;
    let mut people: BTreeMap<String, Enrolment> = BTreeMap::new();
    for row in rows {
        let psn_no: String = row.try_get(0)?;
        let text: String = row.try_get(1)?;
        let enrolled_at: i64 = row.try_get(2)?;
        let bad = |why: String| PublishError::BadEmbedding {
            institution: institution.to_string(),
            psn_no: psn_no.clone(),
            why,
        };
        let values: Vec<f32> = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let embedding = FaceEmbedding::try_from(values).map_err(|e| bad(e.to_string()))?;
        let person = people
            .entry(psn_no.clone())
            .or_insert((enrolled_at, Vec::new()));
        person.0 = person.0.min(enrolled_at);
        person.1.push(embedding);
    }
    people
        .into_iter()
        .map(|(psn_no, (first, embeddings))| {
            let parsed: PsnNo = psn_no.parse().map_err(|e: wardwatch_protocol::IdError| {
                PublishError::BadEmbedding {
                    institution: institution.to_string(),
                    psn_no: psn_no.clone(),
                    why: e.to_string(),
                }
            })?;
            Ok(GalleryEntry {
                psn_no: parsed,
                valid_from: time(first),
                valid_until: time(first.saturating_add(i64::from(options.valid_days) * DAY_MS)),
                embeddings,
            })
        })
        .collect()
}

/// SHA-256 of what the gallery says (model and entries), without version and issue time.
fn content_digest(bureau: &PublicKey, model: &str, entries: &[GalleryEntry]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(bureau.0.as_bytes());
    hasher.update(model.as_bytes());
    hasher.update([0]);
    hasher.update(serde_json::to_vec(entries).unwrap_or_default());
    hex::encode(hasher.finalize())
}

/// Publishes each prepared gallery, retained, to each of its devices, and waits until the broker has
/// acknowledged every message. Returns the number of messages sent.
pub async fn send(
    url: &BrokerUrl,
    tls: &TlsFiles,
    client_id: &str,
    prepared: &[Prepared],
) -> Result<usize, PublishError> {
    let mut options = client_options(client_id, url, tls, Duration::from_secs(30))?;
    options.set_clean_session(true);
    let (client, mut eventloop) = AsyncClient::new(options, 64);
    let broker = |why: String| PublishError::Broker {
        url: url.to_string(),
        why,
    };
    let messages: Vec<(String, Vec<u8>)> = prepared
        .iter()
        .flat_map(|p| {
            let wire = p.gallery.to_wire();
            p.devices.iter().map(move |device| {
                let topic = Topic::new(
                    p.gallery.institution_code.clone(),
                    device.clone(),
                    TopicKind::Gallery,
                );
                (topic.to_string(), wire.clone())
            })
        })
        .collect();
    let total = messages.len();
    let publisher = tokio::spawn(async move {
        for (topic, payload) in messages {
            client
                .publish(topic, QoS::AtLeastOnce, true, payload)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok::<AsyncClient, String>(client)
    });
    let mut acked = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while acked < total {
        match tokio::time::timeout_at(deadline, eventloop.poll()).await {
            Err(_) => {
                return Err(broker(format!(
                    "only {acked} of {total} galleries acknowledged within 60 s"
                )));
            }
            Ok(Err(e)) => return Err(broker(e.to_string())),
            Ok(Ok(Event::Incoming(Packet::PubAck(_)))) => acked += 1,
            Ok(Ok(Event::Outgoing(Outgoing::Disconnect))) => break,
            Ok(Ok(_)) => {}
        }
    }
    let client = publisher
        .await
        .map_err(|e| broker(e.to_string()))?
        .map_err(broker)?;
    let _ = client.disconnect().await;
    // Let the DISCONNECT go out.
    let _ = tokio::time::timeout(Duration::from_millis(200), eventloop.poll()).await;
    Ok(acked)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::StoreLocation;
    use crate::store::devices::{Device, DevicePurpose};
    use wardwatch_protocol::PinnedKeys;

    fn line(psn: &str, seed: f32) -> String {
        let values: Vec<f32> = (0..128).map(|i| ((i as f32) * seed).sin()).collect();
        format!(
            "{{\"fixmedins_code\":\"H43060200175\",\"psn_no\":\"{psn}\",\"model\":\"fr_feature\",\"embedding\":{}}}\n",
            serde_json::to_string(&values).unwrap()
        )
    }

    #[tokio::test]
    async fn several_enrolment_photos_of_a_person_travel_as_one_entry_with_each_embedding() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreLocation::DataDir(dir.path().to_path_buf()))
            .await
            .unwrap();
        store
            .add_device(&Device {
                device_id: "box-1".parse().unwrap(),
                institution_code: "H43060200175".parse().unwrap(),
                public_key: PublicKey::of(&SigningKey::from_bytes(&[4; 32])),
                purpose: DevicePurpose::Production,
            })
            .await
            .unwrap();
        // Three photos of one person (one of them imported twice), one of another.
        let lines = [
            line("430600000000000001", 0.1),
            line("430600000000000001", 0.3),
            line("430600000000000001", 0.5),
            line("430600000000000001", 0.3),
            line("430600000000000002", 0.2),
        ]
        .concat();
        let report = store.import_gallery(lines.as_bytes()).await.unwrap();
        assert_eq!((report.new, report.existing), (4, 1));
        let bureau = SigningKey::from_bytes(&[3; 32]);
        let prepared = prepare(&store, &bureau, &GalleryOptions::default())
            .await
            .unwrap();
        let entries = &prepared[0].gallery.entries;
        let sizes: Vec<(String, usize)> = entries
            .iter()
            .map(|e| (e.psn_no.to_string(), e.embeddings.len()))
            .collect();
        assert_eq!(
            sizes,
            [
                ("430600000000000001".to_owned(), 3),
                ("430600000000000002".to_owned(), 1)
            ]
        );
    }

    #[tokio::test]
    async fn versions_go_up_only_when_the_content_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&StoreLocation::DataDir(dir.path().to_path_buf()))
            .await
            .unwrap();
        let bureau = SigningKey::from_bytes(&[3; 32]);
        let device_key = SigningKey::from_bytes(&[4; 32]);
        store
            .add_device(&Device {
                device_id: "box-1".parse().unwrap(),
                institution_code: "H43060200175".parse().unwrap(),
                public_key: PublicKey::of(&device_key),
                purpose: DevicePurpose::Production,
            })
            .await
            .unwrap();
        let first = line("430600000000000001", 0.1);
        store.import_gallery(first.as_bytes()).await.unwrap();
        let options = GalleryOptions::default();

        let one = prepare(&store, &bureau, &options).await.unwrap();
        assert_eq!(one.len(), 1);
        assert!(one[0].new_version);
        assert_eq!(one[0].gallery.version, 1);
        assert_eq!(one[0].gallery.entries.len(), 1);
        let verified =
            SignedGallery::from_wire(&one[0].gallery.to_wire(), &PublicKey::of(&bureau).into())
                .unwrap();
        assert_eq!(verified, one[0].gallery);

        let again = prepare(&store, &bureau, &options).await.unwrap();
        assert!(!again[0].new_version);
        assert_eq!(
            again[0].gallery.to_wire(),
            one[0].gallery.to_wire(),
            "unchanged content is re-sent as the same signed bytes"
        );

        let second = line("430600000000000002", 0.2);
        store.import_gallery(second.as_bytes()).await.unwrap();
        let two = prepare(&store, &bureau, &options).await.unwrap();
        assert!(two[0].new_version);
        assert_eq!(two[0].gallery.version, 2);
        assert_eq!(two[0].gallery.entries.len(), 2);
        assert_eq!(two[0].devices.len(), 1);

        // A rotated bureau key: the same content becomes a new version signed with the new key, which a
        // box pinning old and new takes (newer), and which still verifies once the old key is removed.
        let rotated = SigningKey::from_bytes(&[5; 32]);
        let three = prepare(&store, &rotated, &options).await.unwrap();
        assert!(three[0].new_version);
        assert_eq!(three[0].gallery.version, 3);
        let wire = three[0].gallery.to_wire();
        let both = PinnedKeys::new(vec![PublicKey::of(&bureau), PublicKey::of(&rotated)]).unwrap();
        assert!(SignedGallery::from_wire(&wire, &both).is_ok());
        assert!(SignedGallery::from_wire(&wire, &PublicKey::of(&rotated).into()).is_ok());
        assert!(
            SignedGallery::from_wire(&two[0].gallery.to_wire(), &PublicKey::of(&rotated).into())
                .is_err()
        );
    }
}
