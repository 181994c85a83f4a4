//! Broken copies of the shipped files: each mistake is reported as `file:line: reason`,
//! all of them at once.

use super::*;

/// The shipped files, editable before loading.
struct Files {
    texts: BTreeMap<&'static str, String>,
}

impl Files {
    fn shipped() -> Files {
        let dir = Flows::builtin_dir();
        let texts = ["fault_report.toml", "engineer_job.toml", "messages.toml"]
            .into_iter()
            .map(|f| (f, std::fs::read_to_string(dir.join(f)).unwrap()))
            .collect();
        Files { texts }
    }

    /// Replaces the first occurrence of `from`.
    fn replace(&mut self, file: &str, from: &str, to: &str) -> &mut Files {
        let text = self.texts.get_mut(file).unwrap();
        assert!(text.contains(from), "{file} lacks {from:?}");
        *text = text.replacen(from, to, 1);
        self
    }

    fn append(&mut self, file: &str, more: &str) -> &mut Files {
        self.texts.get_mut(file).unwrap().push_str(more);
        self
    }

    /// 1-based line of the `nth` (0-based) occurrence of `needle`.
    fn line(&self, file: &str, needle: &str, nth: usize) -> usize {
        let text = &self.texts[file];
        let (at, _) = text
            .match_indices(needle)
            .nth(nth)
            .unwrap_or_else(|| panic!("{file} lacks {needle:?} #{nth}"));
        text[..at].matches('\n').count() + 1
    }

    /// Writes the files to a temporary directory and loads it; the problems as text with
    /// the directory shown as `DIR`.
    fn load(&self) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in &self.texts {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        // Not a flow: ignored.
        std::fs::write(dir.path().join("README.md"), "# notes").unwrap();
        match Flows::load_dir(dir.path()) {
            Ok(_) => panic!("the broken files loaded"),
            Err(problems) => {
                let prefix = dir.path().display().to_string();
                problems
                    .iter()
                    .map(|p| p.to_string().replace(&prefix, "DIR"))
                    .collect()
            }
        }
    }
}

#[test]
fn the_shipped_copy_loads() {
    let f = Files::shipped();
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in &f.texts {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    assert!(Flows::load_dir(dir.path()).is_ok());
}

#[test]
fn toml_syntax() {
    let mut f = Files::shipped();
    f.replace(
        "engineer_job.toml",
        "scope = \"ticket\"",
        "scope = \"ticket",
    );
    let p = f.load();
    let line = f.line("engineer_job.toml", "scope = \"ticket", 0);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with(&format!("DIR/engineer_job.toml:{line}: TOML: ")),
        "{p:#?}"
    );

    let mut f = Files::shipped();
    f.replace("fault_report.toml", "multiline = true", "multilin = true");
    let p = f.load();
    let line = f.line("fault_report.toml", "multilin = true", 0);
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with(&format!(
            "DIR/fault_report.toml:{line}: TOML: unknown field `multilin`"
        )),
        "{p:#?}"
    );
}

#[test]
fn unknown_step_reference() {
    let mut f = Files::shipped();
    f.replace("fault_report.toml", "next = \"site\"", "next = \"sight\"");
    let line = f.line("fault_report.toml", "next = \"sight\"", 0);
    assert_eq!(
        f.load(),
        [format!(
            "DIR/fault_report.toml:{line}: step `desktop_symptom`: next: unknown step `sight`"
        )]
    );
}

#[test]
fn unreachable_step() {
    let mut f = Files::shipped();
    f.append(
        "engineer_job.toml",
        "\n[[step]]\nid = \"orphan\"\nkind = \"text\"\ntext.zh-CN = \"孤儿\"\ntext.en = \"orphan\"\nhint.zh-CN = \"孤儿\"\nhint.en = \"orphan\"\nfinish = \"job:accept\"\n",
    );
    let line = f.line("engineer_job.toml", "id = \"orphan\"", 0);
    assert_eq!(
        f.load(),
        [format!(
            "DIR/engineer_job.toml:{line}: step `orphan` is unreachable from the start"
        )]
    );
}

#[test]
fn missing_translations() {
    let mut f = Files::shipped();
    f.replace(
        "fault_report.toml",
        "hint.en = \"Type the site or branch office (at most 100 characters), e.g. \\\"Shanghai HQ\\\".\"\n",
        "",
    );
    f.replace("messages.toml", "en = \"Switched to English.\"\n", "");
    let site = f.line(
        "fault_report.toml",
        "hint.zh-CN = \"请输入地点或分支机构名称",
        0,
    );
    let lang = f.line("messages.toml", "[message.lang_switched]", 0);
    assert_eq!(
        f.load(),
        [
            format!("DIR/fault_report.toml:{site}: step `site`: hint: missing en translation"),
            format!("DIR/messages.toml:{lang}: message `lang_switched`: missing en translation"),
        ]
    );
}

