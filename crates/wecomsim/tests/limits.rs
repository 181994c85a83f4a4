//! The stand-in behaves as WeCom does where the door must cope: tokens expire, and a
//! member's 31st message in a minute is dropped with errcode 0.

use serde_json::Value;
use wecomsim::{SimConfig, WecomSim};

async fn call(r: reqwest::RequestBuilder) -> Value {
    let text = r.send().await.expect("send").text().await.expect("body");
    serde_json::from_str(&text).expect("json")
}

#[tokio::test]
async fn excess_is_dropped_silently_and_tokens_expire() {
    let sim = WecomSim::start(SimConfig::default()).await.expect("start");
    let c = sim.config().clone();
    let http = reqwest::Client::new();
    let url = sim.url();
    let bad = call(http.get(format!(
        "{url}/cgi-bin/gettoken?corpid={}&corpsecret=nope",
        c.corp_id
    )))
    .await;
    assert_eq!(bad["errcode"], 40001);
    let t = call(http.get(format!(
        "{url}/cgi-bin/gettoken?corpid={}&corpsecret={}",
        c.corp_id, c.secret
    )))
    .await;
    let token = t["access_token"].as_str().expect("token").to_owned();
    let send = |n: u32| {
        http.post(format!("{url}/cgi-bin/message/send?access_token={token}"))
            .body(
                serde_json::json!({
                    "touser": "u1", "msgtype": "text", "agentid": c.agent_id,
                    "text": { "content": format!("m{n}") },
                })
                .to_string(),
            )
    };
    for n in 0..31 {
        let r = call(send(n)).await;
        assert_eq!(r["errcode"], 0, "no error, even when dropped");
    }
    assert_eq!(sim.transcript("u1").len(), 30);
    assert_eq!(sim.dropped("u1"), 1);
    // A minute later there is room again.
    sim.advance(60);
    assert_eq!(call(send(31)).await["errcode"], 0);
    assert_eq!(sim.transcript("u1").len(), 31);
    // Expired tokens answer 42001; the control API reads the transcript.
    sim.expire_tokens();
    assert_eq!(call(send(32)).await["errcode"], 42001);
    let t = call(http.get(format!("{url}/control/transcript?user=u1"))).await;
    assert_eq!(t["received"].as_array().map(Vec::len), Some(31));
    assert_eq!(t["dropped"], 1);
}
