//! Appeal files in the browser: the institution's 申诉 form (its text and a file) and a file added to a
//! flag later, read from a multipart form with the file capped at 10 MiB while it arrives, accepted only
//! when its content is a PDF, JPEG or PNG ([`AttachmentKind`]: by the bytes, not the name), stored with
//! its SHA-256 within the same caps as the API's uploads; and a stored file served to those who may see
//! its flag.

use super::flag::{flag_id, transition_page};
use super::page::{Fields, PageError, Signed, redirect};
use super::portal::visible_flag;
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::api::attachments::{MAX_ATTACHMENT_BYTES, content_disposition};
use crate::flags::attachments::{AttachmentError, AttachmentKind, AttachmentName};
use crate::flags::workflow::{Action, FlagState, Request};
use crate::store::now_ms;
use axum::extract::{Multipart, Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The largest request body of an upload form: the file and the few text fields around it.
pub const MAX_FORM_BYTES: usize = MAX_ATTACHMENT_BYTES + 64 * 1024;

/// A file as sent in a form.
struct Upload {
    name: AttachmentName,
    content: Vec<u8>,
}

/// An upload form: its text fields and its file (absent when none was chosen).
struct UploadForm {
    fields: Fields,
    file: Option<Upload>,
}

/// Reads the form: text fields of at most 64 KiB in all; the `file` field stops being read once it
/// passes [`MAX_ATTACHMENT_BYTES`], and is then refused naming its size.
async fn read_form(mut multipart: Multipart) -> Result<UploadForm, PageError> {
    let bad = |e: axum::extract::multipart::MultipartError| PageError::bad_request(e.body_text());
    let mut fields = Vec::new();
    let mut file = None;
    let mut text_bytes = 0usize;
    while let Some(mut field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            let file_name = field.file_name().unwrap_or_default().to_owned();
            let mut content = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(bad)? {
                content.extend_from_slice(&chunk);
                if content.len() > MAX_ATTACHMENT_BYTES {
                    return Err(PageError::bad_request(format!(
                        "file: larger than {MAX_ATTACHMENT_BYTES} bytes (10 MiB)"
                    )));
                }
            }
            if file_name.is_empty() && content.is_empty() {
                continue; // no file chosen
            }
            let name = AttachmentName::parse(&file_name)
                .map_err(|e| PageError::bad_request(format!("file name {file_name:?}: {e}")))?;
            file = Some(Upload { name, content });
        } else {
            let value = field.text().await.map_err(bad)?;
            text_bytes += value.len();
            if text_bytes > 64 * 1024 {
                return Err(PageError::bad_request("form: text fields over 64 KiB"));
            }
            fields.push((name, value));
        }
    }
    Ok(UploadForm {
        fields: Fields(fields),
        file,
    })
}

/// Checks the file's content and stores it on flag `id`.
async fn store_file(
    state: &ApiState,
    signed: &Signed,
    id: i64,
    upload: &Upload,
) -> Result<String, PageError> {
    let kind = AttachmentKind::sniff(&upload.content, MAX_ATTACHMENT_BYTES)
        .map_err(|e| PageError::bad_request(format!("file {}: {e}", upload.name)))?;
    let meta = state
        .store
        .add_attachment(
            id,
            &upload.name,
            &upload.content,
            &signed.authed.user.name,
            state.limits.attachments,
        )
        .await
        .map_err(|e| match e {
            AttachmentError::NoFlag(_) => PageError::not_found(),
            e @ (AttachmentError::FlagFull { .. } | AttachmentError::InstitutionFull { .. }) => {
                PageError::conflict(e.to_string())
            }
            AttachmentError::Store(e) => PageError::internal(e),
        })?;
    Ok(format!(
        "attachment {} {} ({} bytes, sha256 {})",
        meta.id,
        kind.media_type(),
        meta.size,
        meta.sha256
    ))
}

/// `POST /flags/{id}/appeal` (multipart: `csrf`, `reason`, optionally `file`): the institution's 申诉.
/// Everything is checked before anything is stored; the appeal is made, then the file kept with it.
pub async fn appeal(
    State(state): State<ApiState>,
    signed: Signed,
    Path(raw): Path<String>,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let form = read_form(multipart).await?;
    signed.check_csrf(&form.fields)?;
    let id = flag_id(&raw)?;
    visible_flag(&state, &signed.authed.user, id).await?;
    if let Some(upload) = &form.file {
        AttachmentKind::sniff(&upload.content, MAX_ATTACHMENT_BYTES)
            .map_err(|e| PageError::bad_request(format!("file {}: {e}", upload.name)))?;
    }
    let reason = form.fields.get("reason").unwrap_or_default().trim();
    if reason.chars().count() > 10_000 {
        return Err(PageError::bad_request("reason: at most 10000 characters"));
    }
    let request = Request {
        action: Action::Appeal,
        reason: reason.to_owned(),
        amount_fen: None,
        now_ms: now_ms(),
    };
    state
        .store
        .transition_flag(id, &signed.authed.user.actor(), &request, state.appeal_days)
        .await
        .map_err(transition_page)?;
    let mut note = "appeal → appealed".to_owned();
    if let Some(upload) = &form.file {
        note = format!("{note}; {}", store_file(&state, &signed, id, upload).await?);
    }
    Ok(redirect(&format!("/flags/{id}?done=appeal"), note))
}

