//! The knowledge base (issue 20): drafts from resolutions, edited and published by
//! experts and managers, retired but still linked; search that works for Chinese with the
//! same ranking on both databases; the offer at intake and its deflections; `/kb` in the
//! chat; related articles on the job card; the managers' figures.

use baoxiu::conversation::Person;
use baoxiu::flow::{Incoming, Outgoing};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Backend, MANAGER, TestApp, printer_fault, spawn_app, token};
use crate::on_both_backends;

on_both_backends!(
    a_resolution_drafts_an_article_that_experts_publish_and_retire,
    search_ranks_the_same_on_both_databases_with_short_chinese_terms,
    bad_article_input_is_refused_politely_and_changes_nothing,
    intake_offers_articles_and_reports_count_the_deflections,
    kb_in_chat_and_related_articles_on_the_job_card,
    a_resolution_whose_draft_fails_is_not_saved_either,
    the_candidate_search_asks_a_later_stage_only_while_too_few_are_found,
);

/// Percent-encodes a query value.
fn enc(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The ids a search as `who` finds, best first.
async fn search(app: &TestApp, who: &str, q: &str, category: Option<&str>) -> Vec<i64> {
    let mut path = format!("/api/articles?q={}", enc(q));
    if let Some(c) = category {
        path.push_str(&format!("&category={c}"));
    }
    let r = app.get(who, &path).await;
    assert_eq!(r.status(), StatusCode::OK, "search {q}");
    let found: Vec<Value> = r.json().await.expect("json");
    found
        .iter()
        .map(|f| f["article"]["id"].as_i64().expect("id"))
        .collect()
}

async fn json_of(r: reqwest::Response, status: StatusCode) -> Value {
    let got = r.status();
    let text = r.text().await.unwrap_or_default();
    assert_eq!(got, status, "{text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// Reports a printer jam as li.na and has bob resolve it; the ticket number.
async fn resolved_printer_jam(app: &TestApp) -> String {
    let number = app.report("li.na", &printer_fault()).await;
    let bob = token("bob");
    app.act(&bob, &number, "accept", json!({}), StatusCode::OK)
        .await;
    app.act(
        &bob,
        &number,
        "start",
        json!({"mode": "on_site"}),
        StatusCode::OK,
    )
    .await;
    app.act(
        &bob,
        &number,
        "resolve",
        json!({"cause": "搓纸轮磨损，搓纸打滑", "solution": "更换搓纸轮 (pickup roller)，清理卡纸"}),
        StatusCode::OK,
    )
    .await;
    number
}

async fn a_resolution_drafts_an_article_that_experts_publish_and_retire(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = resolved_printer_jam(&app).await;

    // The draft was written with the resolution: the ticket's category and description,
    // the engineer's cause and solution, keywords drawn from them.
    let r = app.get(MANAGER, "/api/articles?status=draft").await;
    let drafts: Vec<Value> = json_of(r, StatusCode::OK)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(drafts.len(), 1, "{drafts:?}");
    let a = &drafts[0];
    let id = a["id"].as_i64().expect("id");
    assert_eq!(a["ticket"], json!(number));
    assert_eq!(a["status"], "draft");
    assert_eq!(a["category"], "printer");
    assert_eq!(a["title"], "打印机卡纸，指示灯红色闪烁");
    assert_eq!(a["solution"], "更换搓纸轮 (pickup roller)，清理卡纸");
    let keywords: Vec<&str> = a["keywords"]
        .as_array()
        .expect("keywords")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(keywords.contains(&"搓纸"), "{keywords:?}");
    assert!(keywords.contains(&"roller"), "{keywords:?}");

    // Reporters see no drafts: not in a search, and a draft's page looks missing.
    assert!(search(&app, &token("li.na"), "卡纸", None).await.is_empty());
    let r = app
        .get(&token("li.na"), &format!("/api/articles/{id}"))
        .await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    // A first-line engineer reads drafts but may not publish them.
    assert_eq!(search(&app, &token("alice"), "卡纸", None).await, [id]);
    let r = app
        .post(
            &token("alice"),
            &format!("/api/articles/{id}/publish"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // carol, an expert, edits it on the version she read; a stale edit is refused.
    let edit =
        json!({"version": 1, "title": "打印机卡纸、红灯闪烁", "keywords": ["卡纸", "Paper Jam"]});
    let r = app
        .patch(&token("carol"), &format!("/api/articles/{id}"), &edit)
        .await;
    let edited = json_of(r, StatusCode::OK).await;
    assert_eq!(edited["article"]["version"], 2);
    assert_eq!(edited["article"]["keywords"], json!(["卡纸", "paper jam"]));
    let r = app
        .patch(
            &token("carol"),
            &format!("/api/articles/{id}"),
            &json!({"version": 1, "title": "旧的"}),
        )
        .await;
    let stale = json_of(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert!(
        stale["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("version 1"),
        "{stale}"
    );

    // Published, reporters find it in Chinese and in English.
    let r = app
        .post(
            &token("carol"),
            &format!("/api/articles/{id}/publish"),
            &json!({}),
        )
        .await;
    assert_eq!(
        json_of(r, StatusCode::OK).await["article"]["status"],
        "published"
    );
    assert_eq!(search(&app, &token("li.na"), "卡纸", None).await, [id]);
    assert_eq!(search(&app, &token("li.na"), "paper jam", None).await, [id]);
    let r = app
        .get(&token("li.na"), &format!("/api/articles/{id}"))
        .await;
    let seen = json_of(r, StatusCode::OK).await;
    assert_eq!(
        seen["events"],
        json!([]),
        "the trail is the desk's business"
    );

    // Publishing twice is refused; retiring hides it but keeps it linked to its ticket.
    let r = app
        .post(
            &token("carol"),
            &format!("/api/articles/{id}/publish"),
            &json!({}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(
            &token("mia"),
            &format!("/api/articles/{id}/retire"),
            &json!({"note": "打印机已更换型号"}),
        )
        .await;
    assert_eq!(
        json_of(r, StatusCode::OK).await["article"]["status"],
        "retired"
    );
    assert!(search(&app, &token("li.na"), "卡纸", None).await.is_empty());
    assert!(search(&app, &token("alice"), "卡纸", None).await.is_empty());
    let r = app.get(MANAGER, &format!("/api/articles/{id}")).await;
    let retired = json_of(r, StatusCode::OK).await;
    assert_eq!(retired["article"]["ticket"], json!(number));
    let trail: Vec<(&str, &str)> = retired["events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap_or_default(),
                e["actor_name"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    let names: Vec<&str> = trail.iter().map(|t| t.0).collect();
    assert_eq!(names, ["drafted", "edited", "published", "retired"]);
    assert_eq!(retired["events"][3]["note"], "打印机已更换型号");
    // A retired article is frozen until published again.
    let r = app
        .patch(
            &token("carol"),
            &format!("/api/articles/{id}"),
            &json!({"version": 3, "title": "x"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(app.count("articles").await, 1);
}

/// Writes and publishes an article as the desk; its id.
async fn published(
    app: &TestApp,
    category: &str,
    title: &str,
    symptom: &str,
    solution: &str,
) -> i64 {
    let body = json!({
        "category": category, "title": title, "symptom": symptom, "solution": solution,
    });
    let r = app.post(MANAGER, "/api/articles", &body).await;
    let id = json_of(r, StatusCode::CREATED).await["article"]["id"]
        .as_i64()
        .expect("id");
    let r = app
        .post(MANAGER, &format!("/api/articles/{id}/publish"), &json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    id
}

/// The candidate search, on each database: every long term, then any long term, then a
/// short term, a later stage adding only what the earlier ones did not find, and asked
/// only while they found fewer than wanted.
async fn the_candidate_search_asks_a_later_stage_only_while_too_few_are_found(backend: Backend) {
    use baoxiu::domain::knowledge::Query;
    let app = spawn_app(backend).await;
    let both = published(
        &app,
        "application",
        "Outlook 密码反复提示",
        "Outlook password prompt",
        "清除凭据",
    )
    .await;
    let one = published(
        &app,
        "application",
        "Outlook 打不开",
        "Outlook 启动失败",
        "修复 Office",
    )
    .await;
    let short = published(
        &app,
        "network",
        "无线网络信号弱",
        "会议室断网",
        "更换无线 AP",
    )
    .await;
    let query = Query::new("outlook password 网", None);
    assert_eq!((query.long().len(), query.short().len()), (2, 1));
    let found = async |want: usize| -> Vec<i64> {
        let found = app
            .store
            .article_candidates(&query, false, want)
            .await
            .expect("candidates");
        found.iter().map(|a| a.id).collect()
    };
    assert_eq!(found(1).await, [both]);
    assert_eq!(found(2).await, [both, one]);
    assert_eq!(found(3).await, [both, one, short]);
    assert_eq!(found(10).await, [both, one, short]);
}

async fn search_ranks_the_same_on_both_databases_with_short_chinese_terms(backend: Backend) {
    let app = spawn_app(backend).await;
    let jam = published(
        &app,
        "printer",
        "打印机卡纸",
        "打印时卡纸，红灯闪烁",
        "打开后盖取出卡纸",
    )
    .await;
    let offline = published(
        &app,
        "printer",
        "打印机脱机",
        "打印机显示脱机，无法打印",
        "重新添加打印机",
    )
    .await;
    let vpn = published(
        &app,
        "network",
        "VPN 连不上",
        "VPN 客户端提示证书错误",
        "重新导入 VPN 证书",
    )
    .await;
    let wifi = published(
        &app,
        "network",
        "无线网络信号弱",
        "会议室 WiFi 经常断网",
        "更换无线 AP",
    )
    .await;
    let outlook = published(
        &app,
        "application",
        "Outlook 密码反复提示",
        "Outlook keeps asking for the password",
        "清除凭据管理器中的 Outlook 凭据",
    )
    .await;
    let driver = published(
        &app,
        "desktop",
        "打印机驱动安装失败",
        "安装打印机驱动报错",
        "下载新版驱动",
    )
    .await;
    // A draft: engineers find it, reporters do not.
    let r = app
        .post(
            MANAGER,
            "/api/articles",
            &json!({"category": "printer", "title": "打印纸用完", "symptom": "缺纸", "solution": "加纸"}),
        )
        .await;
    let draft = json_of(r, StatusCode::CREATED).await["article"]["id"]
        .as_i64()
        .expect("id");
    // The offline article solved five faults: it ranks first among equals.
    app.sql(&[&format!(
        "UPDATE articles SET uses = 5 WHERE id = {offline}"
    )])
    .await;

    let li = token("li.na");
    // Two characters (no trigram): the LIKE fallback finds them; ties go to use count,
    // then age; the asker's category comes first.
    assert_eq!(
        search(&app, &li, "打印", None).await,
        [offline, jam, driver]
    );
    assert_eq!(
        search(&app, &li, "打印", Some("desktop")).await,
        [driver, offline, jam]
    );
    assert_eq!(
        search(&app, &li, "打印", Some("printer")).await,
        [offline, jam, driver]
    );
    assert_eq!(search(&app, &li, "卡纸", None).await, [jam]);
    assert_eq!(search(&app, &li, "无法", None).await, [offline]);
    // One character.
    assert_eq!(search(&app, &li, "网", None).await, [wifi]);
    // A Chinese phrase: trigrams through the index, bigrams for the rest.
    assert_eq!(
        search(&app, &li, "打印机卡纸了", None).await,
        [jam, offline, driver]
    );
    // English, any case, full-width too; mixed.
    assert_eq!(search(&app, &li, "ＶＰＮ 证书", None).await, [vpn]);
    assert_eq!(search(&app, &li, "Outlook PASSWORD", None).await, [outlook]);
    assert_eq!(
        search(&app, &li, "wifi 断网", Some("network")).await,
        [wifi]
    );
    // Nothing searchable, or nothing found.
    assert!(search(&app, &li, "怎么 the", None).await.is_empty());
    assert!(search(&app, &li, "扫描仪", None).await.is_empty());
    // Engineers see the draft as well.
    assert_eq!(search(&app, &li, "加纸", None).await, Vec::<i64>::new());
    assert_eq!(search(&app, &token("alice"), "加纸", None).await, [draft]);
}

async fn bad_article_input_is_refused_politely_and_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let good =
        json!({"category": "printer", "title": "卡纸", "symptom": "卡纸", "solution": "取出"});
    let cases = [
        (
            MANAGER.to_owned(),
            json!({"category": "printer", "title": " ", "symptom": "x", "solution": "y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "title must not be empty",
        ),
        (
            MANAGER.to_owned(),
            json!({"category": "toaster", "title": "x", "symptom": "x", "solution": "y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown category",
        ),
        (
            MANAGER.to_owned(),
            json!({"category": "printer", "title": "x".repeat(121), "symptom": "x", "solution": "y"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "at most 120",
        ),
        (
            MANAGER.to_owned(),
            json!({"category": "printer", "colour": "red"}),
            StatusCode::BAD_REQUEST,
            "unknown field",
        ),
        (
            token("alice"),
            good.clone(),
            StatusCode::FORBIDDEN,
            "experts and managers",
        ),
        (
            token("li.na"),
            good.clone(),
            StatusCode::FORBIDDEN,
            "experts and managers",
        ),
    ];
    for (who, body, status, says) in cases {
        let r = app.post(&who, "/api/articles", &body).await;
        let problem = json_of(r, status).await;
        let detail = problem["detail"].as_str().unwrap_or_default();
        assert!(detail.contains(says), "{body}: {detail}");
    }
    assert_eq!(app.count("articles").await, 0);
    assert_eq!(app.count("article_events").await, 0);
    let r = app.get(MANAGER, "/api/articles/999").await;
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let r = app
        .post(MANAGER, "/api/articles/999/archive", &json!({}))
        .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = app.post(&token("carol"), "/api/articles", &good).await;
    let id = json_of(r, StatusCode::CREATED).await["article"]["id"]
        .as_i64()
        .expect("id");
    let r = app
        .patch(
            &token("carol"),
            &format!("/api/articles/{id}"),
            &json!({"title": "无版本"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .get(&token("li.na"), "/api/reports/knowledge?period=month")
        .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

fn said(replies: &[Outgoing]) -> String {
    baoxiu::doors::terminal::render(replies)
}

async fn say(app: &TestApp, who: &Person, input: Incoming) -> String {
    said(&app.chat.handle(who, input).await.expect("handled"))
}

fn text(t: &str) -> Incoming {
    Incoming::Text(t.into())
}

fn reporter(id: &str) -> Person {
    Person {
        channel: "test".into(),
        external_id: id.into(),
        name: "王芳".into(),
        language: Some("zh-CN".into()),
    }
}

/// Typed answers to the fault report up to the description (see tests/api/chat.rs).
const UP_TO_DESCRIPTION: [&str; 7] = [
    "printer",
    "HP LaserJet M404",
    "1",
    "总部",
    "A座",
    "301",
    "prn-3f-02",
];
/// After the description: when it started, how many, urgency, department, phone.
const AFTER_DESCRIPTION: [&str; 5] = ["2", "1", "1", "财务部", "13800138000"];

/// Starts a report as `who` and answers up to and including the description; what the
/// bot said last.
async fn describe(app: &TestApp, who: &Person, description: &str) -> String {
    say(app, who, Incoming::Command("start".into(), String::new())).await;
    for answer in UP_TO_DESCRIPTION {
        say(app, who, text(answer)).await;
    }
    say(app, who, text(description)).await
}

async fn conversations_of(app: &TestApp, who: &Person) -> i64 {
    app.scalar(&format!(
        "SELECT COUNT(*) FROM conversations WHERE external_id = '{}'",
        who.external_id
    ))
    .await
}

async fn intake_offers_articles_and_reports_count_the_deflections(backend: Backend) {
    let app = spawn_app(backend).await;
    let jam = published(
        &app,
        "printer",
        "打印机卡纸",
        "打印机卡纸，红灯闪烁",
        "打开后盖，取出卡住的纸",
    )
    .await;
    published(
        &app,
        "network",
        "VPN 连不上",
        "VPN 提示证书错误",
        "重新导入证书",
    )
    .await;

    // After the description: the matching article, with the next question.
    let a = reporter("kb-a");
    let offer = describe(&app, &a, "打印机卡纸了，红灯一直闪").await;
    assert!(offer.contains("也许能直接解决"), "{offer}");
    assert!(offer.contains("1. 打印机卡纸"), "{offer}");
    assert!(
        offer.contains("第1条解决了") && offer.contains("都不是"),
        "{offer}"
    );
    assert!(!offer.contains("VPN"), "{offer}");
    assert!(
        offer.contains("什么时候开始"),
        "the next question follows: {offer}"
    );
    // "This one solved it": no ticket, the conversation ends, the article counts a use.
    let solved = say(&app, &a, Incoming::Choice(format!("kb:solved:{jam}"))).await;
    assert!(solved.contains("没有创建工单"), "{solved}");
    assert_eq!(app.count("tickets").await, 0);
    assert_eq!(conversations_of(&app, &a).await, 0);
    assert_eq!(
        app.scalar(&format!("SELECT uses FROM articles WHERE id = {jam}"))
            .await,
        1
    );

    // Answering the next question instead means "none of these": nothing typed is lost.
    let b = reporter("kb-b");
    let offer = describe(&app, &b, "打印机又卡纸了").await;
    assert!(offer.contains("1. 打印机卡纸"), "{offer}");
    for answer in AFTER_DESCRIPTION {
        say(&app, &b, text(answer)).await;
    }
    let receipt = say(&app, &b, Incoming::Choice("summary:submit".into())).await;
    assert!(receipt.contains("BX-2026-"), "{receipt}");
    assert_eq!(app.count("tickets").await, 1);
    let r = app.get(MANAGER, "/api/tickets").await;
    let page = json_of(r, StatusCode::OK).await;
    let described = page["items"][0]["intake"]["description"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(described.starts_with("打印机又卡纸了"), "{described}");

    // "None of these" goes back to the report's question; an unknown article is no answer.
    let c = reporter("kb-c");
    describe(&app, &c, "打印机卡纸").await;
    let stale = say(&app, &c, Incoming::Choice("kb:solved:999".into())).await;
    assert!(!stale.contains("没有创建工单"), "{stale}");
    let declined = say(&app, &c, Incoming::Choice("kb:no".into())).await;
    assert!(declined.contains("继续登记"), "{declined}");
    assert!(declined.contains("什么时候开始"), "{declined}");
    assert_eq!(conversations_of(&app, &c).await, 1);
    // Typing the button's label works too (doors without buttons).
    let d = reporter("kb-d");
    describe(&app, &d, "打印机卡纸").await;
    let typed = say(&app, &d, text("第1条解决了")).await;
    assert!(typed.contains("没有创建工单"), "{typed}");

    // A description nothing matches well is not interrupted.
    let e = reporter("kb-e");
    let plain = describe(&app, &e, "显示器没有信号").await;
    assert!(!plain.contains("也许能直接解决"), "{plain}");

    assert_eq!(app.count("kb_offers").await, 4);
    let today = app.clock_now().format("%Y-%m-%d");
    let r = app
        .get(
            MANAGER,
            &format!("/api/reports/knowledge?from={today}&to={today}"),
        )
        .await;
    let report = json_of(r, StatusCode::OK).await;
    assert_eq!(report["articles_published"], 2);
    assert_eq!(report["offered"], 4);
    assert_eq!(report["self_solved"], 2);
    assert_eq!(report["deflection_rate"], 0.5);
    assert_eq!(
        report["top_articles"],
        json!([{"id": jam, "title": "打印机卡纸", "self_solved": 2}])
    );
}

async fn kb_in_chat_and_related_articles_on_the_job_card(backend: Backend) {
    let app = spawn_app(backend).await;
    let jam = published(
        &app,
        "printer",
        "打印机卡纸",
        "打印机卡纸，红灯闪烁",
        "打开后盖，取出卡住的纸",
    )
    .await;
    let r = app
        .post(
            MANAGER,
            "/api/articles",
            &json!({"category": "printer", "title": "卡纸传感器故障", "symptom": "不停提示卡纸", "solution": "更换传感器"}),
        )
        .await;
    let draft = json_of(r, StatusCode::CREATED).await["article"]["id"]
        .as_i64()
        .expect("id");

    let a = reporter("kb-a");
    let usage = say(&app, &a, text("/kb")).await;
    assert!(usage.contains("用法"), "{usage}");
    let found = say(&app, &a, text("/kb 卡纸")).await;
    assert!(found.contains(&format!("#{jam} 打印机卡纸")), "{found}");
    assert!(
        !found.contains(&format!("#{draft}")),
        "reporters see no drafts: {found}"
    );
    let none = say(&app, &a, text("/kb 扫描仪")).await;
    assert!(none.contains("没有找到"), "{none}");
    // In the middle of a report the command answers and the report waits.
    say(&app, &a, Incoming::Command("start".into(), String::new())).await;
    let mid = say(&app, &a, text("/kb 卡纸")).await;
    assert!(mid.contains("打印机卡纸"), "{mid}");
    assert_eq!(conversations_of(&app, &a).await, 1);

    // The engineer's job card links the related articles, drafts included.
    let number = app.report("li.na", &printer_fault()).await;
    let bob = Person {
        channel: "console-engineer".into(),
        external_id: "bob".into(),
        name: "bob".into(),
        language: Some("zh-CN".into()),
    };
    let card = say(&app, &bob, text(&format!("/job {number}"))).await;
    assert!(card.contains("相关的知识库文章"), "{card}");
    assert!(card.contains(&format!("#{jam} 打印机卡纸")), "{card}");
    assert!(card.contains(&format!("#{draft}（草稿）")), "{card}");
    let found = say(&app, &bob, text("/kb 传感器")).await;
    assert!(found.contains(&format!("#{draft}")), "{found}");
}

async fn a_resolution_whose_draft_fails_is_not_saved_either(backend: Backend) {
    let app = spawn_app(backend).await;
    let number = app.report("li.na", &printer_fault()).await;
    let bob = token("bob");
    app.act(&bob, &number, "accept", json!({}), StatusCode::OK)
        .await;
    app.act(
        &bob,
        &number,
        "start",
        json!({"mode": "on_site"}),
        StatusCode::OK,
    )
    .await;
    // Fault injection: the draft's trail cannot be written.
    app.sql(&["DROP TABLE article_events"]).await;
    app.act(
        &bob,
        &number,
        "resolve",
        json!({"cause": "搓纸轮磨损", "solution": "更换搓纸轮"}),
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .await;
    // One transaction: the resolution, its audit event and its messages went with it.
    let t = app.detail(&number).await;
    assert_eq!(t["ticket"]["status"], "in_progress");
    assert_eq!(t["ticket"]["cause"], Value::Null);
    let actions: Vec<&str> = t["audit"]
        .as_array()
        .expect("audit")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(!actions.contains(&"resolve"), "{actions:?}");
    assert_eq!(app.count("articles").await, 0);
    assert!(
        app.outbox_of(&number)
            .await
            .iter()
            .all(|m| m.event != "ticket_resolved")
    );
}
