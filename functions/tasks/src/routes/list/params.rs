//! The `GET /api/{user_id}/tasks` query parsed, each field with its own 422: filters, search,
//! sort, page size and the keyset cursor; and the next page's query string.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use shared::error::{ApiError, FieldError};
use time::OffsetDateTime;

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 500;
const MAX_QUERY_CHARS: usize = 200;

/// The raw query string; every field is parsed into [`ListParams`] with a field-level 422.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RawListQuery {
    /// Only completed (`true`) or only open (`false`) tasks.
    #[param(value_type = Option<bool>)]
    completed: Option<String>,
    /// Case-insensitive search in title and description, at most 200 characters.
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    q: Option<String>,
    /// `created_at` (default), `updated_at` or `title`; a leading `-` sorts descending.
    #[param(pattern = "^-?(created_at|updated_at|title)$")]
    sort: Option<String>,
    /// Page size, 1 to 500 (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 500)]
    limit: Option<String>,
    /// From the previous page's `Link: rel="next"`; only valid with the same `sort`.
    cursor: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKey {
    CreatedAt,
    UpdatedAt,
    Title,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sort {
    pub key: SortKey,
    pub descending: bool,
}

impl Sort {
    pub fn parse(raw: &str) -> Option<Self> {
        let (descending, name) = match raw.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, raw),
        };
        let key = match name {
            "created_at" => SortKey::CreatedAt,
            "updated_at" => SortKey::UpdatedAt,
            "title" => SortKey::Title,
            _ => return None,
        };
        Some(Self { key, descending })
    }

    pub fn as_param(self) -> String {
        let name = match self.key {
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Title => "title",
        };
        if self.descending {
            format!("-{name}")
        } else {
            name.to_owned()
        }
    }

    /// The column, as written in SQL.
    pub fn column(self) -> &'static str {
        match self.key {
            SortKey::CreatedAt => "created_at",
            SortKey::UpdatedAt => "updated_at",
            SortKey::Title => "title",
        }
    }
}

/// Where the previous page ended: the sort value and id of its last task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum After {
    Time(OffsetDateTime, i64),
    Title(String, i64),
}

impl After {
    pub fn encode(&self, sort: Sort) -> String {
        let text = match self {
            After::Time(at, id) => {
                format!("{}|{}|{id}", sort.as_param(), at.unix_timestamp_nanos())
            }
            After::Title(title, id) => format!("{}|{title}|{id}", sort.as_param()),
        };
        URL_SAFE_NO_PAD.encode(text)
    }

