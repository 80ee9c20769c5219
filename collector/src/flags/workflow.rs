//! The review workflow as a pure state machine: which action may take a flag from which state to which,
//! by whom. Nothing here touches the database; [`super::store`] applies what [`decide`] allows.
//!
//! ```text
//! 待初审 pending ──confirm──▶ 初审确认 confirmed ──issue──▶ 已下发 issued ──appeal──▶ 已申诉 appealed
//!    │                                                   │                        │ uphold / reverse / refer_panel
//!    └─exclude──▶ 已排除 excluded (end)                   │ (deadline passed)       ▼
//!                                                        │                 合议 panel ──uphold / reverse
//!                                                        ▼                        ▼
//!                                  处理 handled ◀──refuse_payment / recover── 维持 upheld     撤销 reversed (end)
//!                                        │
//!                                        └──close──▶ 完结 closed (end)
//! ```

use std::fmt;
use wardwatch_protocol::InstitutionCode;

/// Where a flag stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlagState {
    /// 待初审: raised by a rule, waiting for an auditor.
    Pending,
    /// 初审排除: the auditor found no violation (end; counts as a false positive).
    Excluded,
    /// 初审确认: the auditor confirmed it.
    Confirmed,
    /// 已下发: sent to the institution, which may appeal until the deadline.
    Issued,
    /// 已申诉: the institution appealed.
    Appealed,
    /// 合议: referred to a panel.
    Panel,
    /// 复审维持: the second review upheld the flag.
    Upheld,
    /// 复审撤销: the second review accepted the appeal (end).
    Reversed,
    /// 已处理: payment refused (拒付) or money recovered (追回).
    Handled,
    /// 完结: done (end).
    Closed,
}

impl FlagState {
    /// Every state.
    pub const ALL: [FlagState; 10] = [
        FlagState::Pending,
        FlagState::Excluded,
        FlagState::Confirmed,
        FlagState::Issued,
        FlagState::Appealed,
        FlagState::Panel,
        FlagState::Upheld,
        FlagState::Reversed,
        FlagState::Handled,
        FlagState::Closed,
    ];

    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            FlagState::Pending => "pending",
            FlagState::Excluded => "excluded",
            FlagState::Confirmed => "confirmed",
            FlagState::Issued => "issued",
            FlagState::Appealed => "appealed",
            FlagState::Panel => "panel",
            FlagState::Upheld => "upheld",
            FlagState::Reversed => "reversed",
            FlagState::Handled => "handled",
            FlagState::Closed => "closed",
        }
    }

    /// The auditors' name for the state.
    pub fn zh(self) -> &'static str {
        match self {
            FlagState::Pending => "待初审",
            FlagState::Excluded => "初审排除",
            FlagState::Confirmed => "初审确认",
            FlagState::Issued => "已下发",
            FlagState::Appealed => "已申诉",
            FlagState::Panel => "合议",
            FlagState::Upheld => "复审维持",
            FlagState::Reversed => "复审撤销",
            FlagState::Handled => "已处理",
            FlagState::Closed => "完结",
        }
    }

    /// Parses a stored code.
    pub fn parse(code: &str) -> Option<FlagState> {
        FlagState::ALL.into_iter().find(|s| s.as_str() == code)
    }

    /// True once the flag has been issued (下发) to its institution: the states only [`Action::Issue`]
    /// leads to. Before that (pending review, confirmed, excluded) the institution may not see it.
    pub fn issued_to_institution(self) -> bool {
        match self {
            FlagState::Pending | FlagState::Excluded | FlagState::Confirmed => false,
            FlagState::Issued
            | FlagState::Appealed
            | FlagState::Panel
            | FlagState::Upheld
            | FlagState::Reversed
            | FlagState::Handled
            | FlagState::Closed => true,
        }
    }

    /// How a flag in this state counts in review statistics (阳性率): the one place that decides.
    pub fn review_outcome(self) -> ReviewOutcome {
        match self {
            FlagState::Pending => ReviewOutcome::Pending,
            FlagState::Excluded | FlagState::Reversed => ReviewOutcome::Negative,
            FlagState::Confirmed
            | FlagState::Issued
            | FlagState::Appealed
            | FlagState::Panel
            | FlagState::Upheld
            | FlagState::Handled
            | FlagState::Closed => ReviewOutcome::Positive,
        }
    }
}

/// How a flag counts in review statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReviewOutcome {
    /// Waiting for first review.
    Pending,
    /// Stands: confirmed at first review and not reversed (so far).
    Positive,
    /// Excluded at first review or reversed at second review: a false positive.
    Negative,
}

