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

    /// The parameter parsed by `parse`, `None` when absent. Taken as given (no trimming); given with
    /// an empty value (`?to=`) it is refused: the OpenAPI document says what each parameter takes,
    /// and an empty string is none of those (leave the parameter out instead).
    pub fn get<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        match self.0.get(name).map(String::as_str) {
            None => Ok(None),
            Some("") => Err(ApiError::bad_request(
                name,
                "empty; leave the parameter out instead",
            )),
            Some(value) => parse(value)
                .map(Some)
                .map_err(|e| ApiError::bad_request(name, format!("{value:?}: {e}"))),
        }
    }

    /// A parameter written exactly as `shape` (`9` for a digit, any other character as itself: `9999-99`
    /// for a month), then parsed by `parse`; the shape is the document's pattern for it.
    pub fn shaped<T, E: std::fmt::Display>(
        &self,
        name: &str,
        shape: &str,
        parse: impl FnOnce(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.get(name, |v| {
            if has_shape(v, shape) {
                parse(v).map_err(|e| e.to_string())
            } else {
                Err(format!("written as {shape} (9: a digit)"))
            }
        })
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

/// Whether `value` is written as `shape`: `9` a digit, any other character itself.
pub fn has_shape(value: &str, shape: &str) -> bool {
    value.len() == shape.len()
        && value.bytes().zip(shape.bytes()).all(|(v, s)| match s {
            b'9' => v.is_ascii_digit(),
            _ => v == s,
        })
}

#[cfg(test)]
mod tests {
    use super::has_shape;

    #[test]
    fn shapes_are_exact() {
        assert!(has_shape("2026-11", "9999-99"));
        assert!(has_shape("2026-Q4", "9999-Q9"));
        for bad in [
            "2026-1", "+2026-11", " 2026-11", "2026-11 ", "2026/11", "20261-1",
        ] {
            assert!(!has_shape(bad, "9999-99"), "{bad:?}");
        }
    }
}
