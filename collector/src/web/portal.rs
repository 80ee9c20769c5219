//! The institution's side: which flags an institution user may see, and its list. An institution sees
//! a flag only when it is its own **and** the bureau has issued it (下发): the states from 已下发 on.
//! Flags still in the bureau's first review, excluded or confirmed but not issued, stay invisible — and
//! an invisible flag is answered exactly like one that does not exist (404), so an institution cannot
//! even learn that a flag id is taken.
//!
//! [`may_see`] is the one place the web app decides this; the JSON API is getting the same rule in its
//! own layer, and this function is meant to call that one once it lands.

use super::page::{PageError, Signed, render};
use super::queue::Listing;
use crate::api::ApiState;
use crate::api::access::AccessNote;
use crate::flags::store::FlagRow;
use crate::users::User;
use axum::extract::State;
use axum::response::Response;
use minijinja::context;

/// Whether `user` may see `flag`: bureau users every flag; an institution its own issued ones.
/// The one rule, shared with the JSON API: [`crate::flags::visibility::Viewer::may_see`].
pub fn may_see(user: &User, flag: &FlagRow) -> bool {
    crate::api::viewer(user).may_see(&flag.fixmedins_code, flag.state)
}

/// Flag `id` if `user` may see it, else the 404 page (whether it exists or not).
pub async fn visible_flag(state: &ApiState, user: &User, id: i64) -> Result<FlagRow, PageError> {
    match state.store.flag(id).await? {
        Some(flag) if may_see(user, &flag) => Ok(flag),
        _ => Err(PageError::not_found()),
    }
}

/// `GET /portal`: the institution's issued flags, newest first, with their appeal deadlines.
pub async fn show(State(state): State<ApiState>, signed: Signed) -> Result<Response, PageError> {
    let Some(own) = signed.authed.user.role.institution().cloned() else {
        return Err(PageError::forbidden());
    };
    // The shared visibility rule narrows the listing to the institution's own issued flags.
    let viewer = crate::api::viewer(&signed.authed.user);
    let listing = Listing {
        institution: Some(own),
        ..Listing::default()
    };
    let page = state
        .store
        .flag_listing(&viewer, &listing, state.zone)
        .await?;
    let mut response = render(&signed.ctx, "portal.html", context! { page => &page });
    response
        .extensions_mut()
        .insert(AccessNote(format!("portal: {} flags", page.flags.len())));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::workflow::FlagState;
    use crate::rules::RuleId;
    use crate::users::UserRole;

    fn user(role: UserRole) -> User {
        User {
            name: "u".into(),
            role,
            created_at_ms: 0,
            disabled: false,
            disabled_at_ms: None,
            expires_at_ms: None,
        }
    }

    fn flag(code: &str, state: FlagState) -> FlagRow {
        FlagRow {
            id: 1,
            rule_id: RuleId::Impersonation,
            fixmedins_code: code.parse().expect("code"),
            psn_no: None,
            amount_fen: 1,
            state,
            appeal_deadline_ms: None,
            appeal_text: None,
            outcome: None,
            outcome_amount_fen: None,
        }
    }

    #[test]
    fn institutions_see_only_their_own_issued_flags() {
        let own = user(UserRole::Institution("H43060200175".parse().expect("code")));
        let auditor = user(UserRole::Auditor);
        for state in FlagState::ALL {
            let issued = state.issued_to_institution();
            assert_eq!(
                may_see(&own, &flag("H43060200175", state)),
                issued,
                "{state}"
            );
            assert!(
                !may_see(&own, &flag("H43060200999", state)),
                "other's {state}"
            );
            assert!(may_see(&auditor, &flag("H43060200999", state)));
        }
        assert!(!may_see(&own, &flag("H43060200175", FlagState::Pending)));
        assert!(!may_see(&own, &flag("H43060200175", FlagState::Confirmed)));
        assert!(!may_see(&own, &flag("H43060200175", FlagState::Excluded)));
    }
}