impl serde::Serialize for FlagState {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl fmt::Display for FlagState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.as_str(), self.zh())
    }
}

/// Who acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// Bureau administrator: may do everything an auditor may.
    Admin,
    /// Bureau auditor.
    Auditor,
    /// An institution, bound to its `fixmedins_code`: sees and appeals only its own flags.
    Institution,
}

impl Role {
    /// The stored code.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Auditor => "auditor",
            Role::Institution => "institution",
        }
    }
}

/// What the actor wants to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// 初审确认.
    Confirm,
    /// 初审排除.
    Exclude,
    /// 下发 to the institution (starts the appeal deadline).
    Issue,
    /// 申诉 (institution, before the deadline, with text).
    Appeal,
    /// 复审维持.
    Uphold,
    /// 复审撤销.
    Reverse,
    /// 提交合议.
    ReferPanel,
    /// 拒付 (handling, with an amount).
    RefusePayment,
    /// 追回 (handling, with an amount; marks the fee lines recovered).
    Recover,
    /// 完结.
    Close,
}

impl Action {
    /// Every action.
    pub const ALL: [Action; 10] = [
        Action::Confirm,
        Action::Exclude,
        Action::Issue,
        Action::Appeal,
        Action::Uphold,
        Action::Reverse,
        Action::ReferPanel,
        Action::RefusePayment,
        Action::Recover,
        Action::Close,
    ];

    /// The stored/API code.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Confirm => "confirm",
            Action::Exclude => "exclude",
            Action::Issue => "issue",
            Action::Appeal => "appeal",
            Action::Uphold => "uphold",
            Action::Reverse => "reverse",
            Action::ReferPanel => "refer_panel",
            Action::RefusePayment => "refuse_payment",
            Action::Recover => "recover",
            Action::Close => "close",
        }
    }

    /// Parses an API code.
    pub fn parse(code: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == code)
    }

    /// True for the decisions of the second review (复审: uphold, reverse, refer to the panel after an
    /// appeal) and of the panel (合议: uphold, reverse), which the first reviewer may not take when
    /// [`Policy::separate_reviewers`] is on.
    pub fn is_later_review(self, from: FlagState) -> bool {
        matches!(
            (from, self),
            (
                FlagState::Appealed,
                Action::Uphold | Action::Reverse | Action::ReferPanel
            ) | (FlagState::Panel, Action::Uphold | Action::Reverse)
        )
    }

    /// True for the handling actions, which need an amount.
    pub fn needs_amount(self) -> bool {
        matches!(self, Action::RefusePayment | Action::Recover)
    }
}

/// Why an action is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The action does not apply in this state.
    #[error("a flag in state {state} cannot be `{action}`; allowed here: {allowed}")]
    WrongState {
        /// Current state.
        state: FlagState,
        /// The action attempted.
        action: &'static str,
        /// The actions that do apply.
        allowed: String,
    },
    /// The role may not take this action.
    #[error("role {role} may not `{action}` (only {who})")]
    WrongRole {
        /// The actor's role.
        role: &'static str,
        /// The action.
        action: &'static str,
        /// Who may.
        who: &'static str,
    },
    /// An institution acting on another institution's flag.
    #[error("institution {actor} may not act on a flag of institution {flag}")]
    OtherInstitution {
        /// The actor's institution.
        actor: String,
        /// The flag's institution.
        flag: InstitutionCode,
    },
    /// The appeal deadline has passed (or, for handling without appeal, has not).
    #[error("{0}")]
    Deadline(String),
    /// A required input is missing or out of range.
    #[error("{0}")]
    Input(String),
    /// Separation of duties: the first reviewer (初审) may not take the second review (复审) or the
    /// panel's decision (合议) on the same flag.
    #[error(
        "{user} did the first review (初审) of this flag and may not `{action}` it in the {stage}: \
         another auditor must (separation of duties)"
    )]
    SameReviewer {
        /// The user who did the first review.
        user: String,
        /// The action attempted.
        action: &'static str,
        /// `second review (复审)` or `joint review (合议)`.
        stage: &'static str,
    },
}

/// Workflow settings that are the bureau's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Separation of duties: the auditor who did the first review (初审) of a flag may not take its
    /// second review (复审) or its joint review (合议). On by default.
    pub separate_reviewers: bool,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            separate_reviewers: true,
        }
    }
}

