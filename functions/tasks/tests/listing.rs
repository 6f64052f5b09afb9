//! Listing: filters, search, every sort, and a 1,050-task walk with no duplicate and no gap.

use crate::common;

use std::collections::HashSet;

use common::{TestApp, User};
use http::{Method, StatusCode};
use serde_json::{json, Value};

/// Follows `Link: rel="next"` from `first` to the end; returns every task seen, in order.
async fn walk(app: &TestApp, user: &User, first: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    let mut next = Some(first.to_owned());
    let mut pages = 0;
    while let Some(path) = next {
        let page = app.call(Method::GET, &path, &user.token, None).await;
        assert_eq!(page.status, StatusCode::OK, "{path}: {}", page.body);
        assert_eq!(page.headers["x-total-count"], "1050");
        seen.extend(page.body.as_array().unwrap().iter().cloned());
        next = page.headers.get("link").map(|link| {
            let link = link.to_str().unwrap();
            assert!(link.ends_with("; rel=\"next\""), "{link}");
            link.trim_start_matches('<')
                .split('>')
                .next()
                .unwrap()
                .to_owned()
        });
        pages += 1;
        assert!(pages < 100, "runaway pagination");
    }
    seen
}

#[tokio::test]
async fn pagination_walks_1050_tasks_under_every_sort_without_duplicate_or_gap() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    // Many tasks share a created_at (one statement) and titles repeat, so ties must break on id.
    app.sql()
        .await
        .execute(
            "insert into tasks (issuer, user_id, owner_id, title, completed, updated_at)
             select '', $1, $1::text::uuid, 'title ' || (g % 37), g % 3 = 0, now() - (g % 11) * interval '1 minute'
               from generate_series(1, 1050) g",
            &[&user.id],
        )
        .await
        .unwrap();
    let other = app.user("other@example.com").await;
    app.create(&other, json!({"title": "not yours"})).await;

    for sort in [
        "created_at",
        "-created_at",
        "updated_at",
        "-updated_at",
        "title",
        "-title",
    ] {
        let seen = walk(
            &app,
            &user,
            &format!("/api/{}/tasks?sort={sort}&limit=100", user.id),
        )
        .await;
        assert_eq!(seen.len(), 1050, "{sort}");
        let ids: HashSet<i64> = seen.iter().map(|t| t["id"].as_i64().unwrap()).collect();
        assert_eq!(ids.len(), 1050, "{sort}: duplicates");
        let key = sort.trim_start_matches('-');
        let ordered = seen.windows(2).all(|pair| {
            let a = (
                pair[0][key].as_str().unwrap().to_owned(),
                pair[0]["id"].as_i64().unwrap(),
            );
            let b = (
                pair[1][key].as_str().unwrap().to_owned(),
                pair[1]["id"].as_i64().unwrap(),
            );
            if key == "title" {
                // Compare as the database collates: rely on the database below instead.
                true
            } else if sort.starts_with('-') {
                a >= b
            } else {
                a <= b
            }
        });
        assert!(ordered, "{sort}: out of order");
    }
    // Default page: 100, with a next link.
    let first = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks", user.id),
            &user.token,
            None,
        )
        .await;
    assert_eq!(first.body.as_array().unwrap().len(), 100);
    assert!(first.headers.contains_key("link"));
    let all = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks?limit=500", user.id),
            &user.token,
            None,
        )
        .await;
    assert_eq!(all.body.as_array().unwrap().len(), 500);
}

