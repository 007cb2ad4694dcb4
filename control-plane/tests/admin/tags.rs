//! kong-behaviours.md §1.9: tags (cases 123–127).

use serde_json::{Value, json};

use crate::admin_tests;
use crate::support::{Api, id};

async fn seed(api: &Api) -> Vec<Value> {
    let mut out = Vec::new();
    for (name, tags) in [
        ("c1", json!(["corp_ a", "consumer_ 1"])),
        ("c2", json!(["corp_ a", "consumer_ 2"])),
        ("c3", json!(["🦍", "other"])),
        ("c4", json!(null)),
    ] {
        out.push(
            api.create("/consumers", json!({"username": name, "tags": tags}))
                .await,
        );
    }
    out
}

fn usernames(body: &Value) -> Vec<String> {
    let mut names: Vec<String> = body["data"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|c| c["username"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// #123, #124, #125: filters.
async fn tag_filters(api: &Api) {
    seed(api).await;
    assert_eq!(
        usernames(api.get("/consumers?tags=corp_%20a").await.expect(200)),
        ["c1", "c2"]
    );
    assert_eq!(
        usernames(api.get("/consumers?tags=%F0%9F%A6%8D").await.expect(200)),
        ["c3"]
    );
    assert_eq!(
        usernames(
            api.get("/consumers?tags=corp_%20a,consumer_%201")
                .await
                .expect(200)
        ),
        ["c1"]
    );
    assert_eq!(
        usernames(
            api.get("/consumers?tags=consumer_%201/other")
                .await
                .expect(200)
        ),
        ["c1", "c3"]
    );
    for bad in ["a,b/c", "%FF"] {
        assert_eq!(
            api.get(&format!("/consumers?tags={bad}")).await.expect(400)["message"],
            "invalid option (tags: invalid filter syntax)",
            "{bad}"
        );
    }
    assert_eq!(
        api.get("/consumers?tags=''").await.expect(200)["data"],
        json!([])
    );
    assert_eq!(
        api.get("/consumers?tags=").await.expect(400),
        &json!({"code": 11, "name": "invalid options",
                "message": "invalid option (tags: cannot be null)",
                "options": {"tags": "cannot be null"}})
    );
    // The next link carries the tags before the size.
    let page = api
        .get("/consumers?tags=corp_%20a&size=1")
        .await
        .expect(200)
        .clone();
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));
    let next = page["next"].as_str().unwrap_or_default();
    assert!(next.contains("&tags=corp_%20a&size=1"), "{next}");
    let rest = api.get(next).await.expect(200).clone();
    assert_eq!(rest["data"].as_array().map(Vec::len), Some(1));
    assert_ne!(rest["data"][0]["id"], page["data"][0]["id"]);
}

/// #126: nested collections ignore the tags filter.
async fn nested_collections_ignore_tags(api: &Api) {
    let c = api.create("/consumers", json!({"username": "bob"})).await;
    api.post(
        &format!("/consumers/{}/plugins", id(&c)),
        json!({"name": "rate-limiting", "config": {"minute": 1}, "tags": ["x"]}),
    )
    .await
    .expect(201);
    let body = api
        .get("/consumers/bob/plugins?tags=not-there")
        .await
        .expect(200)
        .clone();
    assert_eq!(body["data"].as_array().map(Vec::len), Some(1));
    api.get("/consumers/bob/plugins?tags=").await.expect(200);
}

/// #127: `/tags` and `/tags/{tag}`.
async fn tag_listings(api: &Api) {
    let consumers = seed(api).await;
    let all = api.get("/tags").await.expect(200).clone();
    assert_eq!(all["data"].as_array().map(Vec::len), Some(6));
    let one = api.get("/tags/corp_%20a").await.expect(200).clone();
    let mut ids: Vec<&str> = one["data"]
        .as_array()
        .map(|d| d.iter().filter_map(|r| r["entity_id"].as_str()).collect())
        .unwrap_or_default();
    ids.sort_unstable();
    let mut expected = vec![
        consumers[0]["id"].as_str().unwrap_or_default(),
        consumers[1]["id"].as_str().unwrap_or_default(),
    ];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert_eq!(one["data"][0]["entity_name"], "consumers");
    assert_eq!(one["data"][0]["tag"], "corp_ a");
    assert_eq!(
        api.get("/tags/does-not-exist").await.expect(200),
        &json!({"data": [], "next": null})
    );
    let body = api.get("/tags/%FF").await.expect(400).clone();
    assert!(
        body["message"]
            .as_str()
            .unwrap_or_default()
            .contains("invalid utf-8"),
        "{body}"
    );
    assert_eq!(
        api.get("/tags?tags=not_a_tag").await.expect(200)["data"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    assert_eq!(
        api.get("/tags?tags=").await.expect(200)["data"]
            .as_array()
            .map(Vec::len),
        Some(6)
    );
    assert_eq!(
        api.get("/tags/corp_%20a?tags=invalid@tag")
            .await
            .expect(200)["data"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Pagination of /tags.
    let page = api.get("/tags?size=4").await.expect(200).clone();
    let next = page["next"].as_str().unwrap_or_default().to_owned();
    assert!(
        next.starts_with("/tags?offset=") && next.ends_with("&size=4"),
        "{next}"
    );
    assert_eq!(
        api.get(&next).await.expect(200)["data"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let page = api.get("/tags/corp_%20a?size=1").await.expect(200).clone();
    assert!(
        page["next"]
            .as_str()
            .unwrap_or_default()
            .starts_with("/tags/corp_%20a?offset=")
    );
}

admin_tests!(tag_filters, nested_collections_ignore_tags, tag_listings);
