//! What a user can see of their account's activity, and end: their sessions (where they are
//! signed in; end one, or all but this one) and their security log. Administrators read and end
//! the same for any user under `/users/{id}/...`.
//!
//! A session is live by the one rule of `live_sessions` (migrations/0012): listing and ending read
//! it, and ending one is what logout does (its access and refresh tokens stop at once).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shared::error::{ApiError, FieldError, Result};
use shared::http::{Query, SourceIp};
use tokio_postgres::types::Type;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::admin::Admin;
use crate::security_log::{self, Event, Origin, SecurityEvent};
use crate::state::AuthState;
use crate::users::Principal;

/// One live session, as its user sees it.
#[derive(Serialize, ToSchema)]
pub struct SessionInfo {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: time::OffsetDateTime,
    /// When it last signed in or refreshed its tokens (refreshes happen every access-token
    /// lifetime, so this is exact to that).
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: time::OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: time::OffsetDateTime,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// A readable summary of `user_agent`, such as `Firefox on Linux`.
    #[schema(example = "Chrome on macOS")]
    pub device: String,
    /// The session of the token that asked.
    pub current: bool,
}

async fn live_sessions_of(
    state: &AuthState,
    user_id: Uuid,
    current: Option<Uuid>,
) -> Result<Vec<SessionInfo>> {
    let rows = state
        .db
        .query(
            "select s.id, s.created_at, s.last_used_at, s.expires_at, s.source_ip, s.user_agent
               from sessions s
              where s.id in (select id from live_sessions where user_id = $1)
              order by s.last_used_at desc, s.id",
            &[(&user_id, Type::UUID)],
        )
        .await?;
    Ok(rows
        .iter()
        .map(|row| {
            let id: Uuid = row.get(0);
            let user_agent: Option<String> = row.get(5);
            SessionInfo {
                id,
                created_at: row.get(1),
                last_used_at: row.get(2),
                expires_at: row.get(3),
                ip: row.get(4),
                device: device(user_agent.as_deref()),
                user_agent,
                current: Some(id) == current,
            }
        })
        .collect())
}

/// Ends `session` of `user_id` if it is live; false when there was none to end. Logout, ending one
/// of one's sessions and an administrator's ending one are this one statement.
pub(crate) async fn end_session(state: &AuthState, user_id: Uuid, session: Uuid) -> Result<bool> {
    let ended = state
        .db
        .execute(
            "update sessions set revoked_at = now()
              where id = (select id from live_sessions where id = $1 and user_id = $2)",
            &[(&session, Type::UUID), (&user_id, Type::UUID)],
        )
        .await?;
    Ok(ended == 1)
}

fn session_id(raw: &str) -> Result<Uuid> {
    raw.parse()
        .map_err(|_| ApiError::not_found("Session not found"))
}

/// A user id from a path: anything that is not one is a user that does not exist (404).
pub(crate) fn user_id(raw: &str) -> Result<Uuid> {
    raw.parse()
        .map_err(|_| ApiError::not_found("User not found"))
}

/// Where the caller is signed in: every live session, most recently used first.
#[utoipa::path(get, path = "/users/me/sessions", operation_id = "listMySessions", tag = "users", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 200, description = "The caller's live sessions", body = Vec<SessionInfo>)))]
pub async fn list_mine(
    State(state): State<AuthState>,
    principal: Principal,
) -> Result<axum::Json<Vec<SessionInfo>>> {
    let sessions = live_sessions_of(&state, principal.user.id, Some(principal.session_id)).await?;
    Ok(axum::Json(sessions))
}

/// Ends one of the caller's sessions (a lost laptop): its access and refresh tokens stop at once.
#[utoipa::path(delete, path = "/users/me/sessions/{session_id}", operation_id = "endMySession", tag = "users", security(("bearer" = []), ("oauth2_password" = [])),
    params(("session_id" = String, Path, description = "The session's id (from the list)")),
    responses(
        (status = 204, description = "Ended"),
        (status = 404, description = "No live session of the caller has this id"),
    ))]