/// The actor of a transition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// User name.
    pub user: String,
    /// Role.
    pub role: Role,
    /// For institutions: the `fixmedins_code` they are bound to.
    pub institution: Option<InstitutionCode>,
}

/// What the decision needs to know about the flag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlagFacts {
    /// Current state.
    pub state: FlagState,
    /// The flag's institution.
    pub fixmedins_code: InstitutionCode,
    /// The amount at stake, in fen.
    pub amount_fen: i64,
    /// The appeal deadline, once issued.
    pub appeal_deadline_ms: Option<i64>,
    /// The user who did the first review (confirmed it), once confirmed.
    pub first_reviewer: Option<String>,
}

/// The request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The action.
    pub action: Action,
    /// Why (required for every action: the audit log keeps it).
    pub reason: String,
    /// For handling: the amount refused or recovered, in fen.
    pub amount_fen: Option<i64>,
    /// When the request is made.
    pub now_ms: i64,
}

/// (from, action, to) — every legal transition, and nothing else.
const TRANSITIONS: &[(FlagState, Action, FlagState)] = &[
    (FlagState::Pending, Action::Confirm, FlagState::Confirmed),
    (FlagState::Pending, Action::Exclude, FlagState::Excluded),
    (FlagState::Confirmed, Action::Issue, FlagState::Issued),
    (FlagState::Issued, Action::Appeal, FlagState::Appealed),
    (FlagState::Issued, Action::RefusePayment, FlagState::Handled),
    (FlagState::Issued, Action::Recover, FlagState::Handled),
    (FlagState::Appealed, Action::Uphold, FlagState::Upheld),
    (FlagState::Appealed, Action::Reverse, FlagState::Reversed),
    (FlagState::Appealed, Action::ReferPanel, FlagState::Panel),
    (FlagState::Panel, Action::Uphold, FlagState::Upheld),
    (FlagState::Panel, Action::Reverse, FlagState::Reversed),
    (FlagState::Upheld, Action::RefusePayment, FlagState::Handled),
    (FlagState::Upheld, Action::Recover, FlagState::Handled),
    (FlagState::Handled, Action::Close, FlagState::Closed),
];

/// The actions legal in `state` (for listings and error messages).
pub fn allowed_actions(state: FlagState) -> Vec<Action> {
    TRANSITIONS
        .iter()
        .filter(|(from, _, _)| *from == state)
        .map(|(_, action, _)| *action)
        .collect()
}

/// The actions to offer `user` (acting as `role`) on a flag in `state`: those the workflow allows from
/// the state for the role (申诉 is the institution's, the rest the bureau's), less the later reviews
/// that separation of duties keeps from `first_reviewer`, the auditor who did the 初审. The API's
/// `allowed_actions` and the web page's buttons both come from here.
pub fn offered_actions(
    state: FlagState,
    role: Role,
    user: &str,
    first_reviewer: Option<&str>,
    policy: Policy,
) -> Vec<Action> {
    let separated = policy.separate_reviewers && first_reviewer == Some(user);
    allowed_actions(state)
        .into_iter()
        .filter(|a| (*a == Action::Appeal) == (role == Role::Institution))
        .filter(|a| !(separated && a.is_later_review(state)))
        .collect()
}