#[test]
fn bad_regex() {
    let mut f = Files::shipped();
    f.replace(
        "fault_report.toml",
        "pattern = '^[ \\u3000A-Za-z0-9_./:\\-—－Ａ-Ｚａ-ｚ０-９＿．／：]{2,45}$'",
        "pattern = '^(unclosed'",
    );
    let line = f.line("fault_report.toml", "pattern = '^(unclosed'", 0);
    let p = f.load();
    assert_eq!(p.len(), 1, "{p:#?}");
    assert!(
        p[0].starts_with(&format!(
            "DIR/fault_report.toml:{line}: step `device`: bad pattern: "
        )),
        "{p:#?}"
    );
    assert!(p[0].contains("unclosed group"), "{p:#?}");
}

#[test]
fn duplicate_ids() {
    let mut f = Files::shipped();
    f.append(
        "engineer_job.toml",
        "\n[[step]]\nid = \"cause\"\nkind = \"text\"\ntext.zh-CN = \"原因\"\ntext.en = \"cause\"\nhint.zh-CN = \"原因\"\nhint.en = \"cause\"\nfinish = \"job:accept\"\n",
    );
    f.replace(
        "fault_report.toml",
        "id = \"before_today\"",
        "id = \"earlier_today\"",
    );
    let first_step = f.line("engineer_job.toml", "id = \"cause\"", 0);
    let second_step = f.line("engineer_job.toml", "id = \"cause\"", 1);
    let first_opt = f.line("fault_report.toml", "id = \"earlier_today\"", 0);
    let second_opt = f.line("fault_report.toml", "id = \"earlier_today\"", 1);
    assert_eq!(
        f.load(),
        [
            format!(
                "DIR/engineer_job.toml:{second_step}: duplicate step id `cause` (first at line {first_step})"
            ),
            format!(
                "DIR/fault_report.toml:{second_opt}: step `started`: duplicate option id `earlier_today` (first at line {first_opt})"
            ),
        ]
    );
}

#[test]
fn choice_id_over_64_bytes() {
    let long = "need_parts_because_the_vendor_must_ship_a_new_one";
    let mut f = Files::shipped();
    f.replace(
        "engineer_job.toml",
        "id = \"need_parts\"",
        &format!("id = \"{long}\""),
    );
    let line = f.line("engineer_job.toml", long, 0);
    // The step, the option and room for `@` + the longest ticket number.
    let bytes = "card:".len() + long.len() + 27;
    assert_eq!(bytes, 81);
    assert_eq!(
        f.load(),
        [format!(
            "DIR/engineer_job.toml:{line}: choice id `card:{long}` is {bytes} bytes with its ticket suffix — over the 64-byte limit of chat buttons"
        )]
    );
}

#[test]
fn unknown_placeholders() {
    let mut f = Files::shipped();
    f.replace("messages.toml", "工单号 {ticket}", "工单号 {tikcet}");
    f.replace("engineer_job.toml", "🛠 工单 {ticket}", "🛠 工单 {tickt}");
    let msg = f.line("messages.toml", "{tikcet}", 0);
    let card = f.line("engineer_job.toml", "{tickt}", 0);
    assert_eq!(
        f.load(),
        [
            format!(
                "DIR/engineer_job.toml:{card}: step `card`: text (zh-CN): unknown placeholder `{{tickt}}`"
            ),
            format!(
                "DIR/messages.toml:{msg}: message `ticket_received` (zh-CN): unknown placeholder `{{tikcet}}`"
            ),
        ]
    );
}

#[test]
fn missing_message_and_missing_flow() {
    let mut f = Files::shipped();
    f.replace(
        "messages.toml",
        "[message.job_taken]\nzh-CN = \"✔️ 工单 {ticket} 已由 {engineer} 接单，无需再处理。\"\nen = \"✔️ {engineer} has taken ticket {ticket}; nothing more to do.\"\n",
        "",
    );
    f.texts.remove("engineer_job.toml");
    assert_eq!(
        f.load(),
        [
            "DIR/engineer_job.toml: missing: the flow `engineer_job` is required".to_owned(),
            "DIR/messages.toml: missing message `job_taken` (add a [message.job_taken] table)"
                .to_owned(),
        ]
    );
}

