//! The door's settings, as the configuration file gives them.

/// The doors' settings are sections of the configuration file (secrets stay in the
/// variables the sections name), read as `serve` and `config check` read them.
#[test]
fn the_doors_settings_come_from_the_configuration_file() {
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("baoxiu.toml");
    std::fs::write(
        &file,
        r#"
[telegram]
token_env = "BX_TG_TOKEN"
api_url = "http://127.0.0.1:8081"
flood_limits = false
group_chats = { printer = -1001234 }

[discord]
application_id = 42
group_channels = { network = 77 }
"#,
    )
    .expect("write");
    let (config, _) = baoxiu::config::Config::load(Some(&file)).expect("loads");
    let env = |vars: &'static [(&'static str, &'static str)]| {
        move |k: &str| {
            vars.iter()
                .find(|(name, _)| *name == k)
                .map(|(_, v)| (*v).to_owned())
        }
    };
    // Off until the variable the file names holds a token (not the default one).
    assert!(matches!(
        config.telegram.door(env(&[("TELEGRAM_BOT_TOKEN", "1:A")])),
        Ok(None)
    ));
    let c = config
        .telegram
        .door(env(&[("BX_TG_TOKEN", "123:ABC")]))
        .expect("valid")
        .expect("on");
    assert_eq!(
        c.api_url.map(|u| u.to_string()),
        Some("http://127.0.0.1:8081/".into())
    );
    assert_eq!(c.limits, None);
    assert_eq!(c.group_chats.get("printer"), Some(&-1001234));
    let d = config
        .discord
        .door(env(&[("DISCORD_BOT_TOKEN", "abc.def")]))
        .expect("valid")
        .expect("on");
    assert_eq!(
        (d.application_id, d.group_channels.get("network")),
        (42, Some(&77))
    );

    // A mistake is refused with the file, the key and the reason.
    std::fs::write(&file, "[telegram]\nflood_limits = \"fast\"\n").expect("write");
    let e = baoxiu::config::Config::load(Some(&file)).expect_err("refused");
    assert!(e.to_string().contains("flood_limits"), "{e}");
}