/// `POST /flags/{id}/attachments` (multipart: `csrf`, `file`): one more file — by the institution
/// while its flag is issued or appealed, by bureau users at any time (as in the API).
pub async fn attach(
    State(state): State<ApiState>,
    signed: Signed,
    Path(raw): Path<String>,
    multipart: Multipart,
) -> Result<Response, PageError> {
    let form = read_form(multipart).await?;
    signed.check_csrf(&form.fields)?;
    let id = flag_id(&raw)?;
    let flag = visible_flag(&state, &signed.authed.user, id).await?;
    if !signed.authed.user.role.is_bureau()
        && !matches!(flag.state, FlagState::Issued | FlagState::Appealed)
    {
        return Err(PageError::conflict(format!(
            "files are added while the flag is issued or appealed; it is {}",
            flag.state.as_str()
        )));
    }
    let upload = form
        .file
        .as_ref()
        .ok_or_else(|| PageError::bad_request("file: choose a PDF, JPEG or PNG"))?;
    let note = store_file(&state, &signed, id, upload).await?;
    Ok(redirect(&format!("/flags/{id}?done=attached"), note))
}

/// `GET /flags/{id}/attachments/{aid}`: the file, to those who may see the flag (else 404), with its
/// media type from its content and always as a download (never shown inline in the app's origin).
pub async fn download(
    State(state): State<ApiState>,
    signed: Signed,
    Path((raw, aid)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let id = flag_id(&raw)?;
    let aid = flag_id(&aid)?;
    visible_flag(&state, &signed.authed.user, id).await?;
    let (meta, content) = state
        .store
        .attachment(id, aid)
        .await?
        .ok_or_else(PageError::not_found)?;
    let media_type =
        AttachmentKind::of(&content).map_or("application/octet-stream", AttachmentKind::media_type);
    let note = AccessNote(format!(
        "downloaded attachment {} ({} bytes, sha256 {})",
        meta.id, meta.size, meta.sha256
    ));
    let mut response = (
        [
            (header::CONTENT_TYPE, media_type.to_owned()),
            (
                header::CONTENT_DISPOSITION,
                content_disposition(&meta.file_name),
            ),
        ],
        content,
    )
        .into_response();
    response.extensions_mut().insert(note);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use crate::api::{ApiLimits, ApiState, app};
    use crate::flags::store::NewFlag;
    use crate::rules::RuleId;
    use crate::store::{Store, StoreLocation, now_ms};
    use crate::users::UserRole;
    use axum::body::Body;
    use axum::http::{Request, StatusCode, header};
    use tower::ServiceExt;

    fn multipart(csrf: &str, name: &str, content: &[u8]) -> (String, Vec<u8>) {
        let boundary = "wwBoundary7MA4YWxkTrZu0gW";
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n\
             --{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n\
             Content-Type: application/octet-stream\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(content);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        (format!("multipart/form-data; boundary={boundary}"), body)
    }

    #[tokio::test]
    async fn files_over_10_mib_are_refused_and_one_under_is_kept_with_its_sha256() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Store::open(&StoreLocation::DataDir(dir.path().to_path_buf()))
            .await
            .expect("store");
        let id = store
            .raise_flag(&NewFlag {
                dedup_key: "t/1".into(),
                rule_id: RuleId::Impersonation,
                rule_version: 1,
                fixmedins_code: "H43060200175".parse().expect("code"),
                psn_no: None,
                amount_fen: 41_000,
                evidence: serde_json::json!({}),
                lines: vec![],
            })
            .await
            .expect("raise")
            .expect("new");
        store
            .add_user_with_password("auditor-t", &UserRole::Auditor, "auditor-pass-1", false)
            .await
            .expect("user");
        let (token, session) = store
            .create_session("auditor-t", now_ms())
            .await
            .expect("session");
        let router = app(ApiState::with(store.clone(), ApiLimits::default()));
        let post = |content: Vec<u8>| {
            let (content_type, body) = multipart(&session.csrf_token, "病历.pdf", &content);
            Request::post(format!("/flags/{id}/attachments"))
                .header(header::COOKIE, format!("ww_session={token}"))
                .header(header::CONTENT_TYPE, content_type)
                .body(Body::from(body))
                .expect("request")
        };
        let mut big = b"%PDF-1.4\n".to_vec();
        big.resize(10 * 1024 * 1024 + 1, b' ');
        let refused = router.clone().oneshot(post(big)).await.expect("answer");
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        let detail = store.flag_detail(id).await.expect("read").expect("flag");
        assert!(detail.attachments.is_empty(), "nothing kept");

        let mut fits = b"%PDF-1.4\n".to_vec();
        fits.resize(9 * 1024 * 1024, b' ');
        let kept = router.oneshot(post(fits.clone())).await.expect("answer");
        assert_eq!(kept.status(), StatusCode::SEE_OTHER);
        let detail = store.flag_detail(id).await.expect("read").expect("flag");
        let [attachment] = detail.attachments.as_slice() else {
            panic!("one attachment: {:?}", detail.attachments)
        };
        use sha2::Digest;
        assert_eq!(attachment.sha256, hex::encode(sha2::Sha256::digest(&fits)));
        assert_eq!(attachment.file_name, "病历.pdf");
        store.close().await;
    }
}