#[test]
fn job_actions_need_their_answers_on_every_path() {
    let mut f = Files::shipped();
    f.replace(
        "engineer_job.toml",
        "answer = \"note\"",
        "answer = \"remark\"",
    );
    let line = f.line("engineer_job.toml", "id = \"progress_note\"", 0);
    assert_eq!(
        f.load(),
        [format!(
            "DIR/engineer_job.toml:{line}: step `progress_note` finishes a job action that needs the answer `note`, which is not collected on every path to it"
        )]
    );
}

#[test]
fn option_ids_the_desk_mapping_does_not_understand() {
    let mut f = Files::shipped();
    f.replace(
        "fault_report.toml",
        "id = \"can_wait\"",
        "id = \"whenever\"",
    );
    let line = f.line("fault_report.toml", "id = \"urgency\"", 0);
    assert_eq!(
        f.load(),
        [format!(
            "DIR/fault_report.toml:{line}: step `urgency`: option `whenever` is not understood for `urgency` (expected one of stopped, degraded, can_wait)"
        )]
    );
}

#[test]
fn steps_with_nowhere_to_go_and_ambiguous_words() {
    let mut f = Files::shipped();
    // The last step loses its finish.
    f.replace("engineer_job.toml", "finish = \"job:resolve\"", "");
    // "2" typed would mean two options.
    f.replace(
        "fault_report.toml",
        "aliases = [\"刚才\"",
        "aliases = [\"2\", \"刚才\"",
    );
    // One alias for two options.
    f.replace(
        "fault_report.toml",
        "aliases = [\"夹纸\"",
        "aliases = [\"缺粉\", \"夹纸\"",
    );
    let solution = f.line("engineer_job.toml", "id = \"solution\"", 0);
    let two = f.line("fault_report.toml", "aliases = [\"2\", \"刚才\"", 0);
    let toner = f.line("fault_report.toml", "aliases = [\"缺粉\", \"缺墨\"", 0);
    assert_eq!(
        f.load(),
        [
            format!(
                "DIR/engineer_job.toml:{solution}: step `solution` has nowhere to go: give it (or its options) `next` or `finish`"
            ),
            format!(
                "DIR/fault_report.toml:{toner}: step `printer_symptom` option `toner`: `缺粉` also names option `paper_jam`"
            ),
            format!(
                "DIR/fault_report.toml:{two}: step `started` option `just_now`: alias `2` is the number of option 2"
            ),
        ]
    );
}

#[test]
fn all_problems_at_once_in_file_and_line_order() {
    let mut f = Files::shipped();
    f.replace("fault_report.toml", "next = \"site\"", "next = \"sight\"");
    f.replace(
        "fault_report.toml",
        "kind = \"number\"",
        "kind = \"integer\"",
    );
    f.replace("messages.toml", "工单号 {ticket}", "工单号 {tikcet}");
    f.replace(
        "engineer_job.toml",
        "scope = \"ticket\"",
        "scope = \"user\"",
    );
    let p = f.load();
    let files: Vec<&str> = p
        .iter()
        .map(|s| s.split(':').next().unwrap_or(""))
        .collect();
    assert_eq!(
        files,
        [
            "DIR/engineer_job.toml",
            "DIR/fault_report.toml",
            "DIR/fault_report.toml",
            "DIR/messages.toml"
        ],
        "{p:#?}"
    );
    assert!(
        p[0].ends_with("unknown scope `user` (only `ticket`)"),
        "{p:#?}"
    );
    assert!(p[1].contains("unknown step `sight`"));
    assert!(p[2].contains("unknown kind `integer`"));
    assert!(p[3].contains("unknown placeholder `{tikcet}`"));
}

#[test]
fn a_directory_that_is_not_there() {
    let p = Flows::load_dir(std::path::Path::new("/nonexistent/bot-flows")).unwrap_err();
    assert_eq!(p.len(), 1);
    assert!(
        p[0].to_string()
            .starts_with("/nonexistent/bot-flows: cannot read the bot-flows directory")
    );
}

#[test]
fn the_embedded_copy_is_the_directory_and_loads() {
    let mut on_disk: Vec<String> = std::fs::read_dir(Flows::builtin_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let embedded: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
    assert_eq!(on_disk, embedded, "every bot-flows file is embedded");
    let flows = Flows::embedded().unwrap();
    assert!(flows.flow_ids().contains(&"fault_report"));
}