    fn decode(raw: &str, sort: Sort) -> Option<Self> {
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(raw).ok()?).ok()?;
        let (cursor_sort, rest) = text.split_once('|')?;
        let (value, id) = rest.rsplit_once('|')?;
        if cursor_sort != sort.as_param() {
            return None;
        }
        let id: i64 = id.parse().ok()?;
        Some(match sort.key {
            // No title holds NUL (PostgreSQL text cannot), and as a query parameter it would be a 500.
            SortKey::Title if value.contains('\0') => return None,
            SortKey::Title => After::Title(value.to_owned(), id),
            _ => After::Time(
                OffsetDateTime::from_unix_timestamp_nanos(value.parse().ok()?)
                    .ok()
                    // Rows are stamped by now(); PostgreSQL refuses years before 4713 BC (a 500).
                    .filter(|at| at.year() >= 1)?,
                id,
            ),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListParams {
    pub completed: Option<bool>,
    pub search: Option<String>,
    pub sort: Sort,
    pub limit: i64,
    pub after: Option<After>,
}

fn query_error(field: &str, msg: &str) -> ApiError {
    ApiError::invalid_field(FieldError::new(&["query", field], msg, "value_error"))
}

impl ListParams {
    pub fn parse(raw: RawListQuery) -> Result<Self, ApiError> {
        let completed = match raw.completed.as_deref() {
            None => None,
            Some("true") => Some(true),
            Some("false") => Some(false),
            Some(_) => return Err(query_error("completed", "completed must be true or false")),
        };
        let search = match raw.q {
            Some(q) if q.chars().count() > MAX_QUERY_CHARS => {
                return Err(query_error("q", "q must be at most 200 characters"))
            }
            Some(q) if q.contains('\0') => {
                return Err(query_error("q", "q must not contain NUL characters"))
            }
            Some(q) if q.trim().is_empty() => None,
            other => other,
        };
        let sort = match raw.sort.as_deref() {
            None => Sort {
                key: SortKey::CreatedAt,
                descending: false,
            },
            Some(raw) => Sort::parse(raw).ok_or_else(|| {
                query_error(
                    "sort",
                    "sort must be one of created_at, -created_at, updated_at, -updated_at, title, -title",
                )
            })?,
        };
        let limit = match raw.limit.as_deref() {
            None => DEFAULT_LIMIT,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    query_error("limit", "limit must be a whole number from 1 to 500")
                })?,
        };
        let after = match raw.cursor.as_deref() {
            None => None,
            Some(raw) => Some(
                After::decode(raw, sort)
                    .ok_or_else(|| query_error("cursor", "cursor is not valid for this sort"))?,
            ),
        };
        Ok(Self {
            completed,
            search,
            sort,
            limit,
            after,
        })
    }

    /// `q` as a LIKE pattern body: `%`, `_` and `\` match themselves.
    pub fn like_pattern(&self) -> Option<String> {
        self.search.as_ref().map(|q| {
            let mut escaped = String::with_capacity(q.len() + 2);
            for c in q.chars() {
                if matches!(c, '%' | '_' | '\\') {
                    escaped.push('\\');
                }
                escaped.push(c);
            }
            escaped
        })
    }

    /// The query string of the next page.
    pub fn next_query(&self, after: &After) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(completed) = self.completed {
            query.append_pair("completed", if completed { "true" } else { "false" });
        }
        if let Some(q) = &self.search {
            query.append_pair("q", q);
        }
        query.append_pair("sort", &self.sort.as_param());
        query.append_pair("limit", &self.limit.to_string());
        query.append_pair("cursor", &after.encode(self.sort));
        query.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawListQuery {
        let query = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        shared::http::parse_query(&query).unwrap()
    }

    #[test]
    fn defaults() {
        let params = ListParams::parse(RawListQuery::default()).unwrap();
        assert_eq!(params.limit, 100);
        assert_eq!(params.sort.as_param(), "created_at");
        assert!(params.completed.is_none() && params.after.is_none());
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        for pairs in [
            [("limit", "0")],
            [("limit", "501")],
            [("limit", "ten")],
            [("limit", "-5")],
            [("completed", "yes")],
            [("sort", "priority")],
            [("sort", "--title")],
            [("cursor", "garbage")],
        ] {
            assert!(ListParams::parse(raw(&pairs)).is_err(), "{pairs:?}");
        }
        assert!(ListParams::parse(raw(&[("q", &"x".repeat(201))])).is_err());
    }

    #[test]
    fn cursor_round_trips_and_is_bound_to_its_sort() {
        let sort = Sort::parse("-title").unwrap();
        let after = After::Title("a|b|c".into(), 7);
        let encoded = after.encode(sort);
        assert_eq!(After::decode(&encoded, sort), Some(after));
        assert_eq!(After::decode(&encoded, Sort::parse("title").unwrap()), None);
        let at = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_000).unwrap();
        let sort = Sort::parse("updated_at").unwrap();
        assert_eq!(
            After::decode(&After::Time(at, 3).encode(sort), sort),
            Some(After::Time(at, 3))
        );
    }

    #[test]
    fn title_cursor_with_nul_is_refused() {
        // Found by fuzzing (path_query): the title went to PostgreSQL, which refuses NUL in text.
        let sort = Sort::parse("title").unwrap();
        let forged = URL_SAFE_NO_PAD.encode("title|a\0b|4");
        assert_eq!(After::decode(&forged, sort), None);
        assert!(ListParams::parse(raw(&[("sort", "title"), ("cursor", &forged)])).is_err());
    }

    #[test]
    fn time_cursor_before_year_one_is_refused() {
        // Found by fuzzing (path_query): -9999-01-01 went to PostgreSQL: "timestamp out of range".
        let sort = Sort::parse("created_at").unwrap();
        let forged = URL_SAFE_NO_PAD.encode("created_at|-377705116800000000000|1");
        assert_eq!(After::decode(&forged, sort), None);
        let first = OffsetDateTime::from_unix_timestamp(-62_135_596_800).unwrap();
        let after = After::Time(first, 1);
        assert_eq!(After::decode(&after.encode(sort), sort), Some(after));
    }

    #[test]
    fn like_metacharacters_are_escaped() {
        let params = ListParams::parse(raw(&[("q", "100%_\\")])).unwrap();
        assert_eq!(params.like_pattern().unwrap(), "100\\%\\_\\\\");
    }

    #[test]
    fn next_query_keeps_the_filters() {
        let params = ListParams::parse(raw(&[
            ("completed", "false"),
            ("q", "a b&c"),
            ("sort", "-created_at"),
            ("limit", "5"),
        ]))
        .unwrap();
        let next = params.next_query(&After::Time(OffsetDateTime::UNIX_EPOCH, 9));
        assert!(
            next.starts_with("completed=false&q=a+b%26c&sort=-created_at&limit=5&cursor="),
            "{next}"
        );
    }
}
