//! qpipe's `CourseURL`: the normal form of a page URL that `urls` and `resources` are keyed by
//! (`shared/spec/legacy-pipeline.md` §4.5).

use std::sync::LazyLock;

use regex::Regex;

static DOUBLE_SLASH: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"([^:])//.*$").unwrap());
static PARAMETERS: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(undefined)?\?.*$").unwrap());
static ANCHOR: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"[#+;$\[].*$").unwrap());
static MODULE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"(answer|solution)[^/]*$").unwrap());
static COURSEWARE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"courseware/(?P<unit>[^/]+)?/?(?P<subunit>[^/]+)?/?(?P<seq>\d{1,2})?").unwrap()
});

/// Normalises a page URL as qpipe does: fragments, query strings and answer segments removed,
/// a trailing `/`, relative URLs prefixed with the course `domain`, and a courseware URL at
/// sub-unit level given its sequence position (`1` for relative URLs, `_` when unknown).
/// Text that is not a URL (`x_module`, empty) gives the empty string.
pub fn normalise(page: &str, domain: &str) -> String {
    let s = page.trim();
    if !(s.starts_with('/') || s.starts_with("http")) {
        return String::new();
    }
    let mut url = DOUBLE_SLASH.replace(s, "$1").into_owned();
    // The scheme's "//" must survive: the regex only removes a "//" that follows a non-colon.
    url = PARAMETERS.replace(&url, "").into_owned();
    url = ANCHOR.replace(&url, "").into_owned();
    url = MODULE.replace(&url, "").into_owned();
    if !url.ends_with('/') {
        url.push('/');
    }
    let relative = url.starts_with('/');
    if relative {
        url = format!("{}{}", domain.trim_end_matches('/'), url);
    }
    if url.contains("courseware")
        && let Some(c) = COURSEWARE.captures(&url)
        && c.name("unit").is_some()
        && c.name("subunit").is_some()
        && c.name("seq").is_none()
    {
        let end = c.get(0).map(|m| m.end()).unwrap_or(url.len());
        let mut base = url[..end].to_string();
        if !base.ends_with('/') {
            base.push('/');
        }
        base.push_str(if relative { "1/" } else { "_/" });
        return base;
    }
    url
}

/// The `scheme://host` part of an absolute URL.
pub fn domain_of(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return None;
    }
    let host = parsed.host_str()?;
    Some(match parsed.port() {
        Some(p) => format!("{}://{}:{}", parsed.scheme(), host, p),
        None => format!("{}://{}", parsed.scheme(), host),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "https://class.stanford.edu";

    #[test]
    fn qpipe_normal_forms() {
        assert_eq!(normalise("x_module", D), "");
        assert_eq!(normalise("", D), "");
        assert_eq!(
            normalise("https://class.stanford.edu/courses/A/B/C/info?x=1#top", D),
            "https://class.stanford.edu/courses/A/B/C/info/"
        );
        assert_eq!(
            normalise("/dashboard", D),
            "https://class.stanford.edu/dashboard/"
        );
        assert_eq!(
            normalise(
                "https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/",
                D
            ),
            "https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/_/"
        );
        assert_eq!(
            normalise("/courses/A/B/C/courseware/u1/s1/", D),
            "https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/1/"
        );
        assert_eq!(
            normalise(
                "https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/3/",
                D
            ),
            "https://class.stanford.edu/courses/A/B/C/courseware/u1/s1/3/"
        );
        assert_eq!(
            normalise("https://x.org/courses/A//B", D),
            "https://x.org/courses/A/"
        );
    }

    #[test]
    fn domains() {
        assert_eq!(
            domain_of("https://courses.example.org/courses/x").as_deref(),
            Some("https://courses.example.org")
        );
        assert_eq!(domain_of("/courses/x"), None);
    }
}