#[tokio::test]
async fn title_sort_matches_the_database_order() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    for title in ["banana", "Apple", "cherry", "apple", "Banana", "apple"] {
        app.create(&user, json!({"title": title})).await;
    }
    let listed = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks?sort=title&limit=2", user.id),
            &user.token,
            None,
        )
        .await;
    let expected: Vec<i64> = app
        .sql()
        .await
        .query("select id from tasks order by title, id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut seen: Vec<i64> = listed
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_i64().unwrap())
        .collect();
    let mut link = listed
        .headers
        .get("link")
        .map(|l| l.to_str().unwrap().to_owned());
    while let Some(value) = link {
        let path = value
            .trim_start_matches('<')
            .split('>')
            .next()
            .unwrap()
            .to_owned();
        let page = app.call(Method::GET, &path, &user.token, None).await;
        seen.extend(
            page.body
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_i64().unwrap()),
        );
        link = page
            .headers
            .get("link")
            .map(|l| l.to_str().unwrap().to_owned());
    }
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn filters_and_search() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    for (title, description, completed) in [
        ("Buy milk", Some("from the Market"), false),
        ("Call mom", None, true),
        ("Pay 100% of rent", Some("before the 1st"), false),
        ("market_research", None, true),
    ] {
        app.create(
            &user,
            json!({"title": title, "description": description, "completed": completed}),
        )
        .await;
    }
    let titles = |answer: &common::Answer| -> Vec<String> {
        answer
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap().to_owned())
            .collect()
    };
    let base = format!("/api/{}/tasks", user.id);
    let done = app
        .call(
            Method::GET,
            &format!("{base}?completed=true"),
            &user.token,
            None,
        )
        .await;
    assert_eq!(titles(&done), ["Call mom", "market_research"]);
    assert_eq!(done.headers["x-total-count"], "2");
    let open = app
        .call(
            Method::GET,
            &format!("{base}?completed=false"),
            &user.token,
            None,
        )
        .await;
    assert_eq!(titles(&open), ["Buy milk", "Pay 100% of rent"]);
    let market = app
        .call(Method::GET, &format!("{base}?q=MARKET"), &user.token, None)
        .await;
    assert_eq!(
        titles(&market),
        ["Buy milk", "market_research"],
        "title and description, any case"
    );
    let percent = app
        .call(Method::GET, &format!("{base}?q=100%25"), &user.token, None)
        .await;
    assert_eq!(titles(&percent), ["Pay 100% of rent"], "% is literal");
    let underscore = app
        .call(Method::GET, &format!("{base}?q=t_r"), &user.token, None)
        .await;
    assert_eq!(titles(&underscore), ["market_research"], "_ is literal");
    let both = app
        .call(
            Method::GET,
            &format!("{base}?q=market&completed=true"),
            &user.token,
            None,
        )
        .await;
    assert_eq!(titles(&both), ["market_research"]);
    let none = app
        .call(
            Method::GET,
            &format!("{base}?q=%27%3B+drop+table+tasks"),
            &user.token,
            None,
        )
        .await;
    assert_eq!(none.body, json!([]));
    assert_eq!(none.headers["x-total-count"], "0");
}

#[tokio::test]
async fn bad_list_parameters_are_422() {
    let app = TestApp::new().await;
    let user = app.user("ada@example.com").await;
    for query in [
        "limit=0",
        "limit=501",
        "limit=abc",
        "limit=1.5",
        "completed=maybe",
        "sort=priority",
        "cursor=xyz",
        "q=%00",
    ] {
        let answer = app
            .call(
                Method::GET,
                &format!("/api/{}/tasks?{query}", user.id),
                &user.token,
                None,
            )
            .await;
        assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY, "{query}");
        assert_eq!(answer.body["errors"][0]["loc"][0], "query", "{query}");
    }
    // A cursor from one sort is refused under another.
    app.create(&user, json!({"title": "a"})).await;
    app.create(&user, json!({"title": "b"})).await;
    let page = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks?limit=1&sort=title", user.id),
            &user.token,
            None,
        )
        .await;
    let link = page.headers["link"].to_str().unwrap();
    let cursor = link
        .split("cursor=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap();
    let answer = app
        .call(
            Method::GET,
            &format!("/api/{}/tasks?sort=-created_at&cursor={cursor}", user.id),
            &user.token,
            None,
        )
        .await;
    assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY);
}
