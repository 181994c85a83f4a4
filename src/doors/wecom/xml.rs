//! WeCom's callback XML, read with a real parser (roxmltree) and written with every text
//! in CDATA: the envelope (`<Encrypt>`), the messages and events inside it, and the
//! encrypted passive reply.

/// Why a body could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable WeCom XML: {0}")]
pub struct XmlError(String);

/// The fields of a flat `<xml>` element: child name → text.
fn fields(xml: &str) -> Result<std::collections::BTreeMap<String, String>, XmlError> {
    let doc = roxmltree::Document::parse(xml).map_err(|e| XmlError(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "xml" {
        return Err(XmlError("the root is not <xml>".into()));
    }
    Ok(root
        .children()
        .filter(roxmltree::Node::is_element)
        .map(|n| {
            (
                n.tag_name().name().to_owned(),
                // All text and CDATA children: a `]]>` splits one value in two sections.
                n.children().filter_map(|c| c.text()).collect::<String>(),
            )
        })
        .collect())
}

/// The ciphertext of a POSTed callback.
pub fn envelope(xml: &str) -> Result<String, XmlError> {
    fields(xml)?
        .remove("Encrypt")
        .filter(|e| !e.is_empty())
        .ok_or_else(|| XmlError("no <Encrypt>".into()))
}

/// What a callback carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// A text message.
    Text {
        /// The message id.
        msg_id: String,
        /// What was typed.
        content: String,
    },
    /// A picture.
    Image {
        /// The message id.
        msg_id: String,
        /// The picture's media id (for `media/get`).
        media_id: String,
    },
    /// A tap on a template card's button.
    CardTap {
        /// The button's key.
        key: String,
        /// The card's task id.
        task_id: String,
        /// The code for updating this card (once, for 72 hours).
        response_code: String,
    },
    /// Another message type or event (entering the app, …): recorded, not handled.
    Other {
        /// `MsgType`, or `event:Event`.
        kind: String,
    },
}

/// A decrypted callback: who from, when, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    /// The sender's UserID.
    pub from: String,
    /// WeCom's CreateTime (seconds).
    pub create_time: String,
    /// The message or event.
    pub received: Received,
}

impl Callback {
    /// Reads a decrypted callback body.
    pub fn parse(xml: &str) -> Result<Callback, XmlError> {
        let mut f = fields(xml)?;
        let mut take = |k: &str| f.remove(k).unwrap_or_default();
        let from = take("FromUserName");
        if from.is_empty() {
            return Err(XmlError("no FromUserName".into()));
        }
        let create_time = take("CreateTime");
        let msg_type = take("MsgType");
        let msg_id = take("MsgId");
        let received = match msg_type.as_str() {
            "text" if !msg_id.is_empty() => Received::Text {
                msg_id,
                content: take("Content"),
            },
            "image" if !msg_id.is_empty() => Received::Image {
                msg_id,
                media_id: take("MediaId"),
            },
            "event" => {
                let event = take("Event");
                if event == "template_card_event" {
                    Received::CardTap {
                        key: take("EventKey"),
                        task_id: take("TaskId"),
                        response_code: take("ResponseCode"),
                    }
                } else {
                    Received::Other {
                        kind: format!("event:{event}"),
                    }
                }
            }
            other => Received::Other {
                kind: other.to_owned(),
            },
        };
        Ok(Callback {
            from,
            create_time,
            received,
        })
    }

    /// Its key in the inbox: the MsgId of a message; the sender, CreateTime, event and
    /// its key for an event (events have no id).
    pub fn key(&self) -> String {
        match &self.received {
            Received::Text { msg_id, .. } | Received::Image { msg_id, .. } => {
                format!("m:{msg_id}")
            }
            Received::CardTap { key, task_id, .. } => {
                format!("e:{}:{}:card:{task_id}:{key}", self.from, self.create_time)
            }
            Received::Other { kind } => format!("e:{}:{}:{kind}", self.from, self.create_time),
        }
    }

