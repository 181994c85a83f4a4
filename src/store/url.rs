//! Database URLs as they may be shown: the password (in the user info or a `password=`
//! query parameter) replaced by `***`, so a URL can go into logs, `config check` output
//! and error messages without giving the database away.

/// What a password is shown as.
const MASK: &str = "***";

/// `url` with its password masked: `postgres://u:S3cret@host/db` → `postgres://u:***@host/db`,
/// `postgres://host/db?password=S3cret` → `postgres://host/db?password=***`. A URL with no
/// password is returned as it is.
pub fn redact_url(url: &str) -> String {
    let (head, tail) = split_query(url);
    let mut out = String::with_capacity(url.len());
    match userinfo(head) {
        Some((start, end)) => {
            let info = &head[start..end];
            out.push_str(&head[..start]);
            match info.split_once(':') {
                // The password is everything after the first colon, up to the last `@`:
                // an unencoded `@` or `/` in it must not let part of it through.
                Some((user, _)) => {
                    out.push_str(user);
                    out.push(':');
                    out.push_str(MASK);
                }
                None => out.push_str(info),
            }
            out.push_str(&head[end..]);
        }
        None => out.push_str(head),
    }
    if let Some((sep, query)) = tail {
        out.push(sep);
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}={MASK}"),
                _ => p.to_owned(),
            })
            .collect();
        out.push_str(&params.join("&"));
    }
    out
}

/// `text` (a driver's message about `url`) with every form of the URL's password in it
/// masked, and the URL itself shown redacted.
pub fn scrub(text: &str, url: &str) -> String {
    let mut out = text.replace(url, &redact_url(url));
    for secret in passwords(url) {
        // A very short "password" would mask ordinary words; it is masked in the URL anyway.
        if secret.chars().count() >= 3 {
            out = out.replace(&secret, MASK);
        }
    }
    out
}

/// The passwords in a URL, as written and percent-decoded.
fn passwords(url: &str) -> Vec<String> {
    let (head, tail) = split_query(url);
    let mut found = Vec::new();
    if let Some((start, end)) = userinfo(head)
        && let Some((_, password)) = head[start..end].split_once(':')
    {
        found.push(password.to_owned());
    }
    if let Some((_, query)) = tail {
        for p in query.split('&') {
            if let Some((k, v)) = p.split_once('=')
                && k.eq_ignore_ascii_case("password")
            {
                found.push(v.to_owned());
            }
        }
    }
    let decoded: Vec<String> = found.iter().map(|p| percent_decode(p)).collect();
    found.extend(decoded);
    found.retain(|p| !p.is_empty());
    found
}

/// The URL before its query (or fragment), and the separator with what follows.
fn split_query(url: &str) -> (&str, Option<(char, &str)>) {
    match url.find(['?', '#']) {
        Some(i) => {
            let sep = if url[i..].starts_with('?') { '?' } else { '#' };
            (&url[..i], Some((sep, &url[i + 1..])))
        }
        None => (url, None),
    }
}

/// The byte range of the user info (`user:password`) of a URL without its query: after
/// `scheme://`, up to the last `@`.
fn userinfo(head: &str) -> Option<(usize, usize)> {
    let start = head.find("://")? + 3;
    let end = start + head[start..].rfind('@')?;
    Some((start, end))
}

/// `%XX` escapes decoded (invalid ones kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked_wherever_they_are_written() {
        for (url, shown) in [
            ("postgres://u:S3cret@host/db", "postgres://u:***@host/db"),
            (
                "postgresql://u:S3cret@host:5432/db?sslmode=require",
                "postgresql://u:***@host:5432/db?sslmode=require",
            ),
            ("postgres://u:p%40ss@host/db", "postgres://u:***@host/db"),
            // Unencoded `@` and `/` in the password: nothing of it is shown.
            ("postgres://u:a@b/c@host/db", "postgres://u:***@host/db"),
            (
                "postgres://host/db?user=u&password=S3cret&sslmode=disable",
                "postgres://host/db?user=u&password=***&sslmode=disable",
            ),
            ("postgres://u@host/db", "postgres://u@host/db"),
            ("postgres://host/db", "postgres://host/db"),
            ("sqlite://baoxiu.db", "sqlite://baoxiu.db"),
            (
                "sqlite:///var/lib/baoxiu/baoxiu.db",
                "sqlite:///var/lib/baoxiu/baoxiu.db",
            ),
            ("not a url", "not a url"),
            ("", ""),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

    #[test]
    fn driver_messages_lose_the_password_in_every_form() {
        let url = "postgres://u:p%40ssw0rd@host/db";
        let said = format!("cannot connect to {url}: password p@ssw0rd refused (p%40ssw0rd)");
        let shown = scrub(&said, url);
        assert!(
            !shown.contains("p@ssw0rd") && !shown.contains("p%40ssw0rd"),
            "{shown}"
        );
        assert!(shown.contains("postgres://u:***@host/db"), "{shown}");
    }
}