pub async fn end_mine(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
    Path(raw): Path<String>,
) -> Result<StatusCode> {
    let session = session_id(&raw)?;
    if !end_session(&state, principal.user.id, session).await? {
        return Err(ApiError::not_found("Session not found"));
    }
    let origin = Origin::new(ip.as_deref(), &headers);
    let event = Event::SessionEnded {
        session,
        by_admin: false,
    };
    state
        .log_event(
            principal.user.id,
            &origin,
            Some(principal.session_id),
            event,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Ends every session of the caller but this one.
#[utoipa::path(post, path = "/auth/logout-others", operation_id = "logoutOthers", tag = "auth", security(("bearer" = []), ("oauth2_password" = [])),
    responses((status = 204, description = "Every other session ended")))]
pub async fn logout_others(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    principal: Principal,
) -> Result<StatusCode> {
    let ended = state
        .db
        .execute(
            "update sessions set revoked_at = now()
              where id in (select id from live_sessions where user_id = $1 and id <> $2)",
            &[
                (&principal.user.id, Type::UUID),
                (&principal.session_id, Type::UUID),
            ],
        )
        .await?;
    let origin = Origin::new(ip.as_deref(), &headers);
    let event = Event::SessionsEnded {
        count: ended as i64,
        scope: "others",
    };
    state
        .log_event(
            principal.user.id,
            &origin,
            Some(principal.session_id),
            event,
        )
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// A user's live sessions. Administrators only.
#[utoipa::path(get, path = "/users/{id}/sessions", operation_id = "listUserSessions", tag = "admin", security(("bearer" = []), ("oauth2_password" = [])),
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    responses(
        (status = 200, description = "The user's live sessions (`current` is always false)", body = Vec<SessionInfo>),
        (status = 403, description = "Administrator role required"),
        (status = 404, description = "`id` is not a user id"),
    ))]
pub async fn list_for_admin(
    State(state): State<AuthState>,
    _admin: Admin,
    Path(raw): Path<String>,
) -> Result<axum::Json<Vec<SessionInfo>>> {
    let user = user_id(&raw)?;
    Ok(axum::Json(live_sessions_of(&state, user, None).await?))
}

/// Ends one of a user's sessions. Administrators only.
#[utoipa::path(delete, path = "/users/{id}/sessions/{session_id}", operation_id = "endUserSession", tag = "admin", security(("bearer" = []), ("oauth2_password" = [])),
    params(("id" = String, Path, description = "The user's id (a UUID)"),
           ("session_id" = String, Path, description = "The session's id")),
    responses(
        (status = 204, description = "Ended"),
        (status = 403, description = "Administrator role required"),
        (status = 404, description = "No live session of this user has this id"),
    ))]
pub async fn end_for_admin(
    State(state): State<AuthState>,
    SourceIp(ip): SourceIp,
    headers: HeaderMap,
    Admin(admin): Admin,
    Path((raw_user, raw_session)): Path<(String, String)>,
) -> Result<StatusCode> {
    let user = user_id(&raw_user)?;
    let session = session_id(&raw_session)?;
    if !end_session(&state, user, session).await? {
        return Err(ApiError::not_found("Session not found"));
    }
    tracing::info!(admin = %admin.user.id, %user, %session, "session ended by admin");
    let origin = Origin::new(ip.as_deref(), &headers);
    let event = Event::SessionEnded {
        session,
        by_admin: true,
    };
    state.log_event(user, &origin, None, event).await;
    Ok(StatusCode::NO_CONTENT)
}

const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Page size, 1 to 200 (default 50).
    #[serde(default)]
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    limit: Option<String>,
    /// From the previous page's `Link: rel="next"`.
    #[serde(default)]
    cursor: Option<String>,
}

impl LogQuery {
    fn limit(&self) -> Result<i64> {
        super::page_limit(self.limit.as_deref(), DEFAULT_PAGE, MAX_PAGE)
    }

    /// The cursor is the id of the last event of the previous page.
    fn before(&self) -> Result<Option<i64>> {
        match self.cursor.as_deref() {
            None => Ok(None),
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .map(Some)
                .ok_or_else(|| {
                    ApiError::invalid_field(FieldError::new(
                        &["query", "cursor"],
                        "cursor is not valid",
                        "value_error",
                    ))
                }),
        }
    }
}