    /// The kind recorded in the inbox.
    pub fn kind(&self) -> &str {
        match &self.received {
            Received::Text { .. } => "text",
            Received::Image { .. } => "image",
            Received::CardTap { .. } => "template_card_event",
            Received::Other { kind } => kind,
        }
    }
}

/// Text in CDATA (a `]]>` inside is split across two sections).
pub fn cdata(text: &str) -> String {
    format!("<![CDATA[{}]]>", text.replace("]]>", "]]]]><![CDATA[>"))
}

/// A plain text reply message (encrypted by the caller).
pub fn text_reply(to: &str, from: &str, create_time: i64, content: &str) -> String {
    format!(
        "<xml><ToUserName>{}</ToUserName><FromUserName>{}</FromUserName>\
         <CreateTime>{create_time}</CreateTime><MsgType>{}</MsgType><Content>{}</Content></xml>",
        cdata(to),
        cdata(from),
        cdata("text"),
        cdata(content)
    )
}

/// The encrypted envelope of a passive reply.
pub fn encrypted_reply(encrypt: &str, signature: &str, timestamp: &str, nonce: &str) -> String {
    format!(
        "<xml><Encrypt>{}</Encrypt><MsgSignature>{}</MsgSignature>\
         <TimeStamp>{timestamp}</TimeStamp><Nonce>{}</Nonce></xml>",
        cdata(encrypt),
        cdata(signature),
        cdata(nonce)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_taps_are_read() {
        let text = "<xml><ToUserName><![CDATA[ww1]]></ToUserName>\
            <FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1348831860</CreateTime>\
            <MsgType><![CDATA[text]]></MsgType><Content><![CDATA[打印机<坏了>]]></Content>\
            <MsgId>1234567890123456</MsgId><AgentID>1</AgentID></xml>";
        let c = Callback::parse(text).expect("reads");
        assert_eq!(c.from, "zhangsan");
        assert_eq!(
            c.received,
            Received::Text {
                msg_id: "1234567890123456".into(),
                content: "打印机<坏了>".into()
            }
        );
        assert_eq!(c.key(), "m:1234567890123456");
        let tap = "<xml><FromUserName>li</FromUserName><CreateTime>9</CreateTime>\
            <MsgType>event</MsgType><Event>template_card_event</Event>\
            <EventKey>job:accept@BX-1</EventKey><TaskId>t1</TaskId>\
            <ResponseCode>rc</ResponseCode></xml>";
        let c = Callback::parse(tap).expect("reads");
        assert_eq!(
            c.received,
            Received::CardTap {
                key: "job:accept@BX-1".into(),
                task_id: "t1".into(),
                response_code: "rc".into()
            }
        );
        assert_eq!(c.key(), "e:li:9:card:t1:job:accept@BX-1");
    }

    #[test]
    fn broken_xml_is_refused() {
        for bad in [
            "",
            "<xml>",
            "not xml",
            "<other><FromUserName>x</FromUserName></other>",
            "<xml><MsgType>text</MsgType></xml>",
        ] {
            assert!(Callback::parse(bad).is_err(), "{bad}");
        }
        assert!(envelope("<xml><ToUserName>a</ToUserName></xml>").is_err());
        assert_eq!(
            envelope("<xml><Encrypt><![CDATA[abc]]></Encrypt></xml>").expect("reads"),
            "abc"
        );
    }

    #[test]
    fn replies_survive_any_text() {
        let nasty = "a]]>b<c>&d";
        let xml = text_reply("u", "corp", 1, nasty);
        let doc = roxmltree::Document::parse(&xml).expect("well-formed");
        let content = doc
            .descendants()
            .find(|n| n.has_tag_name("Content"))
            .expect("content");
        let text: String = content.children().filter_map(|n| n.text()).collect();
        assert_eq!(text, nasty);
    }
}
