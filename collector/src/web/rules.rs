//! 规则库 / 知识库 Rules and knowledge: the knowledge base's billed items (the ward and the presence
//! each unit implies) and every rule with its names, scenario, enabled flag, thresholds and own version (bureau
//! users), and for admins a form per threshold that stores a new rules version. The edit goes through
//! exactly what `rules import` does: the rules in force are written out as a rules file with the one
//! threshold changed, [`RulesFile::parse`] checks it (types and ranges per rule), and
//! [`crate::store::Store::import_rules`] stores it as the next version (a rule keeps its own version
//! unless its definition changed).

use super::page::{Fields, PageError, Signed, redirect, render};
use crate::api::ApiState;
use crate::knowledge::Unit;
use crate::rules::base::{RuleDefinition, RulesBaseError, RulesFile};
use axum::extract::{Form, Path, Query, State};
use axum::response::Response;
use minijinja::context;
use serde::Serialize;

impl From<RulesBaseError> for PageError {
    fn from(e: RulesBaseError) -> Self {
        match e {
            RulesBaseError::Parse { message, .. } => PageError::bad_request(message),
            RulesBaseError::Store(e) => PageError::internal(e),
        }
    }
}

/// A rules file as written for an edit (the shape `rules import` reads).
#[derive(Debug, Serialize)]
struct EditedFile<'a> {
    note: String,
    rule: &'a [RuleDefinition],
}

/// A threshold as shown.
#[derive(Debug, Serialize)]
struct Threshold {
    name: String,
    value: String,
}

/// A rule as shown.
#[derive(Debug, Serialize)]
struct ShownRule {
    id: String,
    name_zh: String,
    name_en: String,
    scenario: String,
    enabled: bool,
    version: i64,
    thresholds: Vec<Threshold>,
}

/// `value` typed like `current` (an integer stays an integer, a number a number, a switch a switch).
fn typed_like(current: &toml::Value, value: &str) -> Result<toml::Value, String> {
    let value = value.trim();
    let bad = |what: &str| format!("{value:?} is not {what}");
    match current {
        toml::Value::Integer(_) => value
            .parse()
            .map(toml::Value::Integer)
            .map_err(|_| bad("a whole number")),
        toml::Value::Float(_) => value
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(toml::Value::Float)
            .ok_or_else(|| bad("a number")),
        toml::Value::Boolean(_) => value
            .parse()
            .map(toml::Value::Boolean)
            .map_err(|_| bad("true or false")),
        _ => Ok(toml::Value::String(value.to_owned())),
    }
}

/// A knowledge item as shown.
#[derive(Debug, Serialize)]
struct ShownItem {
    hilist_code: String,
    name_zh: String,
    name_en: String,
    ward_kind: &'static str,
    unit: &'static str,
    min_presence_minutes: u32,
}

/// `GET /rules` (bureau users).
pub async fn show(
    State(state): State<ApiState>,
    signed: Signed,
    Query(query): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    signed.bureau_only()?;
    let base = state.store.rules_base().await?;
    let rules: Vec<ShownRule> = base
        .rules
        .iter()
        .map(|r| ShownRule {
            id: r.definition.id.clone(),
            name_zh: r.definition.name_zh.clone(),
            name_en: r.definition.name_en.clone(),
            scenario: r.definition.scenario.clone(),
            enabled: r.definition.enabled,
            version: r.rule_version,
            thresholds: r
                .definition
                .params
                .iter()
                .map(|(name, value)| Threshold {
                    name: name.clone(),
                    value: match value {
                        toml::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    },
                })
                .collect(),
        })
        .collect();
    let knowledge = state.store.knowledge().await.map_err(PageError::internal)?;
    let items: Vec<ShownItem> = knowledge
        .items
        .iter()
        .map(|i| ShownItem {
            hilist_code: i.hilist_code.clone(),
            name_zh: i.name_zh.clone(),
            name_en: i.name_en.clone(),
            ward_kind: i.ward_kind.as_str(),
            unit: match i.unit {
                Unit::Session => "session",
                Unit::Day => "day",
            },
            min_presence_minutes: i.min_presence_minutes,
        })
        .collect();
    let values = context! {
        knowledge_version => knowledge.version,
        items => items,
        version => base.version,
        note => base.note,
        rules => rules,
        may_edit => signed.authed.user.role == crate::users::UserRole::Admin,
        saved => Fields(query).get("saved").map(str::to_owned),
    };
    Ok(render(&signed.ctx, "rules.html", values))
}

/// `POST /rules/{id}` (admins; `csrf`, `param`, `value`, `note`): one threshold changed, as a new
/// rules version.
pub async fn edit(
    State(state): State<ApiState>,
    signed: Signed,
    Path(rule_id): Path<String>,
    Form(fields): Form<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let form = Fields(fields);
    signed.check_csrf(&form)?;
    signed.admin_only()?;
    let base = state.store.rules_base().await?;
    let mut definitions: Vec<RuleDefinition> =
        base.rules.iter().map(|r| r.definition.clone()).collect();
    let param = form.get("param").unwrap_or_default();
    let value = form.get("value").unwrap_or_default();
    let note = form.get("note").map(str::trim).unwrap_or_default();
    if note.is_empty() || note.chars().count() > 500 {
        return Err(PageError::bad_request("note: 1 to 500 characters"));
    }
    let definition = definitions
        .iter_mut()
        .find(|d| d.id == rule_id)
        .ok_or_else(PageError::not_found)?;
    let current = definition.params.get(param).ok_or_else(|| {
        PageError::bad_request(format!("param={param:?}: not a threshold of {rule_id}"))
    })?;
    let typed = typed_like(current, value)
        .map_err(|why| PageError::bad_request(format!("{rule_id}.{param}: {why}")))?;
    if &typed == current {
        return Err(PageError::bad_request(format!(
            "{rule_id}.{param}: unchanged ({value})"
        )));
    }
    definition.params.insert(param.to_owned(), typed);
    let user = &signed.authed.user.name;
    let text = toml::to_string(&EditedFile {
        note: format!("{note} ({user}: {rule_id}.{param} = {value})"),
        rule: &definitions,
    })
    .map_err(PageError::internal)?;
    let source = format!("web: {user}");
    // The same checks as `rules import`: a value out of its rule's range is refused here, naming it.
    let parsed = RulesFile::parse(&source, &text)?;
    let version = state.store.import_rules(&parsed, &source, &text).await?;
    Ok(redirect(
        &format!("/rules?saved={version}"),
        format!("rules version {version}: {rule_id}.{param} = {value}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_type() {
        let int = toml::Value::Integer(30);
        assert_eq!(typed_like(&int, " 45 "), Ok(toml::Value::Integer(45)));
        assert!(typed_like(&int, "4.5").is_err());
        let float = toml::Value::Float(0.5);
        assert_eq!(typed_like(&float, "0.6"), Ok(toml::Value::Float(0.6)));
        assert!(typed_like(&float, "NaN").is_err());
        assert!(typed_like(&toml::Value::Boolean(true), "yes").is_err());
    }
}