/// One page of `user`'s log, newest first, with `X-Total-Count` and `Link: rel="next"` as the
/// task list has them.
async fn log_page(state: &AuthState, user: Uuid, path: &str, query: &LogQuery) -> Result<Response> {
    let limit = query.limit()?;
    let (mut events, total) = security_log::page(&state.db, user, query.before()?, limit).await?;
    let has_more = events.len() as i64 > limit;
    events.truncate(limit as usize);
    let next = has_more
        .then(|| events.last().map(|last| last.id))
        .flatten();
    let mut response = axum::Json(&events).into_response();
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let Some(last) = next {
        let link = format!("<{path}?limit={limit}&cursor={last}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::from_str(&link) {
            headers.insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// What happened to the caller's account, newest first.
#[utoipa::path(get, path = "/users/me/security-log", operation_id = "getMySecurityLog", tag = "users", security(("bearer" = []), ("oauth2_password" = [])), params(LogQuery),
    responses((status = 200, description = "One page of events", body = Vec<SecurityEvent>,
        headers(("X-Total-Count" = i64, description = "Number of events kept"),
                ("Link" = String, description = "`rel=\"next\"` URL of the next page, when there is one")))))]
pub async fn security_log_mine(
    State(state): State<AuthState>,
    principal: Principal,
    Query(query): Query<LogQuery>,
) -> Result<Response> {
    log_page(&state, principal.user.id, "/users/me/security-log", &query).await
}

/// What happened to a user's account. Administrators only.
#[utoipa::path(get, path = "/users/{id}/security-log", operation_id = "getUserSecurityLog", tag = "admin", security(("bearer" = []), ("oauth2_password" = [])),
    params(("id" = String, Path, description = "The user's id (a UUID)"), LogQuery),
    responses(
        (status = 200, description = "One page of events", body = Vec<SecurityEvent>),
        (status = 403, description = "Administrator role required"),
        (status = 404, description = "`id` is not a user id"),
    ))]
pub async fn security_log_for_admin(
    State(state): State<AuthState>,
    _admin: Admin,
    Path(raw): Path<String>,
    Query(query): Query<LogQuery>,
) -> Result<Response> {
    let user = user_id(&raw)?;
    let path = format!("/users/{user}/security-log");
    log_page(&state, user, &path, &query).await
}

/// `Firefox on Linux`, `Chrome on Android`, `curl`: enough to tell one's devices apart. The
/// browser is the first of these the agent names (Edge and Opera also say Chrome; Chrome also says
/// Safari), the system likewise.
fn device(user_agent: Option<&str>) -> String {
    let Some(agent) = user_agent.filter(|agent| !agent.trim().is_empty()) else {
        return "Unknown device".to_owned();
    };
    const BROWSERS: [(&str, &str); 9] = [
        ("Edg/", "Edge"),
        ("OPR/", "Opera"),
        ("Firefox/", "Firefox"),
        ("Chrome/", "Chrome"),
        ("Safari/", "Safari"),
        ("curl/", "curl"),
        ("python-requests/", "Python requests"),
        ("node", "Node.js"),
        ("okhttp/", "OkHttp"),
    ];
    const SYSTEMS: [(&str, &str); 7] = [
        ("Android", "Android"),
        ("iPhone", "iOS"),
        ("iPad", "iPadOS"),
        ("Windows", "Windows"),
        ("Mac OS X", "macOS"),
        ("CrOS", "ChromeOS"),
        ("Linux", "Linux"),
    ];
    let find = |list: &[(&str, &'static str)]| {
        list.iter()
            .find(|(marker, _)| agent.contains(marker))
            .map(|(_, name)| *name)
    };
    match (find(&BROWSERS), find(&SYSTEMS)) {
        (Some(browser), Some(system)) => format!("{browser} on {system}"),
        (Some(browser), None) => browser.to_owned(),
        (None, Some(system)) => format!("A browser on {system}"),
        (None, None) => "Unknown device".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::device;

    #[test]
    fn common_agents_read_as_browser_on_system() {
        let cases = [
            ("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"),
            ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on macOS"),
            ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"),
            ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"),
            ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"),
            ("curl/8.5.0", "curl"),
        ];
        for (agent, expected) in cases {
            assert_eq!(device(Some(agent)), expected, "{agent}");
        }
        assert_eq!(device(None), "Unknown device");
        assert_eq!(device(Some("  ")), "Unknown device");
        assert_eq!(device(Some("something else")), "Unknown device");
    }
}