/// Decides whether `actor` may take `request` on a flag with `facts` under `policy`; returns the new
/// state.
pub fn decide(
    facts: &FlagFacts,
    actor: &Actor,
    request: &Request,
    policy: Policy,
) -> Result<FlagState, Refusal> {
    let action = request.action;
    let Some(&(_, _, to)) = TRANSITIONS
        .iter()
        .find(|(from, a, _)| *from == facts.state && *a == action)
    else {
        let allowed: Vec<&str> = allowed_actions(facts.state)
            .into_iter()
            .map(Action::as_str)
            .collect();
        return Err(Refusal::WrongState {
            state: facts.state,
            action: action.as_str(),
            allowed: if allowed.is_empty() {
                "nothing (the flag is finished)".into()
            } else {
                allowed.join(", ")
            },
        });
    };
    match (action, actor.role) {
        (Action::Appeal, Role::Institution)
            if actor.institution.as_ref() != Some(&facts.fixmedins_code) =>
        {
            return Err(Refusal::OtherInstitution {
                actor: actor
                    .institution
                    .as_ref()
                    .map(InstitutionCode::to_string)
                    .unwrap_or_default(),
                flag: facts.fixmedins_code.clone(),
            });
        }
        (Action::Appeal, Role::Institution) => {}
        (Action::Appeal, role) => {
            return Err(Refusal::WrongRole {
                role: role.as_str(),
                action: action.as_str(),
                who: "the institution the flag was issued to",
            });
        }
        (_, Role::Institution) => {
            return Err(Refusal::WrongRole {
                role: "institution",
                action: action.as_str(),
                who: "auditors and admins",
            });
        }
        _ => {}
    }
    if policy.separate_reviewers
        && action.is_later_review(facts.state)
        && facts.first_reviewer.as_deref() == Some(actor.user.as_str())
    {
        return Err(Refusal::SameReviewer {
            user: actor.user.clone(),
            action: action.as_str(),
            stage: if facts.state == FlagState::Panel {
                "joint review (合议)"
            } else {
                "second review (复审)"
            },
        });
    }
    if request.reason.trim().is_empty() {
        return Err(Refusal::Input(format!(
            "`{}` needs a reason: it goes into the audit log",
            action.as_str()
        )));
    }
    if action == Action::Appeal
        && let Some(deadline) = facts.appeal_deadline_ms
        && request.now_ms > deadline
    {
        return Err(Refusal::Deadline(format!(
            "the appeal deadline passed ({} ms after it)",
            request.now_ms - deadline
        )));
    }
    if action.needs_amount() {
        if facts.state == FlagState::Issued
            && let Some(deadline) = facts.appeal_deadline_ms
            && request.now_ms <= deadline
        {
            return Err(Refusal::Deadline(
                "the institution may still appeal: handle an unappealed flag only after its deadline"
                    .into(),
            ));
        }
        match request.amount_fen {
            Some(amount) if amount > 0 && amount <= facts.amount_fen => {}
            Some(amount) => {
                return Err(Refusal::Input(format!(
                    "the amount must be between 0.01 and the {:.2} yuan at stake; got {:.2}",
                    facts.amount_fen as f64 / 100.0,
                    amount as f64 / 100.0
                )));
            }
            None => {
                return Err(Refusal::Input(format!(
                    "`{}` needs an amount",
                    action.as_str()
                )));
            }
        }
    }
    Ok(to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide_by_default(
        facts: &FlagFacts,
        actor: &Actor,
        request: &Request,
    ) -> Result<FlagState, Refusal> {
        decide(facts, actor, request, Policy::default())
    }

    fn code(text: &str) -> InstitutionCode {
        text.parse().expect("a valid institution code")
    }

    fn auditor() -> Actor {
        Actor {
            user: "li".into(),
            role: Role::Auditor,
            institution: None,
        }
    }

    fn facts(state: FlagState) -> FlagFacts {
        FlagFacts {
            state,
            fixmedins_code: code("H43060200175"),
            amount_fen: 41_000,
            appeal_deadline_ms: Some(1_000),
            first_reviewer: Some("wang".into()),
        }
    }

    fn request(action: Action, now_ms: i64) -> Request {
        Request {
            action,
            reason: "checked".into(),
            amount_fen: Some(41_000),
            now_ms,
        }
    }

    #[test]
    fn every_pair_outside_the_table_is_refused_with_the_allowed_actions() {
        let admin = Actor {
            role: Role::Admin,
            ..auditor()
        };
        let institution = Actor {
            user: "h".into(),
            role: Role::Institution,
            institution: Some(code("H43060200175")),
        };
        let mut legal = 0;
        for state in FlagState::ALL {
            for action in Action::ALL {
                let actor = if action == Action::Appeal {
                    &institution
                } else {
                    &admin
                };
                let now = if action == Action::Appeal { 500 } else { 2_000 };
                let result = decide_by_default(&facts(state), actor, &request(action, now));
                let in_table = TRANSITIONS
                    .iter()
                    .any(|(f, a, _)| *f == state && *a == action);
                assert_eq!(result.is_ok(), in_table, "{state:?} {action:?}: {result:?}");
                if let Err(Refusal::WrongState { allowed, .. }) = &result {
                    for a in allowed_actions(state) {
                        assert!(allowed.contains(a.as_str()));
                    }
                }
                legal += usize::from(in_table);
            }
        }
        assert_eq!(legal, TRANSITIONS.len());
    }

    #[test]
    fn roles_institutions_deadlines_and_amounts() {
        let other = Actor {
            user: "x".into(),
            role: Role::Institution,
            institution: Some(code("H99999999999")),
        };
        assert!(matches!(
            decide_by_default(
                &facts(FlagState::Issued),
                &other,
                &request(Action::Appeal, 10)
            ),
            Err(Refusal::OtherInstitution { .. })
        ));
        assert!(matches!(
            decide_by_default(
                &facts(FlagState::Issued),
                &auditor(),
                &request(Action::Appeal, 10)
            ),
            Err(Refusal::WrongRole { .. })
        ));
        let own = Actor {
            institution: Some(code("H43060200175")),
            ..other
        };
        assert!(matches!(
            decide_by_default(
                &facts(FlagState::Pending),
                &own,
                &request(Action::Confirm, 10)
            ),
            Err(Refusal::WrongState { .. }) | Err(Refusal::WrongRole { .. })
        ));
        assert!(matches!(
            decide_by_default(
                &facts(FlagState::Confirmed),
                &own,
                &request(Action::Issue, 10)
            ),
            Err(Refusal::WrongRole { .. })
        ));
        assert!(matches!(
            decide_by_default(
                &facts(FlagState::Issued),
                &own,
                &request(Action::Appeal, 1_001)
            ),
            Err(Refusal::Deadline(_))
        ));
        assert!(matches!(
            decide_by_default(
                &facts(FlagState::Issued),
                &auditor(),
                &request(Action::Recover, 999)
            ),
            Err(Refusal::Deadline(_))
        ));
        let mut too_much = request(Action::Recover, 2_000);
        too_much.amount_fen = Some(41_001);
        assert!(matches!(
            decide_by_default(&facts(FlagState::Upheld), &auditor(), &too_much),
            Err(Refusal::Input(_))
        ));
        let mut no_reason = request(Action::Confirm, 0);
        no_reason.reason = " ".into();
        assert!(matches!(
            decide_by_default(&facts(FlagState::Pending), &auditor(), &no_reason),
            Err(Refusal::Input(_))
        ));
    }
}

#[cfg(test)]
mod separation_of_duties {
    use super::*;

    fn actor(user: &str) -> Actor {
        Actor {
            user: user.into(),
            role: Role::Auditor,
            institution: None,
        }
    }

    fn facts(state: FlagState) -> FlagFacts {
        FlagFacts {
            state,
            fixmedins_code: "H43060200175".parse().expect("code"),
            amount_fen: 100,
            appeal_deadline_ms: Some(0),
            first_reviewer: Some("wang".into()),
        }
    }

    fn request(action: Action) -> Request {
        Request {
            action,
            reason: "reviewed".into(),
            amount_fen: Some(100),
            now_ms: 10,
        }
    }

    #[test]
    fn the_first_reviewer_may_not_take_the_second_or_the_joint_review() {
        for (state, action) in [
            (FlagState::Appealed, Action::Uphold),
            (FlagState::Appealed, Action::Reverse),
            (FlagState::Appealed, Action::ReferPanel),
            (FlagState::Panel, Action::Uphold),
            (FlagState::Panel, Action::Reverse),
        ] {
            let refused = decide(
                &facts(state),
                &actor("wang"),
                &request(action),
                Policy::default(),
            );
            assert!(
                matches!(&refused, Err(Refusal::SameReviewer { user, .. }) if user == "wang"),
                "{state:?} {action:?}: {refused:?}"
            );
            assert!(
                decide(
                    &facts(state),
                    &actor("zhao"),
                    &request(action),
                    Policy::default()
                )
                .is_ok(),
                "another auditor may"
            );
            let relaxed = Policy {
                separate_reviewers: false,
            };
            assert!(decide(&facts(state), &actor("wang"), &request(action), relaxed).is_ok());
        }
        // The first reviewer still issues and handles the flag: only the reviews are separated.
        assert!(
            decide(
                &facts(FlagState::Confirmed),
                &actor("wang"),
                &request(Action::Issue),
                Policy::default()
            )
            .is_ok()
        );
        assert!(
            decide(
                &facts(FlagState::Upheld),
                &actor("wang"),
                &request(Action::Recover),
                Policy::default()
            )
            .is_ok()
        );
    }

    #[test]
    fn institutions_see_a_flag_only_once_it_is_issued() {
        let hidden: Vec<FlagState> = FlagState::ALL
            .into_iter()
            .filter(|s| !s.issued_to_institution())
            .collect();
        assert_eq!(
            hidden,
            [
                FlagState::Pending,
                FlagState::Excluded,
                FlagState::Confirmed
            ]
        );
        // Every state reachable from `issued` is visible, and `issue` leads to one.
        for (from, action, to) in TRANSITIONS {
            if *action == Action::Issue || from.issued_to_institution() {
                assert!(to.issued_to_institution(), "{from:?} -{action:?}-> {to:?}");
            }
        }
    }
}
