//! Query parameters parsed into types at the edge: each bad, repeated or unknown parameter is a 400
//! naming it.

use super::error::ApiError;
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use std::collections::HashMap;

/// The query's parameters by name, each at most once, all of them among `known`.
#[derive(Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// Checks the raw pairs.
    pub fn parse(
        raw: Result<Query<Vec<(String, String)>>, QueryRejection>,
        known: &[&str],
    ) -> Result<Params, ApiError> {
        let Query(pairs) = raw.map_err(|e| ApiError::bad_request("query", e.body_text()))?;
        let mut map = HashMap::new();
        for (name, value) in pairs {
            if !known.contains(&name.as_str()) {
                return Err(ApiError::bad_request(
                    &name,
                    format!("unknown parameter; known: {}", known.join(", ")),
                ));
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(ApiError::bad_request(&name, "given more than once"));
            }
        }
        Ok(Params(map))
    }

    /// The parameter parsed by `parse`, `None` when absent or empty.
    pub fn get<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        match self.0.get(name).map(|v| v.trim()).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(value) => parse(value)
                .map(Some)
                .map_err(|e| ApiError::bad_request(name, format!("{value:?}: {e}"))),
        }
    }

    /// A text parameter of at most `max` characters.
    pub fn text(&self, name: &str, max: usize) -> Result<Option<String>, ApiError> {
        self.get(name, |v| {
            if v.chars().count() > max || v.chars().any(char::is_control) {
                Err(format!("at most {max} printable characters"))
            } else {
                Ok(v.to_owned())
            }
        })
    }

    /// An integer parameter within `range`.
    pub fn int(
        &self,
        name: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Result<Option<i64>, ApiError> {
        self.get(name, |v| match v.parse::<i64>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(format!(
                "must be a whole number from {} to {}",
                range.start(),
                range.end()
            )),
        })
    }
}
